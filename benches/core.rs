//! `make bench-rust`: ttlkv against raw lmdb-rkv doing the same work, in one process and one
//! run (the machine is shared and noisy, so only ratios measured side by side mean anything).
//!
//! N = 100,000 distinct 32-byte keys, 256-byte values; raw LMDB runs one transaction per
//! operation. Set TTLKV_BENCH_N to change N, TTLKV_BENCH_EXPIRY_N for the expiry run.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::keys;
use lmdb::{Transaction, WriteFlags};
use ttlkv::{Clock, Durability, ManualClock, Options, Store};

const VALUE_LEN: usize = 256;
const MIN: Duration = Duration::from_secs(600);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rate(ops: usize, d: Duration) -> f64 {
    ops as f64 / d.as_secs_f64()
}

/// Runs `f(i)` for i in 0..n, stopping early once `budget` has passed; returns ops/s.
fn timed(n: usize, budget: Duration, mut f: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        f(done);
        done += 1;
        if done % 64 == 0 && start.elapsed() > budget {
            break;
        }
    }
    rate(done, start.elapsed())
}

/// Runs `peer` and `ours` alternately over `rounds` equal slices of 0..n, so that both see the
/// same machine load; returns the median rate of each side and the median of per-round ratios.
fn compare(
    n: usize,
    rounds: usize,
    budget: Duration,
    mut peer: impl FnMut(usize),
    mut ours: impl FnMut(usize),
) -> (f64, f64, f64) {
    let per = n / rounds;
    let (mut p, mut o, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let base = round * per;
        let pr = timed(per, budget / rounds as u32, |i| peer(base + i));
        let or = timed(per, budget / rounds as u32, |i| ours(base + i));
        p.push(pr);
        o.push(or);
        r.push(or / pr);
    }
    (median(&mut o), median(&mut p), median(&mut r))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn raw_env(dir: &Path, sync: bool) -> (lmdb::Environment, lmdb::Database) {
    std::fs::create_dir_all(dir).unwrap();
    let mut flags = lmdb::EnvironmentFlags::empty();
    if !sync {
        flags |= lmdb::EnvironmentFlags::NO_SYNC;
    }
    let env = lmdb::Environment::new()
        .set_flags(flags)
        .set_map_size(8 << 30)
        .open(dir)
        .unwrap();
    let db = env.open_db(None).unwrap();
    (env, db)
}

fn ttlkv_store(dir: &Path, durability: Durability) -> Store {
    Store::open(dir, Options::default().durability(durability).map_size(1 << 30)).unwrap()
}

struct Row {
    name: &'static str,
    ours: f64,
    peer: f64,
    ratio: f64,
    peer_name: &'static str,
    /// None: a price measured, with no target.
    target: Option<f64>,
}

fn print_rows(rows: &[Row]) {
    println!();
    println!("| operation | ttlkv ops/s | peer | peer ops/s | ratio | target | |");
    println!("|---|---:|---|---:|---:|---:|---|");
    for r in rows {
        let ratio = r.ratio;
        let (target, verdict) = match r.target {
            Some(t) => (format!("≥ {t:.2}"), if ratio >= t { "met" } else { "MISSED" }),
            None => ("—".to_string(), "measured"),
        };
        println!(
            "| {} | {:.0} | {} | {:.0} | {:.2} | {target} | {verdict} |",
            r.name, r.ours, r.peer_name, r.peer, ratio,
        );
    }
}

/// Bytes this process has passed to write(2) and its kin (`wchar` of /proc/self/io).
fn written_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n = env_usize("TTLKV_BENCH_N", 100_000);
    let expiry_n = env_usize("TTLKV_BENCH_EXPIRY_N", 1_000_000);
    let tmp = tempfile::tempdir_in(std::env::var("TTLKV_BENCH_DIR").unwrap_or_else(|_| ".".into()))
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let value = [0xA5u8; VALUE_LEN];
    let ks = keys(n, b'h');
    let misses = keys(n, b'm');
    let mut rows = Vec::new();
    println!(
        "ttlkv core benchmark: N = {n}, 32-byte keys, {VALUE_LEN}-byte values, {}",
        ttlkv::lmdb_version()
    );

    // --- puts without fsync: ttlkv periodic vs raw MDB_NOSYNC ---
    let budget = Duration::from_secs(30);
    let (raw, db) = raw_env(&tmp.path().join("raw-nosync"), false);
    let s = ttlkv_store(
        &tmp.path().join("ttlkv-periodic"),
        Durability::Periodic {
            sync_interval: Duration::from_secs(1),
        },
    );
    let (o, p, r) = compare(
        n,
        10,
        budget,
        |i| {
            let mut t = raw.begin_rw_txn().unwrap();
            t.put(db, &ks[i], &value, WriteFlags::empty()).unwrap();
            t.commit().unwrap();
        },
        |i| s.put(b"bench", &ks[i], &value, MIN).unwrap(),
    );
    rows.push(Row {
        name: "put, periodic",
        ours: o,
        peer: p,
        ratio: r,
        peer_name: "LMDB put, MDB_NOSYNC",
        target: Some(0.8),
    });

    // What a commit writes, each side: bytes passed to write(2) per put of a new key (LMDB
    // writes each dirty page, then the meta page). A put writes an index record beside the
    // entry, so its commit dirties that leaf and its branch too.
    let extra = keys(5_000, b'w');
    let per_commit = |f: &mut dyn FnMut(&[u8])| {
        let before = written_bytes();
        for k in &extra {
            f(k);
        }
        (written_bytes() - before) as f64 / extra.len() as f64
    };
    let raw_w = per_commit(&mut |k| {
        let mut t = raw.begin_rw_txn().unwrap();
        t.put(db, &k, &value, WriteFlags::empty()).unwrap();
        t.commit().unwrap();
    });
    let our_w = per_commit(&mut |k| s.put(b"bench", k, &value, MIN).unwrap());
    println!(
        "bytes written per put (new keys, periodic): ttlkv {our_w:.0} ({:.1} pages), raw LMDB {raw_w:.0} ({:.1} pages): {:.2}x",
        our_w / 4096.0,
        raw_w / 4096.0,
        our_w / raw_w
    );

    // --- the same puts through a writable map (periodic + write_map) ---
    let wm = Store::open(
        tmp.path().join("ttlkv-write-map"),
        Options::default()
            .durability(Durability::Periodic {
                sync_interval: Duration::from_secs(1),
            })
            .write_map(true)
            .map_size(1 << 30),
    )
    .unwrap();
    let (raw2, db2) = raw_env(&tmp.path().join("raw-nosync-2"), false);
    let (o, p, r) = compare(
        n,
        10,
        budget,
        |i| {
            let mut t = raw2.begin_rw_txn().unwrap();
            t.put(db2, &ks[i], &value, WriteFlags::empty()).unwrap();
            t.commit().unwrap();
        },
        |i| wm.put(b"bench", &ks[i], &value, MIN).unwrap(),
    );
    wm.close();
    drop(raw2);
    rows.push(Row {
        name: "put, periodic + write_map",
        ours: o,
        peer: p,
        ratio: r,
        peer_name: "LMDB put, MDB_NOSYNC",
        target: Some(0.8),
    });

    // --- crash_safe: what keeping the last flush reachable costs, against plain periodic ---
    // New keys (as above), then overwrites of 20,000 keys, the worst case: every commit copies
    // its path to new pages while the last flush's snapshot is pinned.
    for (name, overwrite) in [
        ("put, periodic + crash_safe (new keys)", false),
        ("put, periodic + crash_safe (overwrites of 20k keys)", true),
    ] {
        let open = |dir: &str, safe: bool| {
            Store::open(
                tmp.path().join(dir),
                Options::default()
                    .durability(Durability::Periodic {
                        sync_interval: Duration::from_secs(1),
                    })
                    .crash_safe(safe)
                    .map_size(1 << 30),
            )
            .unwrap()
        };
        let tag = if overwrite { "ow" } else { "new" };
        let plain = open(&format!("plain-{tag}"), false);
        let safe = open(&format!("safe-{tag}"), true);
        let key = |i: usize| if overwrite { &ks[i % 20_000.min(n)] } else { &ks[i] };
        let (o, p, r) = compare(
            n,
            10,
            budget,
            |i| plain.put(b"bench", key(i), &value, MIN).unwrap(),
            |i| safe.put(b"bench", key(i), &value, MIN).unwrap(),
        );
        let used = |s: &Store| s.stats().unwrap().used_bytes >> 20;
        println!(
            "{name}: {o:.0} puts/s against {p:.0} plain ({r:.2}x); pages in use {} MiB against {} MiB plain",
            used(&safe),
            used(&plain)
        );
        safe.close();
        plain.close();
        rows.push(Row {
            name,
            ours: o,
            peer: p,
            ratio: r,
            peer_name: "ttlkv put, periodic",
            target: None,
        });
    }

    // --- gets: hit and miss, one read transaction per raw get ---
    let raw_get = |k: &[u8]| {
        let t = raw.begin_ro_txn().unwrap();
        std::hint::black_box(t.get(db, &k).map(|v| v.len()).ok());
    };
    for k in &ks {
        raw_get(k);
        std::hint::black_box(s.get_with(b"bench", k, |v| v.len()).unwrap());
    }
    // Copying the value out of the transaction is the same work on both sides.
    let raw_get_copy = |k: &[u8]| {
        let t = raw.begin_ro_txn().unwrap();
        std::hint::black_box(t.get(db, &k).map(|v| v.to_vec()).ok());
    };
    let (o, p, r) = compare(
        n,
        10,
        budget,
        |i| raw_get_copy(&ks[i]),
        |i| {
            std::hint::black_box(s.get(b"bench", &ks[i]).unwrap().unwrap());
        },
    );
    rows.push(Row {
        name: "get, hit (copy out)",
        ours: o,
        peer: p,
        ratio: r,
        peer_name: "LMDB get + copy, 1 txn/get",
        target: Some(0.8),
    });
    let (o, p, r) = compare(
        n,
        10,
        budget,
        |i| raw_get(&ks[i]),
        |i| {
            std::hint::black_box(s.get_with(b"bench", &ks[i], |v| v.len()).unwrap().unwrap());
        },
    );
    rows.push(Row {
        name: "get, hit (get_with, borrowed)",
        ours: o,
        peer: p,
        ratio: r,
        peer_name: "LMDB get, 1 txn/get",
        target: Some(0.8),
    });
    let (o, p, r) = compare(
        n,
        10,
        budget,
        |i| raw_get(&misses[i]),
        |i| {
            std::hint::black_box(s.get(b"bench", &misses[i]).unwrap().is_none());
        },
    );
    rows.push(Row {
        name: "get, miss",
        ours: o,
        peer: p,
        ratio: r,
        peer_name: "LMDB get, 1 txn/get",
        target: Some(0.8),
    });
    drop(raw);
    s.close();

    // --- puts with fsync: one thread against raw, then eight threads against one ---
    let sync_budget = Duration::from_secs(env_usize("TTLKV_BENCH_SYNC_SECS", 6) as u64);
    let (raw, db) = raw_env(&tmp.path().join("raw-sync"), true);
    let s = ttlkv_store(&tmp.path().join("ttlkv-sync"), Durability::Sync);
    let (our_sync, p, r) = compare(
        n,
        10,
        sync_budget,
        |i| {
            let mut t = raw.begin_rw_txn().unwrap();
            t.put(db, &ks[i], &value, WriteFlags::empty()).unwrap();
            t.commit().unwrap();
        },
        |i| s.put(b"bench", &ks[i], &value, MIN).unwrap(),
    );
    drop(raw);
    rows.push(Row {
        name: "put, sync, 1 thread",
        ours: our_sync,
        peer: p,
        ratio: r,
        peer_name: "LMDB put, default sync",
        target: Some(0.95),
    });
    s.close();

    // --- group commit: eight sync writers against one, at the disk's fsync latency and at a
    // slower one (a commit delay of 1 ms, a test hook), counting the puts each commit carried ---
    let threads = 8;
    for (name, delay) in [
        ("put, sync, 8 threads", Duration::ZERO),
        ("put, sync, 8 threads, +1 ms per commit", Duration::from_millis(1)),
    ] {
        let s = Store::open(
            tmp.path().join(format!("ttlkv-group-{}", delay.as_micros())),
            Options::default().map_size(1 << 30).commit_delay(delay),
        )
        .unwrap();
        let mut ratios = Vec::new();
        let mut rates8 = Vec::new();
        let mut rates1 = Vec::new();
        let mut per_commit = Vec::new();
        for round in 0..3 {
            let slice = sync_budget / 6;
            let one = timed(n, slice, |i| {
                s.put(b"bench1", &ks[(i * 7 + round) % n], &value, MIN).unwrap()
            });
            let before = s.stats().unwrap();
            let total = AtomicU64::new(0);
            let start = Instant::now();
            std::thread::scope(|sc| {
                for t in 0..threads {
                    let (s, ks, total) = (&s, &ks, &total);
                    sc.spawn(move || {
                        let mut i = t + round * 1000;
                        while start.elapsed() < slice {
                            s.put(b"bench8", &ks[i % ks.len()], &value, MIN).unwrap();
                            total.fetch_add(1, Ordering::Relaxed);
                            i += threads;
                        }
                    });
                }
            });
            let eight = rate(total.load(Ordering::Relaxed) as usize, start.elapsed());
            let after = s.stats().unwrap();
            per_commit.push(
                (after.write_calls - before.write_calls) as f64
                    / (after.write_commits - before.write_commits).max(1) as f64,
            );
            rates1.push(one);
            rates8.push(eight);
            ratios.push(eight / one);
        }
        println!(
            "{name}: {:.1} puts per commit (median of 3 rounds; 8 is every writer in each)",
            median(&mut per_commit)
        );
        rows.push(Row {
            name,
            ours: median(&mut rates8),
            peer: median(&mut rates1),
            ratio: median(&mut ratios),
            peer_name: "ttlkv put, sync, 1 thread",
            target: Some(6.0),
        });
        s.close();
    }

    print_rows(&rows);

    // --- expiry of many due keys while gets keep running ---
    println!();
    let path = tmp.path().join("ttlkv-expiry");
    let clock = ManualClock::new(1_000_000_000);
    let opts = || {
        Options::default()
            .clock(Clock::Manual(clock.clone()))
            .map_size(1 << 30)
            .durability(Durability::Periodic {
                sync_interval: Duration::from_secs(1),
            })
    };
    {
        let s = Store::open(&path, opts()).unwrap();
        let ek = keys(expiry_n, b'e');
        for chunk in ek.chunks(20_000) {
            let recs: Vec<_> = chunk
                .iter()
                .map(|k| (&b"exp"[..], &k[..], &value[..], 1_000u64))
                .collect();
            s.put_many_ms(&recs).unwrap();
        }
        for k in ks.iter().take(10_000) {
            s.put(b"live", k, &value, MIN).unwrap();
        }
        s.flush().unwrap();
    }
    clock.advance(10_000); // every "exp" key is now past due
    let rss_before = rss_kib();
    let open_start = Instant::now();
    let s = Store::open(&path, opts()).unwrap();
    let open_time = open_start.elapsed();
    let rss_after = rss_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (s, stop, reads, ks) = (s.clone(), stop.clone(), reads.clone(), ks.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                assert!(s.get(b"live", &ks[i % ks.len().min(10_000)]).unwrap().is_some());
                reads.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    let start = Instant::now();
    while s.stats().unwrap().expired_removed < expiry_n as u64 {
        std::thread::sleep(Duration::from_millis(1));
        assert!(start.elapsed() < Duration::from_secs(120), "expiry stalled");
    }
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    let removal_rate = rate(expiry_n, took);
    println!(
        "| expiry of {expiry_n} due keys | {removal_rate:.0} keys/s removed in {took:.2?}, {} gets/s alongside | target ≥ 200000 keys/s | {} |",
        reads.load(Ordering::Relaxed) as f64 / took.as_secs_f64(),
        if removal_rate >= 200_000.0 { "met" } else { "MISSED" }
    );
    s.close();

    // --- open of a store holding many keys: time and resident memory ---
    {
        let s = Store::open(&path, opts()).unwrap();
        let ek = keys(expiry_n, b'o');
        for chunk in ek.chunks(20_000) {
            let recs: Vec<_> = chunk
                .iter()
                .map(|k| (&b"open"[..], &k[..], &value[..], 3_600_000u64))
                .collect();
            s.put_many_ms(&recs).unwrap();
        }
        s.flush().unwrap();
    }
    let small = tmp.path().join("small");
    {
        let s = Store::open(&small, Options::default()).unwrap();
        s.put(b"x", b"k", b"v", MIN).unwrap();
    }
    let mut open_big = Duration::MAX;
    let mut rss_delta_big = 0;
    let mut rss_delta_small = 0;
    for _ in 0..3 {
        let r0 = rss_kib();
        let t = Instant::now();
        let s = Store::open(&path, opts()).unwrap();
        open_big = open_big.min(t.elapsed());
        rss_delta_big = rss_kib().saturating_sub(r0);
        s.close();
        let r0 = rss_kib();
        let s = Store::open(&small, Options::default()).unwrap();
        rss_delta_small = rss_kib().saturating_sub(r0);
        s.close();
    }
    println!(
        "| open of a store holding {expiry_n} keys | {open_big:.2?} (first open with due keys: {open_time:.2?}) | target < 50 ms | {} |",
        if open_big < Duration::from_millis(50) { "met" } else { "MISSED" }
    );
    println!(
        "| resident memory added by open | {rss_delta_big} KiB with {expiry_n} keys, {rss_delta_small} KiB with 1 key (first open: {} KiB) | independent of keys | {} |",
        rss_after.saturating_sub(rss_before),
        if rss_delta_big <= rss_delta_small + 1024 { "met" } else { "MISSED" }
    );
}
