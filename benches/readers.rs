//! Get latency beside another process's long write transactions and map growth.
//!
//! The multi-process rule "a read never waits for a writer" as a measurement: one process
//! reads (and writes a little, so its own writer queues behind the other process's), first with
//! the store quiet, then while a second process (this binary re-run) commits batches of 50,000
//! records, growing the store — and the map of the reading process, which must adopt each
//! growth — from a 1 MiB map. The quiet and busy rounds alternate; latencies are per get.
//!
//! `make bench-readers` (part of `make bench-rust`). TTLKV_BENCH_SECS sets a round's length.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ttlkv::{Options, Store};

const MIN: Duration = Duration::from_secs(600);

/// The writer process: batches back to back until killed, every record new, so the store
/// and its map keep growing (1 MiB, doubling, then 1 GiB steps). The records are made before
/// the first commit, so the writer lock is free only between two commits.
fn writer(dir: &Path) {
    let s = Store::open(dir, Options::default().map_size(1 << 20)).unwrap();
    let value = vec![0x5Au8; 1000];
    let keys: Vec<Vec<String>> = (0..40)
        .map(|round| (0..50_000).map(|i| format!("w{round}-{i}")).collect())
        .collect();
    for (round, keys) in keys.iter().enumerate() {
        let recs: Vec<_> = keys
            .iter()
            .map(|k| (&b"bench"[..], k.as_bytes(), &value[..], 60_000u64))
            .collect();
        s.put_many_ms(&recs).unwrap();
        println!("BATCH {round}");
    }
}

fn percentiles(mut v: Vec<u64>) -> [u64; 6] {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    let slow = v.iter().filter(|&&ns| ns > 1_000_000).count() as u64;
    [
        at(0.5),
        at(0.99),
        at(0.999),
        at(0.99999),
        *v.last().unwrap(),
        slow,
    ]
}

/// Gets for `secs` from one thread while another thread of this process puts now and then.
fn measure(s: &Store, secs: u64) -> Vec<u64> {
    let stop = AtomicBool::new(false);
    let mut lat = Vec::with_capacity(1 << 20);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                s.put(b"bench", format!("own-{}", i % 1000).as_bytes(), b"v", MIN)
                    .unwrap();
                i += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let end = Instant::now() + Duration::from_secs(secs);
        let mut i = 0u64;
        while Instant::now() < end {
            let k = format!("r{}", i % 10_000);
            let t = Instant::now();
            std::hint::black_box(s.get(b"bench", k.as_bytes()).unwrap());
            lat.push(t.elapsed().as_nanos() as u64);
            i += 1;
        }
        stop.store(true, Ordering::Relaxed);
    });
    lat
}

fn main() {
    if let Some(dir) = std::env::var_os("TTLKV_BENCH_WRITER") {
        writer(Path::new(&dir));
        return;
    }
    let secs: u64 = std::env::var("TTLKV_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let rounds = 3;
    println!("get latency beside another process's long writes: {rounds} alternating rounds of {secs} s");
    let mut quiet_all = Vec::new();
    let mut busy_all = Vec::new();
    let mut batches = 0;
    for _ in 0..rounds {
        // A fresh store each round, so each busy round grows it (and this process's map) again.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        let s = Store::open(&dir, Options::default().map_size(1 << 20)).unwrap();
        for i in 0..10_000 {
            s.put(b"bench", format!("r{i}").as_bytes(), &[7u8; 100], MIN)
                .unwrap();
        }
        quiet_all.extend(measure(&s, secs));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("TTLKV_BENCH_WRITER", &dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        busy_all.extend(measure(&s, secs));
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        batches += String::from_utf8_lossy(&out.stdout).lines().count();
        let map = s.stats().unwrap().map_size;
        println!(
            "  round: other process committed batches; this process's map is now {} MiB",
            map >> 20
        );
    }
    let q = percentiles(quiet_all);
    let b = percentiles(busy_all);
    println!();
    let us = |ns: u64| format!("{:.1} µs", ns as f64 / 1000.0);
    println!("| get latency | p50 | p99 | p99.9 | p99.999 | max | gets over 1 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, p) in [
        ("store quiet".to_string(), q),
        (
            format!("beside {batches} batches of 50,000 records from another process"),
            b,
        ),
    ] {
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            us(p[0]),
            us(p[1]),
            us(p[2]),
            us(p[3]),
            us(p[4]),
            p[5]
        );
    }
    println!(
        "| busy / quiet | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x | |",
        b[0] as f64 / q[0] as f64,
        b[1] as f64 / q[1] as f64,
        b[2] as f64 / q[2] as f64,
        b[3] as f64 / q[3] as f64,
        b[4] as f64 / q[4] as f64
    );
}
