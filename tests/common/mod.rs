//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use ttlkv::{Clock, ManualClock, Options, Store};

/// A store in a fresh temporary directory (kept alive by the returned guard).
pub fn temp_store(opts: Options) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store"), opts).unwrap();
    (dir, store)
}

/// A store whose clock moves only when the test moves it.
pub fn manual_store(start_ms: u64) -> (tempfile::TempDir, Store, ManualClock) {
    let clock = ManualClock::new(start_ms);
    let (dir, store) = temp_store(Options::default().clock(Clock::Manual(clock.clone())));
    (dir, store, clock)
}

/// Polls `cond` every few milliseconds until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

pub const MIN: Duration = Duration::from_secs(60);
