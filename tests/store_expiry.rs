//! Expiry: lazy (never returned after the deadline), real-time removal by the thread,
//! removal at open of what expired while closed, panics survived, clock steps.

mod common;

use std::time::Duration;

use common::*;
use ttlkv::{Clock, ManualClock, Options, Store};

#[test]
fn an_expired_entry_is_invisible_before_the_thread_removes_it() {
    let (_d, s, clock) = manual_store(10_000);
    s.put(b"ns", b"k", b"v", Duration::from_millis(100)).unwrap();
    clock.set(10_099);
    assert_eq!(s.get(b"ns", b"k").unwrap().as_deref(), Some(&b"v"[..]));
    clock.set(10_100); // exactly at the deadline: gone
    assert_eq!(s.get(b"ns", b"k").unwrap(), None);
    assert_eq!(s.deadline(b"ns", b"k").unwrap(), None);
    assert!(s.keys(b"ns").unwrap().is_empty());
    assert!(s.entries(b"ns").unwrap().is_empty());
    // Stored until a pass removes it: the expiry thread's (which may run at any moment) or
    // purge_expired's. Exactly one of them does.
    let purged = s.purge_expired().unwrap();
    assert!(purged <= 1);
    assert!(wait_until(Duration::from_secs(5), || s
        .stats()
        .unwrap()
        .expired_removed
        == 1));
    assert_eq!(s.verify().unwrap().entries, 0);
}

#[test]
fn the_expiry_thread_removes_due_entries_in_real_time() {
    // With the thread's sleep capped at an hour instead of a second, only a wake-up at the
    // earliest deadline can remove the entries within the wait: no wall-clock bound needed.
    let (_d, s) = temp_store(Options::default().expiry_max_sleep(Duration::from_secs(3600)));
    let keys: Vec<[u8; 4]> = (0..200u32).map(|i| i.to_be_bytes()).collect();
    let mut recs: Vec<ttlkv::RecordMs<'_>> =
        keys.iter().map(|k| (&b"ns"[..], &k[..], &b"v"[..], 50)).collect();
    recs.push((b"ns", b"keep", b"v", 60_000));
    s.put_many_ms(&recs).unwrap();
    assert!(wait_until(Duration::from_secs(60), || s
        .stats()
        .unwrap()
        .expired_removed
        == 200));
    let r = s.verify().unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!(r.entries, 1);
    assert_eq!(s.keys(b"ns").unwrap(), vec![b"keep".to_vec()]);
}

#[test]
fn an_earlier_deadline_wakes_a_thread_sleeping_for_a_later_one() {
    // The cap is an hour: only the writer's wake-up can get "soon" removed within the wait.
    let (_d, s) = temp_store(Options::default().expiry_max_sleep(Duration::from_secs(3600)));
    s.put(b"ns", b"late", b"v", Duration::from_secs(3600)).unwrap();
    // The thread now sleeps for "late" (or is about to: either way it sees "soon" in time).
    std::thread::sleep(Duration::from_millis(50));
    s.put(b"ns", b"soon", b"v", Duration::from_millis(30)).unwrap();
    assert!(wait_until(Duration::from_secs(60), || s
        .stats()
        .unwrap()
        .expired_removed
        == 1));
}

#[test]
fn entries_that_expired_while_closed_are_removed_at_open_in_every_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let clock = ManualClock::new(1_000_000);
    let opts = || {
        Options::default()
            .clock(Clock::Manual(clock.clone()))
            .expiry_batch(1000)
    };
    {
        let s = Store::open(&path, opts()).unwrap();
        for ns in [&b"cache"[..], b"credentials", b"persistent_session"] {
            for i in 0..2_500u32 {
                s.put(ns, &i.to_be_bytes(), b"v", Duration::from_millis(1_000))
                    .unwrap();
            }
            s.put(ns, b"live", b"v", Duration::from_secs(3600)).unwrap();
        }
    }
    clock.advance(5_000); // "the node was down"
    let s = Store::open(&path, opts()).unwrap();
    // Never readable, even before removal.
    assert_eq!(s.get(b"credentials", &7u32.to_be_bytes()).unwrap(), None);
    assert!(wait_until(Duration::from_secs(10), || s
        .stats()
        .unwrap()
        .expired_removed
        == 7_500));
    // Removed in bounded batches (1,000 per transaction).
    assert!(s.stats().unwrap().expiry_batches >= 8);
    let r = s.verify().unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!(r.entries, 3);
    for ns in [&b"cache"[..], b"credentials", b"persistent_session"] {
        assert_eq!(s.keys(ns).unwrap(), vec![b"live".to_vec()]);
    }
}

