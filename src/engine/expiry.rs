//! The expiry thread: one per open environment. It sleeps until the earliest deadline in the
//! index, until a writer sets an earlier one, or until shutdown; then removes due entries in
//! bounded batches. Its sleep is capped (`Options::expiry_max_sleep`, 1 s) so that deadlines
//! written by other processes and steps of the wall clock are noticed within about a second. In `periodic` mode it also flushes.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::Core;
use crate::error::{Error, Result};
use crate::fork::Thread;
use crate::options::Durability;

/// How often slots of dead reader processes are reclaimed.
const READER_CHECK_EVERY: Duration = Duration::from_secs(10);
/// A process whose pool of read transactions went unused this long gives their slots back.
const IDLE_READERS_AFTER: Duration = Duration::from_millis(500);
/// How often, in `sync` mode, the flush mark follows the commits (see `Env::flush`): after
/// an OS crash a store is verified at open unless its mark covers its last commit.
const MARK_EVERY: Duration = Duration::from_secs(1);
/// Pause after a failed iteration, so a persistent failure does not spin.
const BACKOFF: Duration = Duration::from_millis(100);

pub(crate) fn spawn(core: Arc<Core>, wake: Receiver<()>, path: &Path) -> Result<Thread> {
    let name = format!(
        "ttlkv-expiry {}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    // Not a std::thread: a forked child must be able to start one (see fork::spawn).
    crate::fork::spawn(&name, move || run(&core, &wake))
        .map_err(|e| Error::io("starting the expiry thread", &e))
}

fn run(core: &Core, wake: &Receiver<()>) {
    let flush_every = match core.durability {
        Durability::Periodic { sync_interval } => Some(sync_interval),
        Durability::Sync => None,
    };
    let mut next_flush = flush_every.map(|i| Instant::now() + i);
    let mut next_reader_check = Instant::now() + READER_CHECK_EVERY;
    let mut next_idle_check = Instant::now() + IDLE_READERS_AFTER;
    let mut next_mark = Instant::now() + MARK_EVERY;
    let mut marked = core.env.last_txnid().unwrap_or(0);
    while !core.shutdown.load(Ordering::SeqCst) {
        let earliest = match catch_unwind(AssertUnwindSafe(|| iteration(core))) {
            Ok(Ok(earliest)) => earliest,
            Ok(Err(e)) => {
                core.counters.expiry_errors.fetch_add(1, Ordering::Relaxed);
                *core.counters.last_error.lock() = Some(e.to_string());
                std::thread::sleep(BACKOFF);
                None
            }
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                core.counters.expiry_panics.fetch_add(1, Ordering::Relaxed);
                *core.counters.last_error.lock() = Some(format!("expiry iteration panicked: {msg}"));
                std::thread::sleep(BACKOFF);
                None
            }
        };
        let now_ms = core.now_ms();
        // Capped (1 s unless a test says otherwise): how late a deadline written by another
        // process, or a step of the wall clock, may be noticed.
        let mut sleep = core.expiry_max_sleep;
        if let Some(d) = earliest {
            sleep = sleep.min(Duration::from_millis(d.saturating_sub(now_ms)));
        }
        if let Some(at) = next_flush {
            sleep = sleep.min(at.saturating_duration_since(Instant::now()));
        }
        if !sleep.is_zero() {
            let _ = wake.recv_timeout(sleep);
        }
        if let (Some(at), Some(every)) = (next_flush, flush_every) {
            if Instant::now() >= at || core.env.flush_due() {
                if let Err(e) = core.env.flush() {
                    *core.counters.last_error.lock() = Some(e.to_string());
                }
                next_flush = Some(Instant::now() + every);
            }
        }
        if flush_every.is_none() && Instant::now() >= next_mark {
            // Sync commits are on disk already; the flush is cheap and records that (and puts
            // the pages of other processes' periodic commits on disk too).
            if let Ok(last) = core.env.last_txnid() {
                if last != marked && core.env.flush().is_ok() {
                    marked = last;
                }
            }
            next_mark = Instant::now() + MARK_EVERY;
        }
        if Instant::now() >= next_idle_check {
            // An idle process gives its reader slots back: the table is every process's.
            core.env.release_idle_readers();
            next_idle_check = Instant::now() + IDLE_READERS_AFTER;
        }
        if Instant::now() >= next_reader_check {
            if let Ok(n) = core.env.reader_check() {
                core.counters
                    .readers_reclaimed
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            next_reader_check = Instant::now() + READER_CHECK_EVERY;
        }
    }
}

/// Removes everything due, batch by batch; returns the earliest deadline left.
fn iteration(core: &Core) -> Result<Option<u64>> {
    if core.inject_panic.swap(false, Ordering::SeqCst) {
        panic!("injected by a test");
    }
    // From here on, any writer that commits an earlier deadline notifies us (see note_deadline),
    // so no wake-up is lost between our look at the index and our sleep.
    core.next_wake.store(u64::MAX, Ordering::SeqCst);
    loop {
        if core.shutdown.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let (_, more) = core.remove_due_batch(core.now_ms())?;
        if !more {
            break;
        }
    }
    let earliest = core.earliest_deadline()?;
    if let Some(d) = earliest {
        core.next_wake.fetch_min(d, Ordering::SeqCst);
    }
    Ok(earliest)
}
