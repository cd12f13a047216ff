//! The cache operations: touch, add, incr, take, versions, many keys, namespaces, scan, the
//! size bound and backup — their exact semantics, bad input, and atomicity across threads and
//! processes (children are this binary re-run, see `ops_child`).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{manual_store, temp_store, MIN};
use ttlkv::{Durability, ErrorKind, Eviction, Options, Store, DEADLINE_NEVER, TTL_NEVER};

const NS: &[u8] = b"ops";

#[test]
fn incr_creates_counts_keeps_the_deadline_and_refuses_what_is_no_counter() {
    let (_d, s, clock) = manual_store(1_000_000);
    assert_eq!(
        s.incr(NS, b"c", 5, None).unwrap(),
        None,
        "missing and not to be created"
    );
    assert_eq!(s.get(NS, b"c").unwrap(), None);
    assert_eq!(s.incr(NS, b"c", 5, Some(MIN)).unwrap(), Some(5));
    assert_eq!(
        s.get(NS, b"c").unwrap().as_deref(),
        Some(&b"5"[..]),
        "ASCII decimal"
    );
    let deadline = s.deadline(NS, b"c").unwrap().unwrap();
    clock.advance(1_000);
    assert_eq!(
        s.incr(NS, b"c", -8, Some(Duration::from_secs(5))).unwrap(),
        Some(-3)
    );
    assert_eq!(
        s.deadline(NS, b"c").unwrap(),
        Some(deadline),
        "an existing counter keeps its deadline"
    );
    assert_eq!(s.get(NS, b"c").unwrap().as_deref(), Some(&b"-3"[..]));

    s.put(NS, b"text", b"12 apples", MIN).unwrap();
    let e = s.incr(NS, b"text", 1, Some(MIN)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotACounter, "{e}");
    assert_eq!(s.get(NS, b"text").unwrap().as_deref(), Some(&b"12 apples"[..]));

    s.put(NS, b"big", i64::MAX.to_string().as_bytes(), MIN).unwrap();
    let (_, v) = s.get_versioned(NS, b"big").unwrap().unwrap();
    assert_eq!(
        s.incr(NS, b"big", 1, None).unwrap_err().kind(),
        ErrorKind::Overflow
    );
    assert_eq!(
        s.get_versioned(NS, b"big").unwrap().unwrap().1,
        v,
        "an overflow writes nothing"
    );
    assert_eq!(s.incr(NS, b"big", -1, None).unwrap(), Some(i64::MAX - 1));

    // An expired counter is missing: created again from the delta.
    clock.advance(120_000);
    assert_eq!(s.incr(NS, b"c", 2, None).unwrap(), None);
    assert_eq!(s.incr(NS, b"c", 2, Some(MIN)).unwrap(), Some(2));
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn touch_moves_the_deadline_and_its_index_record_without_touching_the_value() {
    let (_d, s, clock) = manual_store(1_000_000);
    s.put(NS, b"k", b"v", Duration::from_secs(10)).unwrap();
    let (_, version) = s.get_versioned(NS, b"k").unwrap().unwrap();
    assert!(s.touch(NS, b"k", Duration::from_secs(100)).unwrap());
    assert_eq!(s.deadline(NS, b"k").unwrap(), Some(1_100_000));
    assert_eq!(s.get_versioned(NS, b"k").unwrap(), Some((b"v".to_vec(), version)));
    assert!(s.verify().unwrap().is_ok());
    clock.advance(50_000);
    assert_eq!(
        s.purge_expired().unwrap(),
        0,
        "the old deadline no longer expires it"
    );
    assert!(s.touch(NS, b"k", TTL_NEVER).unwrap());
    assert_eq!(s.deadline(NS, b"k").unwrap(), Some(DEADLINE_NEVER));
    assert!(s.verify().unwrap().is_ok());
    assert!(!s.touch(NS, b"missing", MIN).unwrap());
    s.put(NS, b"soon", b"v", Duration::from_millis(10)).unwrap();
    clock.advance(20);
    assert!(
        !s.touch(NS, b"soon", MIN).unwrap(),
        "an expired entry is not brought back"
    );
    assert_eq!(s.get(NS, b"soon").unwrap(), None);
    assert_eq!(
        s.touch(NS, b"k", Duration::ZERO).unwrap_err().kind(),
        ErrorKind::TtlInvalid
    );
}

#[test]
fn add_treats_an_expired_entry_as_absent() {
    let (_d, s, clock) = manual_store(1_000_000);
    assert!(s.add(NS, b"lock", b"a", Duration::from_secs(1)).unwrap());
    assert!(!s.add(NS, b"lock", b"b", MIN).unwrap());
    assert_eq!(s.get(NS, b"lock").unwrap().as_deref(), Some(&b"a"[..]));
    clock.advance(1_000);
    assert!(
        s.add(NS, b"lock", b"c", MIN).unwrap(),
        "expired, not yet removed: absent"
    );
    assert_eq!(s.get(NS, b"lock").unwrap().as_deref(), Some(&b"c"[..]));
    assert_eq!(s.verify().unwrap().index_records, 1);
}

#[test]
fn take_gives_each_value_to_exactly_one_of_many_threads() {
    let (_d, s) = temp_store(Options::default());
    for i in 0..200u32 {
        s.put(NS, &i.to_be_bytes(), &i.to_le_bytes(), MIN).unwrap();
    }
    let taken: Vec<Vec<u32>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                sc.spawn(|| {
                    (0..200u32)
                        .filter_map(|i| {
                            s.take(NS, &i.to_be_bytes())
                                .unwrap()
                                .map(|v| u32::from_le_bytes(v.try_into().unwrap()))
                        })
                        .collect()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u32> = taken.concat();
    all.sort();
    assert_eq!(all, (0..200).collect::<Vec<_>>());
    assert_eq!(s.count(NS).unwrap(), 0);
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn put_if_version_is_compare_and_set() {
    let (_d, s) = temp_store(Options::default());
    let v1 = s
        .put_if_version(NS, b"k", b"one", MIN, None)
        .unwrap()
        .expect("absent");
    assert_eq!(s.put_if_version(NS, b"k", b"again", MIN, None).unwrap(), None);
    let v2 = s
        .put_if_version(NS, b"k", b"two", MIN, Some(v1))
        .unwrap()
        .expect("current");
    assert!(v2 > v1);
    assert_eq!(s.put_if_version(NS, b"k", b"stale", MIN, Some(v1)).unwrap(), None);
    assert_eq!(s.get_versioned(NS, b"k").unwrap(), Some((b"two".to_vec(), v2)));
    // Every write of the value moves the version; a delete and a new put never reuse one.
    s.put(NS, b"k", b"three", MIN).unwrap();
    let v3 = s.get_versioned(NS, b"k").unwrap().unwrap().1;
    assert!(v3 > v2);
    s.delete(NS, b"k").unwrap();
    s.put(NS, b"k", b"three", MIN).unwrap();
    assert!(s.get_versioned(NS, b"k").unwrap().unwrap().1 > v3);
    assert_eq!(s.put_if_version(NS, b"k", b"x", MIN, Some(v3)).unwrap(), None);
}

#[test]
fn versions_survive_a_reopen_and_keep_growing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    let v1 = {
        let s = Store::open(&p, Options::default()).unwrap();
        s.put(NS, b"k", b"v", MIN).unwrap();
        s.get_versioned(NS, b"k").unwrap().unwrap().1
    };
    let s = Store::open(&p, Options::default()).unwrap();
    assert_eq!(s.get_versioned(NS, b"k").unwrap().unwrap().1, v1);
    s.put(NS, b"other", b"v", MIN).unwrap();
    assert!(s.get_versioned(NS, b"other").unwrap().unwrap().1 > v1);
}

#[test]
fn many_keys_at_once_and_whole_namespaces() {
    let (_d, s, clock) = manual_store(1_000_000);
    s.put(NS, b"a", b"1", MIN).unwrap();
    s.put(NS, b"b", b"2", Duration::from_millis(5)).unwrap();
    s.put(b"other", b"a", b"x", MIN).unwrap();
    clock.advance(10);
    let got = s.get_many(NS, &[b"a", b"b", b"zz", b"a"]).unwrap();
    assert_eq!(got, vec![Some(b"1".to_vec()), None, None, Some(b"1".to_vec())]);
    assert_eq!(s.get_many(NS, &[]).unwrap(), Vec::<Option<Vec<u8>>>::new());
    assert_eq!(s.count(NS).unwrap(), 1);
    assert_eq!(s.namespaces().unwrap(), vec![b"ops".to_vec(), b"other".to_vec()]);
    assert_eq!(
        s.delete_many(NS, &[b"a", b"b", b"nope"]).unwrap(),
        1,
        "b had expired"
    );
    assert_eq!(s.namespaces().unwrap(), vec![b"other".to_vec()]);
    assert!(s.verify().unwrap().is_ok());

    // clear: many bounded transactions, every entry and index record gone, others untouched.
    let keys: Vec<[u8; 4]> = (0..25_000u32).map(|i| i.to_be_bytes()).collect();
    for chunk in keys.chunks(5_000) {
        let recs: Vec<ttlkv::RecordMs<'_>> = chunk.iter().map(|k| (NS, &k[..], &b"v"[..], 60_000)).collect();
        s.put_many_ms(&recs).unwrap();
    }
    let commits = s.stats().unwrap().write_commits;
    assert_eq!(s.clear(NS).unwrap(), 25_000);
    assert!(
        s.stats().unwrap().write_commits - commits >= 3,
        "25,000 entries in bounded transactions"
    );
    assert_eq!(s.count(NS).unwrap(), 0);
    assert_eq!(s.get(b"other", b"a").unwrap().as_deref(), Some(&b"x"[..]));
    let r = s.verify().unwrap();
    assert!(r.is_ok() && r.entries == 1 && r.index_records == 1, "{r:?}");
}

#[test]
fn scan_pages_through_a_prefix_with_a_cursor() {
    let (_d, s) = temp_store(Options::default());
    for k in ["", "a", "ab", "abc", "abd", "b", "user:1", "user:2", "user:3"] {
        s.put(NS, k.as_bytes(), k.to_uppercase().as_bytes(), MIN).unwrap();
    }
    s.put(b"opsx", b"user:0", b"other namespace", MIN).unwrap();
    let keys = |page: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<String> {
        page.into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect()
    };
    assert_eq!(keys(s.scan(NS, b"user:", None, 2).unwrap()), ["user:1", "user:2"]);
    assert_eq!(
        keys(s.scan(NS, b"user:", Some(b"user:2"), 2).unwrap()),
        ["user:3"]
    );
    assert_eq!(keys(s.scan(NS, b"ab", None, 10).unwrap()), ["ab", "abc", "abd"]);
    let page = s.scan(NS, b"ab", Some(b"a"), 10).unwrap();
    assert_eq!(page[0], (b"ab".to_vec(), b"AB".to_vec()), "values come with keys");
    // The empty key is a key like any other: first, and a cursor of its own.
    assert_eq!(keys(s.scan(NS, b"", None, 2).unwrap()), ["", "a"]);
    assert_eq!(keys(s.scan(NS, b"", Some(b""), 1).unwrap()), ["a"]);
    // Paging through everything gives every key once.
    let (mut all, mut after) = (Vec::new(), None::<Vec<u8>>);
    loop {
        let page = s.scan(NS, b"", after.as_deref(), 4).unwrap();
        let last = page.len() < 4;
        after = page.last().map(|(k, _)| k.clone());
        all.extend(keys(page));
        if last {
            break;
        }
    }
    assert_eq!(all.len(), 9);
    assert_eq!(
        s.scan(NS, b"", None, 0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        s.scan(NS, b"", None, ttlkv::MAX_KEYS_PER_CALL + 1)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn bad_input_to_the_new_operations_is_refused_and_writes_nothing() {
    let (_d, s) = temp_store(Options::default());
    s.put(NS, b"k", b"v", MIN).unwrap();
    let long = vec![b'k'; 600];
    assert_eq!(s.touch(NS, &long, MIN).unwrap_err().kind(), ErrorKind::KeyTooLong);
    assert_eq!(
        s.add(b"", b"k", b"v", MIN).unwrap_err().kind(),
        ErrorKind::NamespaceInvalid
    );
    assert_eq!(
        s.incr(NS, &long, 1, Some(MIN)).unwrap_err().kind(),
        ErrorKind::KeyTooLong
    );
    assert_eq!(
        s.take(&[b'n'; 256], b"k").unwrap_err().kind(),
        ErrorKind::NamespaceInvalid
    );
    let too_many: Vec<&[u8]> = vec![b"k"; ttlkv::MAX_KEYS_PER_CALL + 1];
    assert_eq!(
        s.get_many(NS, &too_many).unwrap_err().kind(),
        ErrorKind::BatchTooLarge
    );
    assert_eq!(
        s.delete_many(NS, &too_many).unwrap_err().kind(),
        ErrorKind::BatchTooLarge
    );
    assert_eq!(
        s.delete_many(NS, &[b"k", &long]).unwrap_err().kind(),
        ErrorKind::KeyTooLong
    );
    assert_eq!(s.clear(b"").unwrap_err().kind(), ErrorKind::NamespaceInvalid);
    assert_eq!(
        s.set_max_bytes(Some(1000), Eviction::SoonestDeadline)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        s.get(NS, b"k").unwrap().as_deref(),
        Some(&b"v"[..]),
        "nothing was written"
    );
    assert_eq!(s.max_bytes().unwrap(), (None, Eviction::SoonestDeadline));
    s.close();
    assert_eq!(s.incr(NS, b"k", 1, None).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(
        s.backup("/tmp/nowhere", true).unwrap_err().kind(),
        ErrorKind::Closed
    );
}

/// Puts `n` entries of `size` bytes, with TTLs from `ttl_of(i)`.
fn fill(s: &Store, prefix: &str, n: usize, size: usize, ttl_of: impl Fn(usize) -> Duration) {
    let value = vec![7u8; size];
    for i in 0..n {
        s.put(NS, format!("{prefix}{i:06}").as_bytes(), &value, ttl_of(i))
            .unwrap();
    }
}

#[test]
fn a_store_at_its_bound_evicts_soonest_deadlines_first() {
    let (_d, s) = temp_store(Options::default());
    let bound = 2 << 20;
    s.set_max_bytes(Some(bound), Eviction::SoonestDeadline).unwrap();
    assert_eq!(s.max_bytes().unwrap(), (Some(bound), Eviction::SoonestDeadline));
    // Long-lived entries first, then ten times the bound of short-lived ones.
    fill(&s, "keep-", 100, 1000, |_| Duration::from_secs(86_400));
    fill(&s, "never-", 100, 1000, |_| TTL_NEVER);
    let mut peak = 0;
    for round in 0..20 {
        fill(&s, &format!("churn{round}-"), 1000, 1000, |i| {
            Duration::from_secs(600 + i as u64)
        });
        peak = peak.max(s.stats().unwrap().tree_bytes);
    }
    let st = s.stats().unwrap();
    assert!(st.evicted > 15_000, "{st:?}");
    // A write may pass the bound by its own size only (one 1 kB entry, a page or two).
    assert!(
        peak <= bound + 64 * 1024,
        "tree reached {peak} with a bound of {bound}"
    );
    for i in 0..100 {
        assert!(
            s.get(NS, format!("keep-{i:06}").as_bytes()).unwrap().is_some(),
            "keep-{i} evicted"
        );
        assert!(s.get(NS, format!("never-{i:06}").as_bytes()).unwrap().is_some());
    }
    // The last round's latest deadlines are the ones kept.
    assert!(s.get(NS, b"churn19-000999").unwrap().is_some());
    assert!(s.get(NS, b"churn0-000000").unwrap().is_none());
    assert!(s.verify().unwrap().is_ok());
    // Expired entries go before live ones.
    let (_d2, t, clock) = manual_store(1_000_000);
    t.set_max_bytes(Some(1 << 20), Eviction::SoonestDeadline).unwrap();
    fill(&t, "old-", 300, 1000, |_| Duration::from_secs(1));
    fill(&t, "live-", 300, 1000, |_| Duration::from_secs(3600));
    clock.advance(2_000);
    fill(&t, "new-", 700, 1000, |_| Duration::from_secs(60));
    for i in 0..300 {
        assert!(t.get(NS, format!("live-{i:06}").as_bytes()).unwrap().is_some());
    }
    assert!(t.verify().unwrap().is_ok());
}

#[test]
fn without_eviction_a_write_past_the_bound_fails_and_writes_nothing() {
    let (_d, s) = temp_store(Options::default());
    s.set_max_bytes(Some(256 << 10), Eviction::None).unwrap();
    let value = vec![1u8; 1000];
    let mut written = 0;
    let err = loop {
        match s.put(NS, format!("k{written}").as_bytes(), &value, MIN) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Full, "{err}");
    assert!(err.message().contains("max_bytes"), "{err}");
    assert_eq!(s.count(NS).unwrap(), written);
    assert!(s.get(NS, format!("k{written}").as_bytes()).unwrap().is_none());
    // Deletes still work at the bound, and make room; raising the bound lets writes go on.
    assert!(s.delete(NS, b"k0").unwrap());
    s.set_max_bytes(None, Eviction::None).unwrap();
    s.put(NS, b"after", &value, MIN).unwrap();
    assert_eq!(s.stats().unwrap().evicted, 0);
}

#[test]
fn the_bound_is_kept_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    Store::open(&p, Options::default())
        .unwrap()
        .set_max_bytes(Some(1 << 20), Eviction::None)
        .unwrap();
    let s = Store::open(&p, Options::default()).unwrap();
    assert_eq!(s.max_bytes().unwrap(), (Some(1 << 20), Eviction::None));
}

#[test]
fn a_backup_taken_during_writes_opens_with_every_entry_and_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        dir.path().join("s"),
        Options::default().durability(Durability::Periodic {
            sync_interval: Duration::from_millis(100),
        }),
    )
    .unwrap();
    fill(&s, "base-", 20_000, 100, |i| Duration::from_secs(3600 + i as u64));
    // Make the file larger than the data: compaction must shrink the copy.
    for i in 0..10_000 {
        s.delete(NS, format!("base-{i:06}").as_bytes()).unwrap();
    }
    s.set_max_bytes(Some(64 << 20), Eviction::SoonestDeadline)
        .unwrap();
    let (_, v_before) = s.get_versioned(NS, b"base-019999").unwrap().unwrap();
    std::thread::scope(|sc| {
        let writer = sc.spawn(|| fill(&s, "during-", 5_000, 100, |_| MIN));
        for (name, compact) in [("full", false), ("compact", true)] {
            s.backup(dir.path().join(name), compact).unwrap();
        }
        writer.join().unwrap();
    });
    // Of one state, the compacted copy is the smaller: it leaves the deletes' free pages out.
    s.backup(dir.path().join("full-after"), false).unwrap();
    s.backup(dir.path().join("compact-after"), true).unwrap();
    let len = |name: &str| {
        std::fs::metadata(dir.path().join(name).join("data.mdb"))
            .unwrap()
            .len()
    };
    let (full_len, compact_len) = (len("full-after"), len("compact-after"));
    assert!(
        compact_len * 10 < full_len * 9,
        "compact {compact_len} vs full {full_len}"
    );
    for name in ["full", "compact"] {
        let path = dir.path().join(name);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(path.join("data.mdb")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let files: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, ["data.mdb"], "{name}: the copy is one file");
        let b = Store::open(&path, Options::default()).unwrap();
        let r = b.verify().unwrap();
        assert!(r.is_ok(), "{name}: {:?}", r.problems);
        // A store of its own: its own id, so its own origin in replication, where two stores
        // of one origin would pass for one. What the original wrote reads as the copy's own.
        assert_ne!(b.store_id().unwrap(), s.store_id().unwrap(), "{name}");
        assert_ne!(b.origin().unwrap(), s.origin().unwrap(), "{name}");
        let r = b.records(&[(NS, b"base-019998")]).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].origin, b.origin().unwrap());
        for i in 10_000..20_000 {
            let k = format!("base-{i:06}");
            assert_eq!(
                b.deadline(NS, k.as_bytes()).unwrap(),
                s.deadline(NS, k.as_bytes()).unwrap(),
                "{name} {k}"
            );
        }
        assert_eq!(
            b.max_bytes().unwrap(),
            (Some(64 << 20), Eviction::SoonestDeadline)
        );
        // A version read from the original never matches another value in the copy.
        b.put(NS, b"base-019999", b"changed", MIN).unwrap();
        assert_eq!(
            b.put_if_version(NS, b"base-019999", b"x", MIN, Some(v_before))
                .unwrap(),
            None
        );
        assert!(b.get_versioned(NS, b"base-019999").unwrap().unwrap().1 > v_before);
    }
    // Refused destinations: a non-empty directory, a file.
    assert_eq!(
        s.backup(dir.path().join("full"), false).unwrap_err().kind(),
        ErrorKind::PathInvalid
    );
    std::fs::write(dir.path().join("afile"), b"x").unwrap();
    assert_eq!(
        s.backup(dir.path().join("afile"), true).unwrap_err().kind(),
        ErrorKind::PathInvalid
    );
    assert_eq!(std::fs::read(dir.path().join("afile")).unwrap(), b"x");
}

/// A child process: `TTLKV_OPS_CHILD` = `ROLE:DIR`; runs 4 threads of the role. The shared
/// keys never expire: on a slow machine the run may outlast any TTL, and an expired counter
/// would start again from the delta (which is right, and not what this test is about).
#[test]
fn ops_child() {
    let Ok(spec) = std::env::var("TTLKV_OPS_CHILD") else {
        return;
    };
    let (role, dir) = spec.split_once(':').unwrap();
    let s = Store::open(dir, Options::default()).unwrap();
    let me = std::process::id();
    std::thread::scope(|sc| {
        for t in 0..4 {
            let s = &s;
            sc.spawn(move || match role {
                "incr" => {
                    for _ in 0..INCRS {
                        s.incr(NS, b"counter", 1, Some(TTL_NEVER)).unwrap();
                    }
                }
                "cas" => {
                    for _ in 0..ROUNDS / 10 {
                        loop {
                            let cur = s.get_versioned(NS, b"cas").unwrap();
                            let (n, v) = match cur {
                                Some((val, v)) => {
                                    (String::from_utf8(val).unwrap().parse::<u64>().unwrap(), Some(v))
                                }
                                None => (0, None),
                            };
                            let next = (n + 1).to_string();
                            if s.put_if_version(NS, b"cas", next.as_bytes(), TTL_NEVER, v)
                                .unwrap()
                                .is_some()
                            {
                                break;
                            }
                        }
                    }
                }
                "add" => {
                    for i in 0..ROUNDS / 10 {
                        let who = format!("{me}-{t}");
                        if s.add(NS, format!("slot-{i}").as_bytes(), who.as_bytes(), TTL_NEVER)
                            .unwrap()
                        {
                            println!("WON {i}");
                        }
                    }
                }
                "churn" => {
                    let value = vec![3u8; 1000];
                    for i in 0..ROUNDS / 2 {
                        let k = format!("churn-{me}-{t}-{i}");
                        s.put(NS, k.as_bytes(), &value, Duration::from_secs(600 + i as u64))
                            .unwrap();
                        if i % 100 == 0 {
                            println!("WON tree {}", s.stats().unwrap().tree_bytes);
                        }
                    }
                }
                "grow" if t == 0 => {
                    // 48 MB: beyond the 16 MiB map the parent opened with.
                    let big = vec![9u8; 1 << 20];
                    for i in 0..48 {
                        s.put(NS, format!("grow-{i}").as_bytes(), &big, TTL_NEVER)
                            .unwrap();
                    }
                }
                "grow" => {}
                other => panic!("unknown role {other}"),
            });
        }
    });
    s.close();
}

const ROUNDS: usize = 2_500;
/// Increments per thread: 16 threads in 4 processes, 160,000 in all.
const INCRS: usize = 10_000;

fn run_children(dir: &std::path::Path, role: &str) -> Vec<String> {
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "ops_child", "--nocapture", "--test-threads=1"])
                .env("TTLKV_OPS_CHILD", format!("{role}:{}", dir.display()))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut lines = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "a {role} child failed: {:?}", out.status);
        let text = String::from_utf8(out.stdout).unwrap();
        lines.extend(
            text.lines()
                .filter_map(|l| l.find("WON ").map(|at| l[at..].to_string())),
        );
    }
    lines
}