#[test]
fn opening_a_store_with_nothing_due_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    {
        let s = Store::open(&path, Options::default()).unwrap();
        let keys: Vec<[u8; 8]> = (0..50_000u64).map(|i| i.to_be_bytes()).collect();
        for chunk in keys.chunks(10_000) {
            let recs: Vec<_> = chunk
                .iter()
                .map(|k| (&b"ns"[..], &k[..], &[0u8; 64][..], 3_600_000u64))
                .collect();
            s.put_many_ms(&recs).unwrap();
        }
    }
    // That open is O(1) in time and memory is the benchmark's to show (benches/core.rs);
    // here: with nothing due, opening a store of 50,000 entries removes and writes nothing.
    let s = Store::open(&path, Options::default()).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let st = s.stats().unwrap();
    assert_eq!(st.expired_removed, 0);
    assert_eq!(st.expiry_batches, 0);
}

#[test]
fn the_expiry_thread_survives_a_panic_and_keeps_working() {
    let (_d, s) = temp_store(Options::default());
    s.debug_inject_expiry_panic().unwrap();
    assert!(wait_until(Duration::from_secs(3), || s
        .stats()
        .unwrap()
        .expiry_panics
        == 1));
    let st = s.stats().unwrap();
    assert!(st.last_expiry_error.unwrap().contains("panicked"));
    s.put(b"ns", b"k", b"v", Duration::from_millis(20)).unwrap();
    assert!(wait_until(Duration::from_secs(3), || s
        .stats()
        .unwrap()
        .expired_removed
        == 1));
}

#[test]
fn clock_steps_neither_resurrect_expired_keys_nor_stall_expiry() {
    let (_d, s, clock) = manual_store(10_000_000);
    s.put(b"ns", b"k", b"v", Duration::from_millis(1_000)).unwrap();
    s.put(b"ns", b"unremoved", b"v", Duration::from_millis(2_000))
        .unwrap();
    s.put(b"ns", b"later", b"v", Duration::from_secs(7200)).unwrap();
    clock.advance(3_600_000); // forward an hour: k and unremoved expire
    assert_eq!(s.get(b"ns", b"k").unwrap(), None);
    assert_eq!(s.get(b"ns", b"unremoved").unwrap(), None);
    // The thread notices within its capped sleep (about a second), not at the old deadline.
    assert!(wait_until(Duration::from_secs(5), || s
        .stats()
        .unwrap()
        .expired_removed
        == 2));
    // Back two hours. Put an expired-but-not-yet-removed entry in place first: the index
    // says it is due, the clock now says it is not.
    s.put(b"ns", b"zombie", b"v", Duration::from_millis(10)).unwrap();
    clock.advance(10);
    assert_eq!(s.get(b"ns", b"zombie").unwrap(), None);
    clock.set(10_000_000 - 3_600_000);
    for k in [&b"k"[..], b"unremoved", b"zombie"] {
        assert_eq!(
            s.get(b"ns", k).unwrap(),
            None,
            "{:?} came back",
            String::from_utf8_lossy(k)
        );
    }
    assert!(s.keys(b"ns").unwrap().iter().all(|k| k == b"later"));
    assert_eq!(s.get(b"ns", b"later").unwrap().as_deref(), Some(&b"v"[..]));
    // While the wall clock is behind, the store's time stands still at the latest time it saw:
    // TTLs count from there, and expiry goes on.
    s.put(b"ns", b"new", b"v", Duration::from_millis(500)).unwrap();
    assert_eq!(
        s.deadline(b"ns", b"new").unwrap(),
        Some(10_000_000 + 3_600_000 + 10 + 500)
    );
    assert!(wait_until(Duration::from_secs(5), || s
        .stats()
        .unwrap()
        .expired_removed
        == 3));
    clock.set(10_000_000 + 3_600_000 + 10 + 500);
    assert_eq!(s.get(b"ns", b"new").unwrap(), None);
    assert!(wait_until(Duration::from_secs(5), || s
        .stats()
        .unwrap()
        .expired_removed
        == 4));
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn periodic_durability_flushes_and_round_trips() {
    let opts = Options::default().durability(ttlkv::Durability::Periodic {
        sync_interval: Duration::from_millis(20),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    {
        let s = Store::open(&path, opts.clone()).unwrap();
        s.put(b"ns", b"k", b"v", MIN).unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    let s = Store::open(&path, opts).unwrap();
    assert_eq!(s.get(b"ns", b"k").unwrap().as_deref(), Some(&b"v"[..]));
}
