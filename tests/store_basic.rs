//! Round trips, overwrite, delete, keys, namespaces, TTL rules, persistence.

mod common;

use std::time::Duration;

use common::*;
use ttlkv::{ErrorKind, Options, Record, Store, DEADLINE_NEVER, TTL_NEVER};

#[test]
fn put_then_get_returns_the_value_and_missing_keys_are_none() {
    let (_d, s) = temp_store(Options::default());
    assert_eq!(s.get(b"cache", b"k").unwrap(), None);
    s.put(b"cache", b"k", b"v", MIN).unwrap();
    assert_eq!(s.get(b"cache", b"k").unwrap().as_deref(), Some(&b"v"[..]));
    // Empty keys and empty values are ordinary data.
    s.put(b"cache", b"", b"", MIN).unwrap();
    assert_eq!(s.get(b"cache", b"").unwrap().as_deref(), Some(&b""[..]));
    // Arbitrary bytes, including NUL and 0xff.
    let key = [0u8, 255, 1, b':', 0];
    let value: Vec<u8> = (0..=255u8).collect();
    s.put(b"cache", &key, &value, MIN).unwrap();
    assert_eq!(s.get(b"cache", &key).unwrap(), Some(value));
}

#[test]
fn overwrite_replaces_the_value_and_the_deadline() {
    let (_d, s, clock) = manual_store(1_000_000);
    s.put(b"ns", b"k", b"old", Duration::from_millis(100)).unwrap();
    assert_eq!(s.deadline(b"ns", b"k").unwrap(), Some(1_000_100));
    s.put(b"ns", b"k", b"new", Duration::from_millis(5_000)).unwrap();
    assert_eq!(s.get(b"ns", b"k").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(s.deadline(b"ns", b"k").unwrap(), Some(1_005_000));
    // Past the old deadline the entry lives on, and the old index record is gone.
    clock.advance(200);
    assert_eq!(s.get(b"ns", b"k").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(s.purge_expired().unwrap(), 0);
    let r = s.verify().unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!(r.index_records, 1);
    // A shorter TTL shortens the life too.
    s.put(b"ns", b"k", b"short", Duration::from_millis(10)).unwrap();
    clock.advance(10);
    assert_eq!(s.get(b"ns", b"k").unwrap(), None);
}

#[test]
fn delete_reports_whether_a_live_entry_existed() {
    let (_d, s, clock) = manual_store(5_000);
    assert!(!s.delete(b"ns", b"k").unwrap());
    s.put(b"ns", b"k", b"v", MIN).unwrap();
    assert!(s.delete(b"ns", b"k").unwrap());
    assert_eq!(s.get(b"ns", b"k").unwrap(), None);
    assert!(!s.delete(b"ns", b"k").unwrap());
    // An expired entry is not live: deleting it removes it but reports false.
    s.put(b"ns", b"e", b"v", Duration::from_millis(5)).unwrap();
    clock.advance(5);
    assert!(!s.delete(b"ns", b"e").unwrap());
    let r = s.verify().unwrap();
    assert_eq!((r.entries, r.index_records), (0, 0), "{r:?}");
}

#[test]
fn a_deleted_key_put_again_is_not_hit_by_its_old_deadline() {
    let (_d, s, clock) = manual_store(0);
    s.put(b"ns", b"k", b"v1", Duration::from_millis(10)).unwrap();
    s.delete(b"ns", b"k").unwrap();
    s.put(b"ns", b"k", b"v2", Duration::from_millis(1_000)).unwrap();
    clock.advance(20);
    assert_eq!(s.purge_expired().unwrap(), 0);
    assert_eq!(s.get(b"ns", b"k").unwrap().as_deref(), Some(&b"v2"[..]));
}

#[test]
fn keys_lists_live_keys_of_one_namespace_in_order_without_prefix() {
    let (_d, s, clock) = manual_store(0);
    for k in [&b"b"[..], b"a", b"c"] {
        s.put(b"users", k, b"v", MIN).unwrap();
    }
    s.put(b"users", b"dying", b"v", Duration::from_millis(1)).unwrap();
    s.put(b"user", b"sx", b"v", MIN).unwrap(); // a namespace that is a prefix of another
    s.put(b"usersz", b"x", b"v", MIN).unwrap();
    clock.advance(1);
    assert_eq!(
        s.keys(b"users").unwrap(),
        vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
    assert_eq!(s.keys(b"user").unwrap(), vec![b"sx".to_vec()]);
    assert_eq!(s.keys(b"nobody").unwrap(), Vec::<Vec<u8>>::new());
    let entries = s.entries(b"usersz").unwrap();
    assert_eq!(entries, vec![(b"x".to_vec(), b"v".to_vec())]);
}

#[test]
fn namespaces_never_collide_whatever_bytes_they_hold() {
    let (_d, s) = temp_store(Options::default());
    s.put(b"a:b", b"c", b"first", MIN).unwrap();
    s.put(b"a", b"b:c", b"second", MIN).unwrap();
    s.put(b"a", b":bc", b"third", MIN).unwrap();
    assert_eq!(s.get(b"a:b", b"c").unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(s.get(b"a", b"b:c").unwrap().as_deref(), Some(&b"second"[..]));
    assert_eq!(s.keys(b"a").unwrap(), vec![b":bc".to_vec(), b"b:c".to_vec()]);
    // One key in two namespaces: two independent entries with their own deadlines.
    s.put(b"one", b"k", b"1", Duration::from_millis(50)).unwrap();
    s.put(b"two", b"k", b"2", MIN).unwrap();
    assert!(wait_until(Duration::from_secs(5), || s
        .get(b"one", b"k")
        .unwrap()
        .is_none()));
    assert_eq!(s.get(b"two", b"k").unwrap().as_deref(), Some(&b"2"[..]));
}

#[test]
fn ttl_zero_is_an_error_and_never_expiring_entries_exist() {
    let (_d, s, clock) = manual_store(0);
    let e = s.put(b"ns", b"k", b"v", Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TtlInvalid);
    assert_eq!(s.get(b"ns", b"k").unwrap(), None);
    s.put(b"ns", b"forever", b"v", TTL_NEVER).unwrap();
    assert_eq!(s.deadline(b"ns", b"forever").unwrap(), Some(DEADLINE_NEVER));
    clock.set(u64::MAX - 1);
    assert_eq!(s.get(b"ns", b"forever").unwrap().as_deref(), Some(&b"v"[..]));
    let r = s.verify().unwrap();
    assert!(r.is_ok());
    assert_eq!((r.entries, r.expiring, r.index_records), (1, 0, 0));
}

#[test]
fn put_many_writes_all_records_or_none() {
    let (_d, s) = temp_store(Options::default());
    let recs = [
        Record {
            namespace: b"a",
            key: b"1",
            value: b"x",
            ttl: MIN,
        },
        Record {
            namespace: b"b",
            key: b"2",
            value: b"y",
            ttl: MIN,
        },
    ];
    s.put_many(&recs).unwrap();
    assert_eq!(s.get(b"b", b"2").unwrap().as_deref(), Some(&b"y"[..]));
    // One bad record fails the batch before anything is written.
    let long = vec![b'k'; 600];
    let bad = [
        Record {
            namespace: b"a",
            key: b"3",
            value: b"x",
            ttl: MIN,
        },
        Record {
            namespace: b"a",
            key: &long,
            value: b"x",
            ttl: MIN,
        },
    ];
    let e = s.put_many(&bad).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyTooLong);
    assert!(e.message().contains("record 1"), "{e}");
    assert_eq!(s.get(b"a", b"3").unwrap(), None);
    let zero = [Record {
        namespace: b"a",
        key: b"4",
        value: b"x",
        ttl: Duration::ZERO,
    }];
    assert_eq!(s.put_many(&zero).unwrap_err().kind(), ErrorKind::TtlInvalid);
    s.put_many(&[]).unwrap();
}

#[test]
fn put_many_refuses_batches_over_the_documented_limit() {
    let (_d, s) = temp_store(Options::default());
    let keys: Vec<[u8; 8]> = (0..ttlkv::MAX_BATCH_RECORDS as u64 + 1)
        .map(|i| i.to_be_bytes())
        .collect();
    let recs: Vec<_> = keys
        .iter()
        .map(|k| (&b"ns"[..], &k[..], &b"v"[..], 60_000u64))
        .collect();
    let e = s.put_many_ms(&recs).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BatchTooLarge);
    assert_eq!(s.keys(b"ns").unwrap().len(), 0);
    // The limit itself is fine.
    s.put_many_ms(&recs[..ttlkv::MAX_BATCH_RECORDS]).unwrap();
    assert_eq!(s.keys(b"ns").unwrap().len(), ttlkv::MAX_BATCH_RECORDS);
}

#[test]
fn namespace_convenience_carries_name_and_default_ttl() {
    let (_d, s, clock) = manual_store(0);
    let sessions = s.namespace("sessions", Duration::from_millis(1800)).unwrap();
    sessions.put(b"t", b"p").unwrap();
    sessions.put_with_ttl(b"long", b"p", MIN).unwrap();
    sessions.put_many(&[(b"a", b"1"), (b"b", b"2")]).unwrap();
    assert_eq!(sessions.deadline(b"t").unwrap(), Some(1800));
    assert_eq!(sessions.keys().unwrap().len(), 4);
    clock.advance(1800);
    assert_eq!(sessions.keys().unwrap(), vec![b"long".to_vec()]);
    assert!(sessions.delete(b"long").unwrap());
    assert_eq!(
        s.namespace("", MIN).unwrap_err().kind(),
        ErrorKind::NamespaceInvalid
    );
    assert_eq!(
        s.namespace("x", Duration::ZERO).unwrap_err().kind(),
        ErrorKind::TtlInvalid
    );
}

#[test]
fn entries_and_deadlines_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let deadline;
    {
        let s = Store::open(&path, Options::default()).unwrap();
        s.put(b"ns", b"k", b"v", Duration::from_secs(3600)).unwrap();
        s.put(b"ns", b"forever", b"f", TTL_NEVER).unwrap();
        deadline = s.deadline(b"ns", b"k").unwrap().unwrap();
        s.close();
    }
    let s = Store::open(&path, Options::default()).unwrap();
    assert_eq!(s.get(b"ns", b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(s.deadline(b"ns", b"k").unwrap(), Some(deadline));
    assert_eq!(s.deadline(b"ns", b"forever").unwrap(), Some(DEADLINE_NEVER));
}

#[test]
fn large_values_round_trip_and_values_over_one_gib_are_refused() {
    let (_d, s) = temp_store(Options::default().map_size(1 << 20));
    let big = vec![7u8; 64 << 20];
    s.put(b"ns", b"big", &big, MIN).unwrap();
    assert_eq!(s.get(b"ns", b"big").unwrap().map(|v| v.len()), Some(big.len()));
    drop(big);
    let huge = vec![0u8; ttlkv::MAX_VALUE_LEN + 1];
    let e = s.put(b"ns", b"huge", &huge, MIN).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ValueTooLarge);
    assert!(e.message().contains("1 GiB"));
    assert_eq!(s.get(b"ns", b"huge").unwrap(), None);
}
