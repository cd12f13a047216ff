//! The background closer that keeps `ttlkv_free` from blocking.
//!
//! Closing the last handle on an environment joins its expiry thread and, in periodic mode,
//! flushes: milliseconds, sometimes more. A garbage-collected runtime frees handles from its
//! destructors (the BEAM on a normal scheduler, Python at any point), where that wait is not
//! acceptable, so an open handle is handed to one long-lived thread that closes it.

use std::sync::mpsc::{channel, Sender};

use parking_lot::Mutex;

use crate::Store;

/// The closer's queue, and the process that started it (a forked child starts its own: the
/// parent's thread does not exist there).
static CLOSER: Mutex<Option<(u32, Sender<Store>)>> = Mutex::new(None);

/// Releases `store`: at once when it is closed, else on the closer thread.
pub(crate) fn release(store: Store) {
    if store.is_closed() {
        return; // dropping a closed handle frees memory only
    }
    let pid = std::process::id();
    let mut closer = CLOSER.lock();
    if !matches!(&*closer, Some((owner, _)) if *owner == pid) {
        let (tx, rx) = channel::<Store>();
        let spawned = std::thread::Builder::new()
            .name("ttlkv-closer".into())
            .spawn(move || {
                for store in rx {
                    // A panic here must not kill the thread: later frees still need it.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        store.close();
                        drop(store);
                    }));
                }
            });
        *closer = spawned.ok().map(|_| (pid, tx));
    }
    let store = match &*closer {
        Some((_, tx)) => match tx.send(store) {
            Ok(()) => return,
            Err(e) => e.0,
        },
        None => store,
    };
    drop(closer);
    // No thread could be started: close here rather than leak the environment.
    store.close();
}
