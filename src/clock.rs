//! Wall-clock time in milliseconds since the Unix epoch, and a manual clock for tests.
//!
//! Deadlines are absolute wall-clock times (as in Pow), so entries keep their deadlines across
//! restarts and across processes. A manual clock lets tests move time without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The source of "now" for a store: the system's wall clock, or a [`ManualClock`].
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system's wall clock (`CLOCK_REALTIME`).
    #[default]
    System,
    /// A clock that moves only when told to.
    Manual(ManualClock),
    /// The system's wall clock shifted by this many milliseconds: a machine whose clock is
    /// off (tests of clock skew between replicating nodes).
    SystemOffset(i64),
}

impl Clock {
    /// Milliseconds since the Unix epoch.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => system_now_ms(),
            Clock::Manual(m) => m.now_ms(),
            Clock::SystemOffset(d) => system_now_ms().saturating_add_signed(*d),
        }
    }
}

#[inline]
pub(crate) fn system_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A clock for tests: it stays where it is set. Clones share the same time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `now_ms` milliseconds since the Unix epoch.
    pub fn new(now_ms: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(now_ms)))
    }

    /// The current reading.
    pub fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Sets the reading (it may go backwards, as a wall clock can).
    pub fn set(&self, now_ms: u64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the reading forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}
