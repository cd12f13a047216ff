//! The background closer that keeps `ttlkv_free` from blocking.
//!
//! Closing the last handle on an environment joins its expiry thread and, in periodic mode,
//! flushes: milliseconds, sometimes more. A garbage-collected runtime frees handles from its
//! destructors (the BEAM on a normal scheduler, Python at any point), where that wait is not
//! acceptable, so an open handle is handed to one long-lived thread that closes it.

use std::sync::mpsc::{channel, Sender};

use parking_lot::Mutex;

use crate::fork::PerProcess;
use crate::Store;

/// The closer's queue. A forked child gets a queue and a thread of its own (the parent's
/// thread does not exist there, and the parent's lock may be held forever).
static CLOSER: PerProcess<Mutex<Option<Sender<Store>>>> = PerProcess::new();

/// Releases `store`: at once when it is closed, else on the closer thread.
pub(crate) fn release(store: Store) {
    if store.is_closed() {
        return; // dropping a closed handle frees memory only
    }
    let mut closer = CLOSER.get(|| Mutex::new(None)).lock();
    if closer.is_none() {
        let (tx, rx) = channel::<Store>();
        let started = crate::fork::spawn("ttlkv-closer", move || {
            for store in rx {
                // A panic here must not kill the thread: later frees still need it.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    store.close();
                    drop(store);
                }));
            }
        });
        // The thread runs detached for the life of the process.
        *closer = started.ok().map(|_| tx);
    }
    let store = match &*closer {
        Some(tx) => match tx.send(store) {
            Ok(()) => return,
            Err(e) => e.0,
        },
        None => store,
    };
    drop(closer);
    // No thread could be started: close here rather than leak the environment.
    store.close();
}
