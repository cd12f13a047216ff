//! The environments open in this process: one per directory identity, opened and closed under
//! that directory's own lock, and what a forked child does with the parent's.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::commit::Committer;
use super::{expiry, Core, Counters};
use crate::codec::Settings;
use crate::env::{Env, EnvOptions, OpenGuard};
use crate::error::Result;
use crate::options::{Durability, Options};

/// An open environment: the core, its expiry thread, and its registry slot.
pub(crate) struct Shared {
    pub(crate) core: Arc<Core>,
    thread: Mutex<Option<crate::fork::Thread>>,
    slot: Arc<Slot>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.core.shutdown.store(true, Ordering::SeqCst);
        let _ = self.core.wake_tx.try_send(());
        if let Some(t) = self.thread.lock().take() {
            t.join();
        }
        // In every mode: a clean close leaves a flush mark, so the next boot needs no check.
        let _ = self.core.env.flush();
        let _ = self.core.env.close_mark();
    }
}

/// A directory's identity: its device and inode, whatever path names it. LMDB must not have two
/// environments on one set of files in a process (closing the second drops the process's locks
/// on `lock.mdb`, and the next process to open would reinitialise it under the first).
type Identity = (u64, u64);

/// The one environment of a directory in this process. Opening and closing it happen under its
/// lock, which is the directory's alone: no lock shared by all stores is held across an open,
/// a join or an fsync.
#[derive(Default)]
pub(crate) struct Slot {
    shared: Mutex<Weak<Shared>>,
}

/// Environments open in this process, by directory identity. A forked child starts with an
/// empty one (see fork.rs): the parent's environments are not its to use.
static REGISTRY: crate::fork::PerProcess<Mutex<std::collections::HashMap<Identity, Arc<Slot>>>> =
    crate::fork::PerProcess::new();

fn registry() -> &'static Mutex<std::collections::HashMap<Identity, Arc<Slot>>> {
    REGISTRY.get(|| Mutex::new(std::collections::HashMap::new()))
}

pub(crate) fn open_shared(path: &Path, identity: Identity, opts: &Options) -> Result<Arc<Shared>> {
    let slot = {
        let mut reg = registry().lock();
        // A slot only the registry holds has no environment and no opener: forget it.
        reg.retain(|_, s| Arc::strong_count(s) > 1);
        reg.entry(identity).or_default().clone()
    };
    let mut current = slot.shared.lock();
    if let Some(shared) = current.upgrade() {
        return Ok(shared);
    }
    let env_opts = EnvOptions {
        map_size: opts.map_size,
        max_map_size: opts.max_map_size,
        max_readers: opts.max_readers,
        no_sync: matches!(opts.durability, Durability::Periodic { .. }),
        write_map: opts.write_map,
        allow_shared_dir: opts.allow_shared_dir,
        boot_id: opts.boot_id.clone().or_else(crate::env::boot_id),
        pin_flushes: opts.crash_safe,
        commit_delay: opts.commit_delay,
    };
    // Opens of this directory, in every process, check it one at a time (held to the end).
    let _open = OpenGuard::take(path, opts.allow_shared_dir)?;
    // After an OS crash or power loss, commits that were not flushed may have reached the
    // disk in any order: return to the last flush when the mark allows it (env/mark.rs), and
    // check the whole store once before anyone uses it.
    let mut rolled_back = crate::env::roll_back_to_flush(path, env_opts.boot_id.as_deref())?;
    let (mut core, mut wake_rx) = new_core(Env::open(path, &env_opts)?, opts);
    let suspect = rolled_back.is_some() || core.env.may_hold_reordered_writes()?;
    if suspect {
        core.counters.verified_at_open.store(1, Ordering::Relaxed);
        let mut report = core.verify()?;
        if !report.is_ok() {
            if let Some(undo) = rolled_back.take() {
                // The flushed snapshot is damaged (its pin was lost before the crash, or a
                // process in sync mode wrote over it): look at the store as the crash left it.
                drop(core);
                undo.undo()?;
                (core, wake_rx) = new_core(Env::open(path, &env_opts)?, opts);
                core.counters.verified_at_open.store(1, Ordering::Relaxed);
                report = core.verify()?;
            }
        }
        if !report.is_ok() {
            return Err(crate::error::Error::new(
                crate::error::ErrorKind::Corrupted,
                format!(
                    "{} is damaged (checked at open after an unclean shutdown of the machine): {}",
                    path.display(),
                    report.problems.join("; ")
                ),
            ));
        }
        core.counters
            .rolled_back_at_open
            .store(u64::from(rolled_back.is_some()), Ordering::Relaxed);
    }
    if suspect {
        // Verified: mark it, so that the next open in this boot does not check again.
        core.env.flush()?;
    } else if core.env.pins() {
        core.env.pin_at_open()?;
    }
    let thread = expiry::spawn(core.clone(), wake_rx, path)?;
    let shared = Arc::new(Shared {
        core,
        thread: Mutex::new(Some(thread)),
        slot: slot.clone(),
    });
    *current = Arc::downgrade(&shared);
    Ok(shared)
}

/// The core of a freshly opened environment, and the receiving end of its expiry thread's
/// wake-ups (the thread is started once the open has checked the store).
fn new_core(env: Env, opts: &Options) -> (Arc<Core>, Receiver<()>) {
    let reclaimed = env.reader_check().unwrap_or(0) as u64;
    let (wake_tx, wake_rx): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(1);
    let now = opts.clock.now_ms();
    let origin = u64::from_be_bytes(env.meta_info.store_id[..8].try_into().expect("16 bytes"));
    let core = Arc::new(Core {
        env,
        origin,
        hlc: AtomicU64::new(0),
        clock: opts.clock.clone(),
        durability: opts.durability,
        expiry_batch: opts.expiry_batch,
        expiry_max_sleep: opts.expiry_max_sleep,
        expiry_batch_now: std::sync::atomic::AtomicUsize::new(opts.expiry_batch),
        counters: Counters::default(),
        reset_from: parking_lot::Mutex::new(None),
        committer: Committer::new(),
        settings_cache: Mutex::new((0, Settings::default())),
        high_water: AtomicU64::new(now),
        next_wake: AtomicU64::new(0),
        wake_tx,
        shutdown: AtomicBool::new(false),
        inject_panic: AtomicBool::new(false),
    });
    core.counters
        .readers_reclaimed
        .store(reclaimed, Ordering::Relaxed);
    (core, wake_rx)
}

/// Drops a handle's reference; the last one closes the environment, under the directory's
/// slot lock so that no open of the same directory can start a second environment meanwhile.
pub(crate) fn release(shared: Arc<Shared>, generation: u64) {
    if generation != crate::fork::generation() {
        // Inherited across fork(): the parent's environment, locks and threads are not ours to
        // close (closing would clear the parent's reader slots). Leak this reference.
        std::mem::forget(shared);
        return;
    }
    let slot = shared.slot.clone();
    let _guard = slot.shared.lock();
    drop(shared);
}
