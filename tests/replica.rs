//! Replication support in the core: records with their order, merge (last-writer-wins on
//! `(version, origin)`), tombstones, the digests of anti-entropy — and a randomized model of
//! stores that split, write on both sides with skewed clocks and heal, checked for zero
//! resurrected deletes, zero lost writes and identical stores.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{manual_store, temp_store, MIN};
use proptest::prelude::*;
use ttlkv::{Clock, ErrorKind, ManualClock, Options, ReplicaRecord, Store, DEADLINE_NEVER, TTL_NEVER};

const NS: &[u8] = b"sessions";
const T0: u64 = 1_700_000_000_000;

fn rec(key: &[u8], value: &[u8], deadline: u64, version: u64, origin: u64) -> ReplicaRecord {
    ReplicaRecord {
        namespace: NS.to_vec(),
        key: key.to_vec(),
        value: value.to_vec(),
        deadline,
        version,
        origin,
        tombstone: false,
    }
}

fn one(s: &Store, key: &[u8]) -> Option<ReplicaRecord> {
    s.records(&[(NS, key)]).unwrap().pop()
}

#[test]
fn merge_keeps_the_newer_by_version_then_origin_and_drops_the_expired() {
    let (_d, s, _clock) = manual_store(T0);
    let v = (T0 << 22) + 5;
    assert_eq!(s.merge(&[rec(b"k", b"first", T0 + 60_000, v, 7)]).unwrap(), 1);
    assert_eq!(s.get(NS, b"k").unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(
        s.deadline(NS, b"k").unwrap(),
        Some(T0 + 60_000),
        "the deadline travels"
    );
    let r = one(&s, b"k").unwrap();
    assert_eq!((r.version, r.origin, r.tombstone), (v, 7, false));

    // Older, and the same order: not written.
    assert_eq!(s.merge(&[rec(b"k", b"older", T0 + 60_000, v - 1, 9)]).unwrap(), 0);
    assert_eq!(s.merge(&[rec(b"k", b"same", T0 + 60_000, v, 7)]).unwrap(), 0);
    // The same version from a higher origin wins the tie; a lower one loses it.
    assert_eq!(s.merge(&[rec(b"k", b"low", T0 + 60_000, v, 6)]).unwrap(), 0);
    assert_eq!(s.merge(&[rec(b"k", b"high", T0 + 60_000, v, 8)]).unwrap(), 1);
    assert_eq!(s.get(NS, b"k").unwrap().as_deref(), Some(&b"high"[..]));
    // Already past its deadline: dropped, whatever its version.
    assert_eq!(s.merge(&[rec(b"gone", b"x", T0, v + 100, 8)]).unwrap(), 0);
    assert_eq!(one(&s, b"gone"), None);
    // A record of this store's own origin is stored without an origin field and reads back
    // with the store's origin.
    let own = s.origin().unwrap();
    assert_eq!(s.merge(&[rec(b"mine", b"m", DEADLINE_NEVER, v, own)]).unwrap(), 1);
    assert_eq!(one(&s, b"mine").unwrap().origin, own);
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn deletes_on_a_replicating_store_leave_tombstones_that_beat_older_writes_and_expire() {
    let (_d, s, clock) = manual_store(T0);
    assert!(!s.replicated().unwrap());
    s.set_replicated(true).unwrap();
    assert!(s.replicated().unwrap());
    s.put(NS, b"short", b"v", MIN).unwrap();
    s.put(NS, b"k", b"v", Duration::from_secs(3600)).unwrap();
    let written = one(&s, b"k").unwrap();
    assert!(s.delete(NS, b"k").unwrap());
    assert_eq!(s.get(NS, b"k").unwrap(), None, "a tombstone reads as absent");
    assert!(s.keys(NS).unwrap() == vec![b"short".to_vec()] && s.count(NS).unwrap() == 1);
    let t = one(&s, b"k").unwrap();
    assert!(t.tombstone && t.value.is_empty() && t.version > written.version);
    assert!(
        t.deadline >= (t.version >> 22) + 3_600_000,
        "outlives every write of the namespace's largest TTL it must beat"
    );
    // The write it deleted, arriving again from a peer, stays deleted.
    assert_eq!(s.merge(std::slice::from_ref(&written)).unwrap(), 0);
    assert_eq!(s.get(NS, b"k").unwrap(), None);
    // A delete of a key this store never held still leaves a tombstone (a peer may hold it).
    assert!(!s.delete(NS, b"never").unwrap());
    assert!(one(&s, b"never").unwrap().tombstone);
    // take and delete_many leave tombstones too.
    s.put(NS, b"t", b"v", MIN).unwrap();
    assert_eq!(s.take(NS, b"t").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(s.delete_many(NS, &[b"short"]).unwrap(), 1);
    assert!(one(&s, b"t").unwrap().tombstone && one(&s, b"short").unwrap().tombstone);
    assert!(
        s.namespaces().unwrap().is_empty(),
        "only tombstones: no live namespace"
    );
    // The expiry removes tombstones at their deadline.
    clock.set(t.deadline + 1);
    assert!(s.purge_expired().unwrap() >= 4);
    assert_eq!(one(&s, b"k"), None);
    assert!(s.verify().unwrap().is_ok());

    // A never-expiring write makes the namespace's tombstones never expire.
    s.put(NS, b"forever", b"v", TTL_NEVER).unwrap();
    s.delete(NS, b"forever").unwrap();
    assert_eq!(one(&s, b"forever").unwrap().deadline, DEADLINE_NEVER);
    // Without replication, a delete removes the entry.
    s.set_replicated(false).unwrap();
    s.put(NS, b"plain", b"v", MIN).unwrap();
    s.delete(NS, b"plain").unwrap();
    assert_eq!(one(&s, b"plain"), None);
}

#[test]
fn replication_and_the_largest_ttls_survive_a_reopen_and_reach_other_handles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    {
        let s = Store::open(&path, Options::default()).unwrap();
        s.set_replicated(true).unwrap();
        s.put(NS, b"k", b"v", Duration::from_secs(7200)).unwrap();
        s.close();
    }
    let s = Store::open(&path, Options::default()).unwrap();
    assert!(s.replicated().unwrap());
    s.delete(NS, b"k").unwrap();
    let t = one(&s, b"k").unwrap();
    assert!(t.tombstone && t.deadline >= (t.version >> 22) + 7_200_000);
}

#[test]
fn a_touch_on_a_replicating_store_takes_a_new_version() {
    let (_d, s, clock) = manual_store(T0);
    s.put(NS, b"k", b"v", MIN).unwrap();
    let before = one(&s, b"k").unwrap();
    clock.advance(10);
    s.touch(NS, b"k", MIN).unwrap();
    assert_eq!(
        one(&s, b"k").unwrap().version,
        before.version,
        "not replicating: kept"
    );
    s.set_replicated(true).unwrap();
    clock.advance(10);
    s.touch(NS, b"k", Duration::from_secs(600)).unwrap();
    let after = one(&s, b"k").unwrap();
    assert!(after.version > before.version && after.deadline == T0 + 20 + 600_000);
}

#[test]
fn a_merge_advances_the_clock_so_a_later_local_write_wins() {
    // The peer's clock is ten minutes ahead: its write carries a version from the future.
    let (_d, s, _clock) = manual_store(T0);
    s.set_replicated(true).unwrap();
    let ahead = (T0 + 600_000) << 22;
    s.merge(&[rec(b"k", b"theirs", T0 + 3_600_000, ahead, 1)])
        .unwrap();
    // A delete here after that merge beats it, although this clock is behind.
    s.delete(NS, b"k").unwrap();
    assert!(one(&s, b"k").unwrap().version > ahead);
    // So does a write of another key (the clock, not only the key, moved).
    s.put(NS, b"other", b"v", MIN).unwrap();
    assert!(one(&s, b"other").unwrap().version > ahead);
}

#[test]
fn bad_records_are_refused_whole_and_write_nothing() {
    let (_d, s) = temp_store(Options::default());
    let good = rec(b"good", b"v", DEADLINE_NEVER, 1 << 40, 3);
    let mut tomb = rec(b"t", b"not empty", DEADLINE_NEVER, 1 << 40, 3);
    tomb.tombstone = true;
    let e = s.merge(&[good.clone(), tomb]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("record 1"), "{e}");
    let long = rec(&vec![b'x'; 600], b"v", DEADLINE_NEVER, 1 << 40, 3);
    assert_eq!(
        s.merge(&[good.clone(), long]).unwrap_err().kind(),
        ErrorKind::KeyTooLong
    );
    let mut empty_ns = good.clone();
    empty_ns.namespace.clear();
    assert!(s.merge(&[empty_ns]).is_err());
    assert_eq!(one(&s, b"good"), None);
    assert_eq!(s.digest(0, 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        s.digest(70_000, 0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        s.versions(16, &[16], 0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert!(s.merge(&[]).unwrap() == 0 && s.records(&[]).unwrap().is_empty());
}

#[test]
fn digests_agree_on_equal_stores_and_point_at_the_differing_bucket() {
    let (_d1, a) = temp_store(Options::default());
    let (_d2, b) = temp_store(Options::default());
    for s in [&a, &b] {
        s.set_replicated(true).unwrap();
    }
    for i in 0..500u32 {
        a.put(NS, format!("key{i}").as_bytes(), b"v", MIN).unwrap();
    }
    a.delete(NS, b"key7").unwrap();
    sync(&a, &b, 64);
    assert_eq!(a.digest(64, 0).unwrap(), b.digest(64, 0).unwrap());
    assert_eq!(b.get(NS, b"key8").unwrap().as_deref(), Some(&b"v"[..]));
    assert!(one(&b, b"key7").unwrap().tombstone);
    // Identical records, although a holds them as its own and b as merged from a.
    assert_eq!(one(&a, b"key9"), one(&b, b"key9"));

    b.put(NS, b"key3", b"new", MIN).unwrap();
    let (da, db) = (a.digest(64, 0).unwrap(), b.digest(64, 0).unwrap());
    let differ: Vec<u32> = (0..64).filter(|&i| da[i as usize] != db[i as usize]).collect();
    assert_eq!(differ.len(), 1);
    let listed = b.versions(64, &differ, 0).unwrap();
    assert!(listed.iter().any(|r| r.key == b"key3" && r.value.is_empty()));
    // The same records with their values, for a store that has none of them.
    let full = b.bucket_records(64, &differ, 0).unwrap();
    assert_eq!(full.len(), listed.len());
    assert!(full.iter().any(|r| r.key == b"key3" && r.value == b"new"));
    let (_d3, empty) = temp_store(Options::default());
    let all: Vec<u32> = (0..64).collect();
    assert_eq!(empty.merge(&a.bucket_records(64, &all, 0).unwrap()).unwrap(), 500);
    assert_eq!(empty.digest(64, 0).unwrap(), a.digest(64, 0).unwrap());
    // The cutoff leaves out what expires before it.
    let far = ttlkv_now() + 3_600_000;
    assert_eq!(a.digest(64, far).unwrap(), vec![0; 64]);
}

fn ttlkv_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// One anti-entropy exchange between two stores, the way the Elixir replicator runs it:
/// digests, then the versions of the differing buckets, then each side's newer records.
fn sync(a: &Store, b: &Store, buckets: u32) {
    sync_after(a, b, buckets, 0)
}

/// [`sync`] of the records whose deadline is after `cutoff`.
fn sync_after(a: &Store, b: &Store, buckets: u32, cutoff: u64) {
    let (da, db) = (
        a.digest(buckets, cutoff).unwrap(),
        b.digest(buckets, cutoff).unwrap(),
    );
    let differ: Vec<u32> = (0..buckets)
        .filter(|&i| da[i as usize] != db[i as usize])
        .collect();
    if differ.is_empty() {
        return;
    }
    type Orders = BTreeMap<(Vec<u8>, Vec<u8>), (u64, u64)>;
    let order = |v: Vec<ReplicaRecord>| -> Orders {
        v.into_iter()
            .map(|r| ((r.namespace, r.key), (r.version, r.origin)))
            .collect()
    };
    let va = order(a.versions(buckets, &differ, cutoff).unwrap());
    let vb = order(b.versions(buckets, &differ, cutoff).unwrap());
    let newer = |x: &Orders, y: &Orders| -> Vec<(Vec<u8>, Vec<u8>)> {
        x.iter()
            .filter(|(k, o)| y.get(*k).map_or(true, |p| *o > p))
            .map(|(k, _)| k.clone())
            .collect()
    };
    for (from, to, keys) in [(a, b, newer(&va, &vb)), (b, a, newer(&vb, &va))] {
        let refs: Vec<(&[u8], &[u8])> = keys.iter().map(|(n, k)| (&n[..], &k[..])).collect();
        let recs = from.records(&refs).unwrap();
        to.merge(&recs).unwrap();
    }
}

#[derive(Clone, Debug)]
enum Step {
    Put { node: usize, key: u8, ttl_s: u64 },
    Delete { node: usize, key: u8 },
    Split,
    Heal,
    Tick { ms: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..3usize, 0..12u8, 1..3600u64).prop_map(|(node, key, ttl_s)| Step::Put { node, key, ttl_s }),
        3 => (0..3usize, 0..12u8).prop_map(|(node, key)| Step::Delete { node, key }),
        1 => Just(Step::Split),
        1 => Just(Step::Heal),
        2 => (1..5_000u64).prop_map(|ms| Step::Tick { ms }),
    ]
}

/// Past every clock of the run and before every deadline a put makes in it: what anti-entropy
/// compares (a tombstone of a key never written in the namespace lives only a margin, and
/// may expire during the run; the replicator's cutoff leaves such records out the same way).
const CUTOFF: u64 = T0 + 3_600_000;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Three stores with clocks skewed by up to ±10 minutes; writes and deletes on every
    /// side of random splits (node 2 cut off from 0 and 1); writes replicate at once to the
    /// nodes a store can reach, and every heal runs anti-entropy. After the last heal, every
    /// store is identical, and each key is what the last operation on it (by the store's
    /// order, which for operations that saw each other is the order they ran in) left:
    /// a delete that followed a write on any node is never undone.
    #[test]
    fn split_stores_converge_without_resurrecting_deletes(
        skews in proptest::collection::vec(-600_000i64..600_000, 3),
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let clocks: Vec<ManualClock> = skews
            .iter()
            .map(|s| ManualClock::new((T0 as i64 + s) as u64))
            .collect();
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let stores: Vec<Store> = (0..3)
            .map(|i| {
                let s = Store::open(
                    dirs[i].path().join("s"),
                    Options::default().clock(Clock::Manual(clocks[i].clone())),
                )
                .unwrap();
                s.set_replicated(true).unwrap();
                s
            })
            .collect();
        let mut split = false;
        let reach = |split: bool, a: usize, b: usize| !split || (a != 2 && b != 2);
        // The model: per key, whether the last operation every store has seen (in causal order)
        // was a put; only keys touched while connected to everyone are checked strictly.
        let mut model: BTreeMap<u8, bool> = BTreeMap::new();
        // During a split: per key, the side(s) that changed it and the last change of each.
        let mut during: BTreeMap<u8, [Option<bool>; 2]> = BTreeMap::new();
        for st in &steps {
            match *st {
                Step::Put { node, key, ttl_s } => {
                    // TTLs long enough to outlast the run: expiry is not what is checked.
                    let ttl = Duration::from_secs(7200 + ttl_s);
                    stores[node].put(NS, &[key], b"v", ttl).unwrap();
                    push(&stores, node, key, |b| reach(split, node, b));
                    if split { during.entry(key).or_default()[usize::from(node == 2)] = Some(true); } else { model.insert(key, true); }
                }
                Step::Delete { node, key } => {
                    stores[node].delete(NS, &[key]).unwrap();
                    push(&stores, node, key, |b| reach(split, node, b));
                    if split { during.entry(key).or_default()[usize::from(node == 2)] = Some(false); } else { model.insert(key, false); }
                }
                Step::Split => split = true,
                Step::Heal => {
                    if split {
                        split = false;
                        for (a, b) in [(0, 1), (1, 2), (0, 2)] {
                            sync_after(&stores[a], &stores[b], 16, CUTOFF);
                        }
                        settle(&stores, &mut model, &mut during)?;
                    }
                }
                Step::Tick { ms } => clocks.iter().for_each(|c| c.advance(ms)),
            }
        }
        if split {
            for (a, b) in [(0, 1), (1, 2), (0, 2)] {
                sync_after(&stores[a], &stores[b], 16, CUTOFF);
            }
            settle(&stores, &mut model, &mut during)?;
        }
        let d0 = stores[0].digest(16, CUTOFF).unwrap();
        for s in &stores[1..] {
            prop_assert_eq!(&s.digest(16, CUTOFF).unwrap(), &d0, "identical after healing");
        }
        for (k, live) in &model {
            for (i, s) in stores.iter().enumerate() {
                prop_assert_eq!(
                    s.get(NS, &[*k]).unwrap().is_some(),
                    *live,
                    "key {} on store {}: the last operation decides", k, i
                );
            }
        }
    }
}

/// After a heal: a key only one side changed during the split is what that side's last
/// change made it (no write lost, no delete undone); a key both sides changed holds one of
/// the two sides' outcomes (last-writer-wins), the same on every store.
fn settle(
    stores: &[Store],
    model: &mut BTreeMap<u8, bool>,
    during: &mut BTreeMap<u8, [Option<bool>; 2]>,
) -> Result<(), TestCaseError> {
    for (k, sides) in std::mem::take(during) {
        let live = stores[0].get(NS, &[k]).unwrap().is_some();
        match sides {
            [Some(x), None] | [None, Some(x)] => prop_assert_eq!(live, x, "key {} changed on one side", k),
            [Some(x), Some(y)] => prop_assert!(live == x || live == y),
            [None, None] => unreachable!(),
        }
        model.insert(k, live);
    }
    Ok(())
}

/// Replication of one write to the stores `to` can reach (what the replicator's push does).
fn push(stores: &[Store], from: usize, key: u8, to: impl Fn(usize) -> bool) {
    let recs = stores[from].records(&[(NS, &[key])]).unwrap();
    for (i, s) in stores.iter().enumerate() {
        if i != from && to(i) {
            s.merge(&recs).unwrap();
        }
    }
}