#[test]
fn four_processes_of_four_threads_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    Store::open(&p, Options::default()).unwrap().close();
    run_children(&p, "incr");
    let s = Store::open(&p, Options::default()).unwrap();
    assert_eq!(
        s.get(NS, b"counter").unwrap(),
        Some((16 * INCRS).to_string().into_bytes())
    );
    s.close();
    run_children(&p, "cas");
    let s = Store::open(&p, Options::default()).unwrap();
    assert_eq!(
        s.get(NS, b"cas").unwrap(),
        Some((16 * (ROUNDS / 10)).to_string().into_bytes())
    );
    s.close();
    let mut won = run_children(&p, "add");
    won.sort();
    let mut want: Vec<String> = (0..ROUNDS / 10).map(|i| format!("WON {i}")).collect();
    want.sort();
    assert_eq!(won, want, "every slot has exactly one winner");
    let s = Store::open(&p, Options::default()).unwrap();
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn processes_writing_at_once_keep_the_store_at_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    let bound = 1u64 << 20;
    {
        let s = Store::open(&p, Options::default()).unwrap();
        s.set_max_bytes(Some(bound), Eviction::SoonestDeadline).unwrap();
        fill(&s, "keep-", 50, 1000, |_| TTL_NEVER);
    }
    // 16 writers, 20 MB of puts: twenty times the bound.
    let lines = run_children(&p, "churn");
    let peak = lines
        .iter()
        .filter_map(|l| l.strip_prefix("WON tree "))
        .map(|n| n.parse::<u64>().unwrap())
        .max()
        .unwrap();
    assert!(
        peak <= bound + 64 * 1024,
        "tree reached {peak} with a bound of {bound}"
    );
    let s = Store::open(&p, Options::default()).unwrap();
    assert!(s.stats().unwrap().tree_bytes <= bound + 64 * 1024);
    for i in 0..50 {
        assert!(
            s.get(NS, format!("keep-{i:06}").as_bytes()).unwrap().is_some(),
            "never-expiring keep-{i} evicted"
        );
    }
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn every_entry_of_a_store_and_absolute_deadlines_for_tools() {
    let (_d, s, clock) = manual_store(1_000_000);
    s.put_many_until(&[
        (b"b", b"k1", b"v1", 2_000_000),
        (b"a", b"k2", b"v2", DEADLINE_NEVER),
    ])
    .unwrap();
    s.put(b"a", b"soon", b"x", Duration::from_millis(5)).unwrap();
    clock.advance(10);
    let mut seen = Vec::new();
    s.for_each_entry(None, |e| {
        seen.push((e.namespace.to_vec(), e.key.to_vec(), e.value.to_vec(), e.deadline));
        assert!(e.version > 0);
        true
    })
    .unwrap();
    assert_eq!(
        seen,
        vec![
            (b"a".to_vec(), b"k2".to_vec(), b"v2".to_vec(), DEADLINE_NEVER),
            (b"b".to_vec(), b"k1".to_vec(), b"v1".to_vec(), 2_000_000),
        ],
        "live entries only, namespace by namespace"
    );
    let mut only_b = 0;
    s.for_each_entry(Some(b"b"), |_| {
        only_b += 1;
        true
    })
    .unwrap();
    assert_eq!(only_b, 1);
    let mut first = 0;
    s.for_each_entry(None, |_| {
        first += 1;
        false
    })
    .unwrap();
    assert_eq!(first, 1, "stops when told");
    let e = s.put_many_until(&[(b"a", b"late", b"v", 999_999)]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TtlInvalid);
    assert!(s.get(b"a", b"late").unwrap().is_none());
    assert_eq!(s.deadline(b"b", b"k1").unwrap(), Some(2_000_000));
    // The reader table: this process's pooled slot at least, once it has read.
    let slots = s.readers().unwrap();
    assert!(slots.iter().any(|r| r.pid == std::process::id()), "{slots:?}");
}

