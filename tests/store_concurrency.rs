//! Threads and processes at once on one store, checked against models.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use ttlkv::{Options, Store};

/// A small deterministic generator, so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn eight_threads_of_mixed_operations_agree_with_a_model() {
    let (_d, s) = temp_store(Options::default());
    std::thread::scope(|sc| {
        for t in 0..8u8 {
            let s = s.clone();
            sc.spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
                let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
                let ns = [b't', b'0' + t];
                for i in 0..600u32 {
                    let key = format!("k{}", rng.below(40)).into_bytes();
                    match rng.below(10) {
                        0..=3 => {
                            let v = format!("{t}:{i}").into_bytes();
                            s.put(&ns, &key, &v, MIN).unwrap();
                            model.insert(key, v);
                        }
                        4..=6 => assert_eq!(s.get(&ns, &key).unwrap(), model.get(&key).cloned()),
                        7..=8 => assert_eq!(s.delete(&ns, &key).unwrap(), model.remove(&key).is_some()),
                        _ => {
                            let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
                            assert_eq!(s.keys(&ns).unwrap(), keys);
                        }
                    }
                    // A key every thread writes: any value read must be one some thread wrote.
                    if i % 7 == 0 {
                        s.put(b"shared", b"k", format!("{t}:{i}").as_bytes(), MIN)
                            .unwrap();
                        let v = s.get(b"shared", b"k").unwrap().unwrap();
                        let text = String::from_utf8(v).unwrap();
                        let (a, b) = text.split_once(':').unwrap();
                        assert!(a.parse::<u8>().unwrap() < 8 && b.parse::<u32>().unwrap() < 600);
                    }
                }
                for (k, v) in &model {
                    assert_eq!(s.get(&ns, k).unwrap().as_ref(), Some(v));
                }
            });
        }
    });
    let r = s.verify().unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
}

#[test]
fn concurrent_writers_with_expiring_keys_keep_the_index_consistent() {
    let (_d, s) = temp_store(Options::default().expiry_batch(64));
    std::thread::scope(|sc| {
        for t in 0..4u8 {
            let s = s.clone();
            sc.spawn(move || {
                let mut rng = Rng(77 + t as u64);
                for i in 0..400u32 {
                    let key = [t, rng.below(30) as u8];
                    let ttl = Duration::from_millis(1 + rng.below(30));
                    s.put(b"ns", &key, &i.to_be_bytes(), ttl).unwrap();
                    if i % 5 == 0 {
                        s.delete(b"ns", &key).unwrap();
                    }
                }
            });
        }
    });
    assert!(wait_until(Duration::from_secs(5), || s
        .keys(b"ns")
        .unwrap()
        .is_empty()));
    assert!(wait_until(Duration::from_secs(5), || s.verify().unwrap().entries == 0));
    let r = s.verify().unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!(r.index_records, 0);
}

/// The child half of the two-process test: writes its keys while the parent writes its own,
/// reads the parent's, and exits 0 only if everything it saw was right.
#[test]
fn two_process_child() {
    let Some(path) = std::env::var_os("TTLKV_CHILD_STORE") else {
        return;
    };
    let opts = match std::env::var("TTLKV_CHILD_MODE").as_deref() {
        Ok("periodic") => Options::default()
            .durability(ttlkv::Durability::Periodic {
                sync_interval: Duration::from_millis(10),
            })
            .write_map(true),
        _ => Options::default(),
    };
    let s = Store::open(path, opts).unwrap();
    for i in 0..500u32 {
        s.put(b"child", &i.to_be_bytes(), format!("c{i}").as_bytes(), MIN)
            .unwrap();
        s.put(b"short", &i.to_be_bytes(), b"x", Duration::from_millis(100))
            .unwrap();
    }
    // The parent writes "parent" keys at the same time; wait to see all of them.
    assert!(wait_until(Duration::from_secs(30), || s
        .keys(b"parent")
        .unwrap()
        .len()
        == 500));
    for i in 0..500u32 {
        assert_eq!(
            s.get(b"parent", &i.to_be_bytes()).unwrap(),
            Some(format!("p{i}").into_bytes())
        );
    }
    println!("CHILD OK");
}

#[test]
fn two_processes_share_one_store_at_once() {
    two_processes("sync", Options::default());
}

/// A `periodic` + write_map process writes through a writable map, a `sync` one with write(2):
/// both at once on one store.
#[test]
fn a_write_map_and_a_sync_process_share_one_store_at_once() {
    two_processes("periodic", Options::default());
    two_processes(
        "sync",
        Options::default()
            .durability(ttlkv::Durability::Periodic {
                sync_interval: Duration::from_millis(10),
            })
            .write_map(true),
    );
}

fn two_processes(child_mode: &str, opts: Options) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    // A tiny map, so that both processes grow it while the other is using it.
    let s = Store::open(&path, opts.map_size(64 << 10)).unwrap();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "two_process_child", "--nocapture", "--test-threads=1"])
        .env("TTLKV_CHILD_STORE", &path)
        .env("TTLKV_CHILD_MODE", child_mode)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for i in 0..500u32 {
        s.put(b"parent", &i.to_be_bytes(), format!("p{i}").as_bytes(), MIN)
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("CHILD OK"), "child: {text}");
    for i in 0..500u32 {
        assert_eq!(
            s.get(b"child", &i.to_be_bytes()).unwrap(),
            Some(format!("c{i}").into_bytes())
        );
    }
    // Keys with a short TTL written by the (now gone) child are removed by our expiry thread,
    // which notices other processes' deadlines within its capped sleep.
    assert!(wait_until(Duration::from_secs(5), || s
        .keys(b"short")
        .unwrap()
        .is_empty()));
    assert!(wait_until(Duration::from_secs(5), || s.verify().unwrap().entries == 1000));
    assert!(s.verify().unwrap().is_ok());
}
