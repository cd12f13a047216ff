//! Property test: random operation sequences with a manual clock against an in-memory model.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use ttlkv::{Clock, ManualClock, Options, Store};

#[derive(Clone, Debug)]
enum Op {
    Put { ns: u8, key: u8, value: u8, ttl: u64 },
    Get { ns: u8, key: u8 },
    Delete { ns: u8, key: u8 },
    Keys { ns: u8 },
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
        2 => (0..25u64).prop_map(Op::Advance),
        1 => Just(Op::Purge),
        1 => Just(Op::Reopen),
    ]
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
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_agree_with_a_model(ops in proptest::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let clock = ManualClock::new(1_000);
        let open = || Store::open(&path, Options::default().clock(Clock::Manual(clock.clone()))).unwrap();
        let mut s = open();
        let mut model: BTreeMap<(u8, Vec<u8>), (Vec<u8>, u64)> = BTreeMap::new();
        for op in ops {
            let now = clock.now_ms();
            model.retain(|_, (_, d)| *d > now);
            match op {
                Op::Put { ns, key, value, ttl } => {
                    s.put(&ns_name(ns), &[key], &[value], Duration::from_millis(ttl)).unwrap();
                    model.insert((ns, vec![key]), (vec![value], now + ttl));
                }
                Op::Get { ns, key } => {
                    let want = model.get(&(ns, vec![key])).map(|(v, _)| v.clone());
                    prop_assert_eq!(s.get(&ns_name(ns), &[key]).unwrap(), want);
                    let d = model.get(&(ns, vec![key])).map(|(_, d)| *d);
                    prop_assert_eq!(s.deadline(&ns_name(ns), &[key]).unwrap(), d);
                }
                Op::Delete { ns, key } => {
                    let existed = model.remove(&(ns, vec![key])).is_some();
                    prop_assert_eq!(s.delete(&ns_name(ns), &[key]).unwrap(), existed);
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
