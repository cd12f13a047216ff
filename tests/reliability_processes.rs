//! Many processes on one store: readers killed mid-read (their slots must be reclaimed), and
//! processes × threads of mixed operations with short TTLs, checked for impossible results.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ttlkv::{Options, Store};

const READER_SLOTS: u32 = 32;

fn soak() -> bool {
    std::env::var_os("TTLKV_SOAK").is_some()
}

fn child(test: &str, env: &[(&str, String)]) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", test, "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// A reader that opens the store, reads in a loop from two threads, and waits to be killed.
#[test]
fn dead_reader_child() {
    let Some(path) = std::env::var_os("TTLKV_READER_STORE") else {
        return;
    };
    let store = Store::open(path, Options::default().max_readers(READER_SLOTS)).unwrap();
    let reader = {
        let store = store.clone();
        std::thread::spawn(move || loop {
            std::hint::black_box(store.get(b"ns", b"k").unwrap());
        })
    };
    std::hint::black_box(store.keys(b"ns").unwrap());
    println!("READING");
    loop {
        std::hint::black_box(store.get(b"ns", b"k").unwrap());
        if reader.is_finished() {
            panic!("reader thread died");
        }
    }
}

#[test]
fn readers_killed_mid_read_do_not_exhaust_the_reader_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    // Only 32 slots, far fewer than the 200 processes that will die holding some.
    let store = Store::open(&path, Options::default().max_readers(READER_SLOTS)).unwrap();
    store.put(b"ns", b"k", b"v", common::MIN).unwrap();
    let rounds = if soak() { 1000 } else { 200 };
    for i in 0..rounds {
        let mut c = child(
            "dead_reader_child",
            &[("TTLKV_READER_STORE", path.display().to_string())],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
        let ready = lines.any(|l| l.map(|l| l.contains("READING")).unwrap_or(false));
        assert!(
            ready,
            "reader {i} never started reading (reader table exhausted?)"
        );
        c.kill().unwrap();
        c.wait().unwrap();
        // The survivors keep reading and writing.
        assert_eq!(store.get(b"ns", b"k").unwrap().as_deref(), Some(&b"v"[..]));
        if i % 20 == 0 {
            store
                .put(b"ns", format!("w{i}").as_bytes(), b"v", common::MIN)
                .unwrap();
        }
    }
    // A fresh process can still open and read.
    let fresh = Store::open(&path, Options::default().max_readers(READER_SLOTS)).unwrap();
    assert_eq!(fresh.keys(b"ns").unwrap().len(), 1 + rounds / 20);
    println!(
        "dead readers: {rounds} reader processes killed mid-read with {READER_SLOTS} slots; {} stale slots reclaimed by this process (each new process reclaims at open too)",
        store.stats().unwrap().readers_reclaimed
    );
}

/// One process of the concurrency suite: 4 threads of mixed operations for a bounded time.
/// Values carry their writer, sequence, deadline and a checksum; every read is checked.
#[test]
fn mixed_ops_child() {
    let Some(path) = std::env::var_os("TTLKV_MIXED_STORE") else {
        return;
    };
    let proc_id: u64 = std::env::var("TTLKV_MIXED_ID").unwrap().parse().unwrap();
    let secs: u64 = std::env::var("TTLKV_MIXED_SECS").unwrap().parse().unwrap();
    let store = Store::open(path, Options::default()).unwrap();
    let ops = std::sync::atomic::AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|sc| {
        for t in 0..4u64 {
            let (store, ops) = (&store, &ops);
            sc.spawn(move || {
                let mut x = 0xC0FF_EE00u64 ^ (proc_id << 16) ^ t;
                let mut seq = 0u64;
                while start.elapsed() < Duration::from_secs(secs) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = format!("k{}", x % 50);
                    match x % 8 {
                        0..=2 => {
                            let ttl = 5 + x % 60;
                            seq += 1;
                            let deadline_bound = now_ms() + ttl;
                            let body = format!("p{proc_id}t{t}s{seq}d{deadline_bound}");
                            let v = format!("{body}#{}", checksum(&body));
                            store
                                .put(b"mix", key.as_bytes(), v.as_bytes(), Duration::from_millis(ttl))
                                .unwrap();
                        }
                        3..=5 => {
                            let before = now_ms();
                            if let Some(v) = store.get(b"mix", key.as_bytes()).unwrap() {
                                check_value(&v, before);
                            }
                        }
                        6 => {
                            store.delete(b"mix", key.as_bytes()).unwrap();
                        }
                        _ => {
                            let before = now_ms();
                            for (_, v) in store.entries(b"mix").unwrap() {
                                check_value(&v, before);
                            }
                            std::hint::black_box(store.keys(b"mix").unwrap());
                        }
                    }
                    ops.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    println!("OPS {}", ops.load(std::sync::atomic::Ordering::Relaxed));
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn checksum(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// A value read must be one that was written (checksum) and not expired when the read began.
fn check_value(v: &[u8], read_started: u64) {
    let s = std::str::from_utf8(v).expect("a value that was never written (not UTF-8)");
    let (body, sum) = s
        .rsplit_once('#')
        .expect("a value that was never written (no checksum)");
    assert_eq!(
        sum.parse::<u64>().unwrap(),
        checksum(body),
        "a value that was never written: {s}"
    );
    let deadline: u64 = body.rsplit_once('d').unwrap().1.parse().unwrap();
    // The writer's bound is at most the stored deadline (it read the clock just before the
    // put), so a live entry has stored deadline > the reader's now >= read_started. The bound
    // trails the stored deadline by the time between the writer's clock read and the put's,
    // microseconds unless the writer was descheduled: allow 50 ms for that.
    assert!(
        deadline + 50 > read_started,
        "an expired value was returned: {s} read at {read_started}"
    );
}

#[test]
fn four_processes_of_four_threads_with_expiry_running_throughout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = Store::open(&path, Options::default()).unwrap();
    let secs = if soak() { 60 } else { 4 };
    let children: Vec<_> = (0..4)
        .map(|p| {
            child(
                "mixed_ops_child",
                &[
                    ("TTLKV_MIXED_STORE", path.display().to_string()),
                    ("TTLKV_MIXED_ID", p.to_string()),
                    ("TTLKV_MIXED_SECS", secs.to_string()),
                ],
            )
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut total = 0u64;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "a process failed: {text}");
        let ops: u64 = text
            .lines()
            .find_map(|l| l.split("OPS ").nth(1))
            .expect("no op count")
            .trim()
            .parse()
            .unwrap();
        total += ops;
    }
    // Everything written expires within 65 ms; the index drains and agrees with the entries.
    assert!(common::wait_until(Duration::from_secs(5), || store
        .keys(b"mix")
        .unwrap()
        .is_empty()));
    assert!(common::wait_until(Duration::from_secs(5), || store
        .verify()
        .unwrap()
        .entries
        == 0));
    let r = store.verify().unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    println!("concurrency: 4 processes x 4 threads, {total} operations in {secs} s, verify clean");
}
