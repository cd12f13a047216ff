//! Property test: random operation sequences with a manual clock against an in-memory model.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use ttlkv::{Clock, ManualClock, Options, Store};

#[derive(Clone, Debug)]
enum Op {
    Put {
        ns: u8,
        key: u8,
        value: u8,
        ttl: u64,
    },
    Get {
        ns: u8,
        key: u8,
    },
    Delete {
        ns: u8,
        key: u8,
    },
    Keys {
        ns: u8,
    },
    Touch {
        ns: u8,
        key: u8,
        ttl: u64,
    },
    Add {
        ns: u8,
        key: u8,
        value: u8,
        ttl: u64,
    },
    Incr {
        ns: u8,
        key: u8,
        delta: i64,
        create: Option<u64>,
    },
    Take {
        ns: u8,
        key: u8,
    },
    /// Compare-and-set with the version last read (`stale`: a version that is not current).
    PutIfVersion {
        ns: u8,
        key: u8,
        value: u8,
        ttl: u64,
        stale: bool,
    },
    GetMany {
        ns: u8,
        keys: Vec<u8>,
    },
    DeleteMany {
        ns: u8,
        keys: Vec<u8>,
    },
    Clear {
        ns: u8,
    },
    Count {
        ns: u8,
    },
    Namespaces,
    Scan {
        ns: u8,
        prefix: Option<u8>,
        after: Option<u8>,
        limit: usize,
    },
    Advance(u64),
    Purge,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3u8, 0..8u8, any::<u8>(), 1..40u64).prop_map(|(ns, key, value, ttl)| Op::Put { ns, key, value, ttl }),
        3 => (0..3u8, 0..8u8).prop_map(|(ns, key)| Op::Get { ns, key }),
        2 => (0..3u8, 0..8u8).prop_map(|(ns, key)| Op::Delete { ns, key }),
        1 => (0..3u8).prop_map(|ns| Op::Keys { ns }),
        2 => (0..3u8, 0..8u8, 1..40u64).prop_map(|(ns, key, ttl)| Op::Touch { ns, key, ttl }),
        2 => (0..3u8, 0..8u8, any::<u8>(), 1..40u64).prop_map(|(ns, key, value, ttl)| Op::Add { ns, key, value, ttl }),
        2 => (0..3u8, 0..8u8, -3..4i64, proptest::option::of(1..40u64))
            .prop_map(|(ns, key, delta, create)| Op::Incr { ns, key, delta, create }),
        1 => (0..3u8, 0..8u8).prop_map(|(ns, key)| Op::Take { ns, key }),
        2 => (0..3u8, 0..8u8, any::<u8>(), 1..40u64, any::<bool>())
            .prop_map(|(ns, key, value, ttl, stale)| Op::PutIfVersion { ns, key, value, ttl, stale }),
        1 => (0..3u8, proptest::collection::vec(0..8u8, 0..5)).prop_map(|(ns, keys)| Op::GetMany { ns, keys }),
        1 => (0..3u8, proptest::collection::vec(0..8u8, 0..5)).prop_map(|(ns, keys)| Op::DeleteMany { ns, keys }),
        1 => (0..3u8).prop_map(|ns| Op::Clear { ns }),
        1 => (0..3u8).prop_map(|ns| Op::Count { ns }),
        1 => Just(Op::Namespaces),
        2 => (0..3u8, proptest::option::of(0..8u8), proptest::option::of(0..8u8), 1..4usize)
            .prop_map(|(ns, prefix, after, limit)| Op::Scan { ns, prefix, after, limit }),
        2 => (0..25u64).prop_map(Op::Advance),
        1 => Just(Op::Purge),
        1 => Just(Op::Reopen),
    ]
}

/// Keys are one byte 0..8, or two (`k · k`) so that a one-byte prefix selects several.
fn key_of(k: u8) -> Vec<u8> {
    if k < 4 {
        vec![k]
    } else {
        vec![k % 4, k]
    }
}