#[test]
fn a_backup_adopts_a_map_another_process_grew() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    let s = Store::open(&p, Options::default()).unwrap();
    s.put(NS, b"mine", b"v", TTL_NEVER).unwrap();
    // Another process grows the store far beyond this process's map, then exits.
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "ops_child", "--nocapture", "--test-threads=1"])
        .env("TTLKV_OPS_CHILD", format!("grow:{}", p.display()))
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success()
        .then_some(())
        .expect("the growing child failed");
    for compact in [false, true] {
        let dest = dir.path().join(format!("copy-{compact}"));
        s.backup(&dest, compact).unwrap();
        let b = Store::open(&dest, Options::default()).unwrap();
        assert_eq!(b.count(NS).unwrap(), 49);
        assert!(b.verify().unwrap().is_ok());
    }
}

#[test]
fn lowering_the_bound_evicts_in_bounded_transactions_before_it_returns() {
    let (_d, s) = temp_store(Options::default().durability(Durability::Periodic {
        sync_interval: Duration::from_millis(100),
    }));
    let keys: Vec<[u8; 4]> = (0..60_000u32).map(|i| i.to_be_bytes()).collect();
    for chunk in keys.chunks(20_000) {
        let recs: Vec<ttlkv::RecordMs<'_>> = chunk
            .iter()
            .map(|k| (NS, &k[..], &[5u8; 40][..], 600_000))
            .collect();
        s.put_many_ms(&recs).unwrap();
    }
    let commits = s.stats().unwrap().write_commits;
    s.set_max_bytes(Some(256 << 10), Eviction::SoonestDeadline)
        .unwrap();
    let st = s.stats().unwrap();
    assert!(st.tree_bytes <= 256 << 10, "{st:?}");
    assert!(st.evicted > 50_000, "{st:?}");
    assert!(
        st.write_commits - commits >= 6,
        "at most 10,000 evictions per transaction: {st:?}"
    );
    assert!(s.verify().unwrap().is_ok());
}
