//! `make bench-ops`: the cache operations against the operation they replace, in one process
//! and one run (only ratios measured side by side mean anything on a shared machine):
//!
//! - touch, add, incr, take, each against a put of the same store (periodic durability, so
//!   the CPU cost of each is measured, not the disk's fsync);
//! - get_many of 100 keys against 100 gets;
//! - puts into a store held at its size bound (evicting) against puts into one below it;
//! - clear of 1,000,000 entries, in keys per second;
//! - backup of a 1 GB store against `dd` writing as many bytes sequentially with fsync.
//!
//! TTLKV_BENCH_N (100,000 operations), TTLKV_BENCH_CLEAR_N and TTLKV_BENCH_BACKUP_MB change
//! the sizes.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::keys;
use ttlkv::{Durability, Eviction, Options, Store};

const VALUE_LEN: usize = 256;
const MIN: Duration = Duration::from_secs(600);
const ROUNDS: usize = 5;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn open(dir: &Path) -> Store {
    Store::open(
        dir,
        Options::default()
            .durability(Durability::Periodic {
                sync_interval: Duration::from_secs(1),
            })
            .map_size(1 << 30),
    )
    .unwrap()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Ops/s of `f(i)` for i in `range`.
fn rate(range: std::ops::Range<usize>, mut f: impl FnMut(usize)) -> f64 {
    let n = range.len();
    let start = Instant::now();
    for i in range {
        f(i);
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Runs `peer` and `ours` alternately over ROUNDS slices of 0..n; medians of each side's rate
/// and of the per-round ratios.
fn compare(n: usize, mut peer: impl FnMut(usize), mut ours: impl FnMut(usize)) -> (f64, f64, f64) {
    let per = n / ROUNDS;
    let (mut p, mut o, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let base = round * per;
        let pr = rate(base..base + per, &mut peer);
        let or = rate(base..base + per, &mut ours);
        p.push(pr);
        o.push(or);
        r.push(or / pr);
    }
    (median(&mut o), median(&mut p), median(&mut r))
}

struct Row {
    name: String,
    ours: f64,
    peer_name: &'static str,
    peer: f64,
    ratio: f64,
    target: f64,
    unit: &'static str,
}

fn main() {
    let n = env_usize("TTLKV_BENCH_N", 100_000);
    let tmp = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    let value = vec![0x5au8; VALUE_LEN];
    let ks = keys(n, b'o');

    // touch / add / incr / take against put, each on its own store (same state for both).
    for op in ["touch", "add", "incr", "take"] {
        let s = open(&tmp.path().join(op));
        // The entries the operation works on, written before timing.
        let pre = |s: &Store| {
            for chunk in ks.chunks(10_000) {
                let recs: Vec<ttlkv::RecordMs<'_>> = chunk
                    .iter()
                    .map(|k| {
                        (
                            &b"t"[..],
                            &k[..],
                            if op == "incr" { &b"1"[..] } else { &value[..] },
                            600_000,
                        )
                    })
                    .collect();
                s.put_many_ms(&recs).unwrap();
            }
        };
        if op != "add" {
            pre(&s);
        }
        // The put it is measured against overwrites entries of a namespace of the same size.
        let put_keys = keys(n, b'p');
        for chunk in put_keys.chunks(10_000) {
            let recs: Vec<ttlkv::RecordMs<'_>> = chunk
                .iter()
                .map(|k| (&b"p"[..], &k[..], &value[..], 600_000))
                .collect();
            s.put_many_ms(&recs).unwrap();
        }
        let (ours, peer, ratio) = compare(
            n,
            |i| s.put(b"p", &put_keys[i], &value, MIN).unwrap(),
            |i| match op {
                "touch" => assert!(s.touch(b"t", &ks[i], MIN).unwrap()),
                "add" => assert!(s.add(b"t", &ks[i], &value, MIN).unwrap()),
                "incr" => assert_eq!(s.incr(b"t", &ks[i], 1, None).unwrap(), Some(2)),
                _ => assert!(s.take(b"t", &ks[i]).unwrap().is_some()),
            },
        );
        rows.push(Row {
            name: op.to_string(),
            ours,
            peer_name: "put",
            peer,
            ratio,
            target: 1.0 / 1.2,
            unit: "ops/s",
        });
        s.close();
    }

    // get_many of 100 keys against 100 gets.
    {
        let s = open(&tmp.path().join("many"));
        for chunk in ks.chunks(10_000) {
            let recs: Vec<ttlkv::RecordMs<'_>> = chunk
                .iter()
                .map(|k| (&b"m"[..], &k[..], &value[..], 600_000))
                .collect();
            s.put_many_ms(&recs).unwrap();
        }
        let groups: Vec<Vec<&[u8]>> = ks
            .chunks(100)
            .map(|c| c.iter().map(|k| &k[..]).collect())
            .collect();
        let g = groups.len();
        let (ours, peer, ratio) = compare(
            g * ROUNDS,
            |i| {
                for k in &groups[i % g] {
                    assert!(s.get(b"m", k).unwrap().is_some());
                }
            },
            |i| assert_eq!(s.get_many(b"m", &groups[i % g]).unwrap().len(), 100),
        );
        rows.push(Row {
            name: "get_many of 100 keys".into(),
            ours,
            peer_name: "100 gets",
            peer,
            ratio,
            target: 5.0,
            unit: "calls/s",
        });
    }

    // Puts into a store at its bound (each evicts) against puts into one below it.
    {
        let below = open(&tmp.path().join("below"));
        let at = open(&tmp.path().join("at"));
        let bound = 16u64 << 20;
        at.set_max_bytes(Some(bound), Eviction::SoonestDeadline).unwrap();
        let fill = keys(200_000, b'f');
        for (i, k) in fill.iter().enumerate() {
            at.put(b"b", k, &value, Duration::from_secs(600 + i as u64))
                .unwrap();
        }
        assert!(
            at.stats().unwrap().evicted > 0,
            "the store did not reach its bound"
        );
        let (ours, peer, ratio) = compare(
            n,
            |i| {
                below
                    .put(b"b", &ks[i], &value, MIN + Duration::from_secs(i as u64))
                    .unwrap()
            },
            |i| {
                at.put(b"b", &ks[i], &value, MIN * 2 + Duration::from_secs(i as u64))
                    .unwrap()
            },
        );
        assert!(at.stats().unwrap().tree_bytes <= bound + (64 << 10));
        rows.push(Row {
            name: "put at the size bound (evicting)".into(),
            ours,
            peer_name: "put below it",
            peer,
            ratio,
            target: 0.7,
            unit: "ops/s",
        });
    }

    // clear of 1,000,000 entries.
    {
        let cn = env_usize("TTLKV_BENCH_CLEAR_N", 1_000_000);
        let s = open(&tmp.path().join("clear"));
        let ck = keys(cn, b'c');
        for chunk in ck.chunks(50_000) {
            let recs: Vec<ttlkv::RecordMs<'_>> = chunk
                .iter()
                .map(|k| (&b"c"[..], &k[..], &b"v"[..], 600_000))
                .collect();
            s.put_many_ms(&recs).unwrap();
        }
        let start = Instant::now();
        assert_eq!(s.clear(b"c").unwrap(), cn as u64);
        let kps = cn as f64 / start.elapsed().as_secs_f64();
        rows.push(Row {
            name: format!("clear of {cn} entries"),
            ours: kps,
            peer_name: "target 500,000 keys/s",
            peer: 500_000.0,
            ratio: kps / 500_000.0,
            target: 1.0,
            unit: "keys/s",
        });
    }

    // Backup of a 1 GB store against dd writing as many bytes.
    {
        let mb = env_usize("TTLKV_BENCH_BACKUP_MB", 1024);
        let s = Store::open(
            tmp.path().join("big"),
            Options::default()
                .durability(Durability::Periodic {
                    sync_interval: Duration::from_secs(1),
                })
                .map_size((mb + 256) << 20),
        )
        .unwrap();
        let big = vec![0xa5u8; 64 << 10];
        let count = (mb << 20) / big.len();
        let bk: Vec<String> = (0..count).map(|i| format!("big-{i:08}")).collect();
        for chunk in bk.chunks(256) {
            let recs: Vec<ttlkv::RecordMs<'_>> = chunk
                .iter()
                .map(|k| (&b"g"[..], k.as_bytes(), &big[..], 3_600_000))
                .collect();
            s.put_many_ms(&recs).unwrap();
        }
        s.flush().unwrap();
        let bytes = std::fs::metadata(tmp.path().join("big/data.mdb")).unwrap().len();
        let used = s.stats().unwrap().used_bytes;
        let (mut ours, mut peer, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..3 {
            let dd_out = tmp.path().join(format!("dd-{round}"));
            let start = Instant::now();
            let st = std::process::Command::new("dd")
                .args([
                    "if=/dev/zero",
                    &format!("of={}", dd_out.display()),
                    "bs=1M",
                    &format!("count={}", used >> 20),
                    "conv=fsync",
                    "status=none",
                ])
                .status()
                .unwrap();
            assert!(st.success());
            let dd_rate = (used >> 20 << 20) as f64 / start.elapsed().as_secs_f64();
            std::fs::remove_file(&dd_out).unwrap();
            let dest = tmp.path().join(format!("backup-{round}"));
            let start = Instant::now();
            s.backup(&dest, false).unwrap();
            // As durable as dd's: the copy is on disk when the time stops.
            std::fs::File::open(dest.join("data.mdb"))
                .unwrap()
                .sync_all()
                .unwrap();
            let ours_rate = used as f64 / start.elapsed().as_secs_f64();
            std::fs::remove_dir_all(&dest).unwrap();
            ours.push(ours_rate / 1e6);
            peer.push(dd_rate / 1e6);
            ratios.push(ours_rate / dd_rate);
        }
        rows.push(Row {
            name: format!("backup of a {} MB store ({} MB file)", used >> 20, bytes >> 20),
            ours: median(&mut ours),
            peer_name: "dd conv=fsync",
            peer: median(&mut peer),
            ratio: median(&mut ratios),
            target: 0.5,
            unit: "MB/s",
        });
    }

    println!();
    println!("| operation | ttlkv | peer | peer | ratio | target | |");
    println!("|---|---:|---|---:|---:|---:|---|");
    for r in &rows {
        println!(
            "| {} | {:.0} {} | {} | {:.0} | {:.2} | ≥ {:.2} | {} |",
            r.name,
            r.ours,
            r.unit,
            r.peer_name,
            r.peer,
            r.ratio,
            r.target,
            if r.ratio >= r.target { "met" } else { "MISSED" }
        );
    }
}