fn ns_name(ns: u8) -> Vec<u8> {
    // Namespaces that are prefixes of each other, to catch prefix-scan mistakes.
    match ns {
        0 => b"a".to_vec(),
        1 => b"ab".to_vec(),
        _ => b"a:b".to_vec(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_agree_with_a_model(ops in proptest::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let clock = ManualClock::new(1_000);
        let open = || Store::open(&path, Options::default().clock(Clock::Manual(clock.clone()))).unwrap();
        let mut s = open();
        let mut model: BTreeMap<(u8, Vec<u8>), (Vec<u8>, u64)> = BTreeMap::new();
        // The version each key's current value has (learned from the store's answers).
        let mut versions: BTreeMap<(u8, Vec<u8>), u64> = BTreeMap::new();
        for op in ops {
            let now = clock.now_ms();
            model.retain(|_, (_, d)| *d > now);
            versions.retain(|k, _| model.contains_key(k));
            let ms = Duration::from_millis;
            match op {
                Op::Put { ns, key, value, ttl } => {
                    s.put(&ns_name(ns), &key_of(key), &[value], ms(ttl)).unwrap();
                    model.insert((ns, key_of(key)), (vec![value], now + ttl));
                    versions.remove(&(ns, key_of(key)));
                }
                Op::Get { ns, key } => {
                    let k = (ns, key_of(key));
                    let want = model.get(&k).map(|(v, _)| v.clone());
                    prop_assert_eq!(s.get(&ns_name(ns), &k.1).unwrap(), want.clone());
                    let d = model.get(&k).map(|(_, d)| *d);
                    prop_assert_eq!(s.deadline(&ns_name(ns), &k.1).unwrap(), d);
                    let got = s.get_versioned(&ns_name(ns), &k.1).unwrap();
                    prop_assert_eq!(got.as_ref().map(|(v, _)| v.clone()), want);
                    if let Some((_, v)) = got {
                        prop_assert!(v > 0);
                        if let Some(known) = versions.get(&k) {
                            prop_assert_eq!(*known, v, "a version changed without a write");
                        }
                        versions.insert(k, v);
                    }
                }
                Op::Delete { ns, key } => {
                    let existed = model.remove(&(ns, key_of(key))).is_some();
                    prop_assert_eq!(s.delete(&ns_name(ns), &key_of(key)).unwrap(), existed);
                }
                Op::Touch { ns, key, ttl } => {
                    let k = (ns, key_of(key));
                    let live = model.contains_key(&k);
                    prop_assert_eq!(s.touch(&ns_name(ns), &k.1, ms(ttl)).unwrap(), live);
                    if let Some(e) = model.get_mut(&k) {
                        e.1 = now + ttl;
                    }
                }
                Op::Add { ns, key, value, ttl } => {
                    let k = (ns, key_of(key));
                    let absent = !model.contains_key(&k);
                    prop_assert_eq!(s.add(&ns_name(ns), &k.1, &[value], ms(ttl)).unwrap(), absent);
                    if absent {
                        model.insert(k.clone(), (vec![value], now + ttl));
                        versions.remove(&k);
                    }
                }
                Op::Incr { ns, key, delta, create } => {
                    let k = (ns, key_of(key));
                    let got = s.incr(&ns_name(ns), &k.1, delta, create.map(ms));
                    match model.get_mut(&k) {
                        Some((v, _)) => match std::str::from_utf8(v).ok().and_then(|t| t.parse::<i64>().ok()) {
                            Some(n) if !v.starts_with(b"+") => {
                                prop_assert_eq!(got.unwrap(), Some(n + delta));
                                *v = (n + delta).to_string().into_bytes();
                                versions.remove(&k);
                            }
                            _ => prop_assert_eq!(got.unwrap_err().kind(), ttlkv::ErrorKind::NotACounter),
                        },
                        None => match create {
                            Some(ttl) => {
                                prop_assert_eq!(got.unwrap(), Some(delta));
                                model.insert(k, (delta.to_string().into_bytes(), now + ttl));
                            }
                            None => prop_assert_eq!(got.unwrap(), None),
                        },
                    }
                }
                Op::Take { ns, key } => {
                    let want = model.remove(&(ns, key_of(key))).map(|(v, _)| v);
                    prop_assert_eq!(s.take(&ns_name(ns), &key_of(key)).unwrap(), want);
                }
                Op::PutIfVersion { ns, key, value, ttl, stale } => {
                    let k = (ns, key_of(key));
                    let current = if model.contains_key(&k) { versions.get(&k).copied() } else { None };
                    // Only compare-and-set against what the model knows: absent, or a version read.
                    if model.contains_key(&k) && current.is_none() {
                        continue;
                    }
                    let expected = if stale { Some(current.map_or(7, |v| v - 1)) } else { current };
                    let got = s.put_if_version(&ns_name(ns), &k.1, &[value], ms(ttl), expected).unwrap();
                    if stale {
                        prop_assert_eq!(got, None);
                    } else {
                        let v = got.expect("the expected version was current");
                        prop_assert!(current.map_or(true, |c| v > c));
                        model.insert(k.clone(), (vec![value], now + ttl));
                        versions.insert(k, v);
                    }
                }
                Op::GetMany { ns, keys } => {
                    let ks: Vec<Vec<u8>> = keys.iter().map(|k| key_of(*k)).collect();
                    let refs: Vec<&[u8]> = ks.iter().map(|k| k.as_slice()).collect();
                    let want: Vec<Option<Vec<u8>>> =
                        ks.iter().map(|k| model.get(&(ns, k.clone())).map(|(v, _)| v.clone())).collect();
                    prop_assert_eq!(s.get_many(&ns_name(ns), &refs).unwrap(), want);
                }
                Op::DeleteMany { ns, keys } => {
                    let ks: Vec<Vec<u8>> = keys.iter().map(|k| key_of(*k)).collect();
                    let refs: Vec<&[u8]> = ks.iter().map(|k| k.as_slice()).collect();
                    let mut n = 0;
                    for k in &ks {
                        n += u64::from(model.remove(&(ns, k.clone())).is_some());
                    }
                    prop_assert_eq!(s.delete_many(&ns_name(ns), &refs).unwrap(), n);
                }
                Op::Clear { ns } => {
                    let before = model.len();
                    model.retain(|(n, _), _| *n != ns);
                    prop_assert_eq!(s.clear(&ns_name(ns)).unwrap(), (before - model.len()) as u64);
                }
                Op::Count { ns } => {
                    let n = model.keys().filter(|(n, _)| *n == ns).count() as u64;
                    prop_assert_eq!(s.count(&ns_name(ns)).unwrap(), n);
                }
                Op::Namespaces => {
                    let mut want: Vec<Vec<u8>> = model.keys().map(|(n, _)| ns_name(*n)).collect();
                    want.sort();
                    want.dedup();
                    prop_assert_eq!(s.namespaces().unwrap(), want);
                }
                Op::Scan { ns, prefix, after, limit } => {
                    let prefix: Vec<u8> = prefix.map(|p| vec![p % 4]).unwrap_or_default();
                    let after = after.map(key_of);
                    let want: Vec<(Vec<u8>, Vec<u8>)> = model
                        .iter()
                        .filter(|((n, k), _)| *n == ns && k.starts_with(&prefix) && after.as_ref().map_or(true, |a| k > a))
                        .take(limit)
                        .map(|((_, k), (v, _))| (k.clone(), v.clone()))
                        .collect();
                    prop_assert_eq!(s.scan(&ns_name(ns), &prefix, after.as_deref(), limit).unwrap(), want);
                }
                Op::Keys { ns } => {
                    let want: Vec<Vec<u8>> = model.keys().filter(|(n, _)| *n == ns).map(|(_, k)| k.clone()).collect();
                    prop_assert_eq!(s.keys(&ns_name(ns)).unwrap(), want);
                }
                Op::Advance(ms) => clock.advance(ms),
                Op::Purge => { s.purge_expired().unwrap(); }
                Op::Reopen => { s.close(); s = open(); }
            }
        }
        let r = s.verify().unwrap();
        prop_assert!(r.is_ok(), "{:?}", r.problems);
    }
}
