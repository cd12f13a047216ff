//! Processes with different options on one store: the regressions of the multi-process safety
//! issue (write_map growth and shrinking, open during a large write, reads beside another
//! process's long writes, reader slots held by an idle process). Each child is this binary
//! re-run with a script of steps (see `mp_child`), so a crash in a child is a reported failure.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use ttlkv::{Durability, ErrorKind, Options, Store};

const HOUR: Duration = Duration::from_secs(3600);

/// Options from a comma-separated list: `periodic`, `write_map`, `map=N`, `max=N`, `readers=N`.
fn options(spec: &str) -> Options {
    let mut o = Options::default();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k {
            "periodic" => {
                o = o.durability(Durability::Periodic {
                    sync_interval: Duration::from_millis(200),
                })
            }
            "write_map" => o = o.write_map(true),
            "map" => o = o.map_size(v.parse().unwrap()),
            "max" => o = o.max_map_size(v.parse().unwrap()),
            "readers" => o = o.max_readers(v.parse().unwrap()),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn value_for(key: &str, size: usize) -> Vec<u8> {
    let seed = key.bytes().fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    (0..size).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn file_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("data.mdb")).unwrap().len()
}

/// Runs one script step on `store`; prints what the parent waits for.
fn step(store: &Store, dir: &Path, step: &str) {
    let parts: Vec<&str> = step.split(':').collect();
    match parts[0] {
        // put:PREFIX:COUNT:SIZE, one put per key
        "put" => {
            let (n, size): (usize, usize) = (parts[2].parse().unwrap(), parts[3].parse().unwrap());
            for i in 0..n {
                let k = format!("{}-{i}", parts[1]);
                store
                    .put(b"mp", k.as_bytes(), &value_for(&k, size), HOUR)
                    .unwrap();
            }
        }
        // many:PREFIX:COUNT:SIZE, one put_many
        "many" => {
            let (n, size): (usize, usize) = (parts[2].parse().unwrap(), parts[3].parse().unwrap());
            let keys: Vec<String> = (0..n).map(|i| format!("{}-{i}", parts[1])).collect();
            let values: Vec<Vec<u8>> = keys.iter().map(|k| value_for(k, size)).collect();
            let records: Vec<_> = keys
                .iter()
                .zip(&values)
                .map(|(k, v)| (&b"mp"[..], k.as_bytes(), &v[..], 3_600_000u64))
                .collect();
            // The records are ready: the transaction starts now.
            println!("MANY {}", unix_ms());
            std::io::stdout().flush().unwrap();
            store.put_many_ms(&records).unwrap();
        }
        // grow_then_long:COUNT:SIZE — one batch of 40 MB (beyond a default map), then at once a
        // long batch of COUNT records of SIZE bytes; both prepared before either commits
        "grow_then_long" => {
            let (n, size): (usize, usize) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
            let big = vec![7u8; 1_000_000];
            let grow_keys: Vec<String> = (0..40).map(|i| format!("grow-{i}")).collect();
            let grow: Vec<_> = grow_keys
                .iter()
                .map(|k| (&b"mp"[..], k.as_bytes(), &big[..], 3_600_000u64))
                .collect();
            let keys: Vec<String> = (0..n).map(|i| format!("long-{i}")).collect();
            let values: Vec<Vec<u8>> = keys.iter().map(|k| value_for(k, size)).collect();
            let long: Vec<_> = keys
                .iter()
                .zip(&values)
                .map(|(k, v)| (&b"mp"[..], k.as_bytes(), &v[..], 3_600_000u64))
                .collect();
            store.put_many_ms(&grow).unwrap();
            println!("MANY {}", unix_ms());
            std::io::stdout().flush().unwrap();
            store.put_many_ms(&long).unwrap();
            println!("END {}", unix_ms());
        }
        // check:PREFIX:COUNT:SIZE
        "check" => check(
            store,
            parts[1],
            parts[2].parse().unwrap(),
            parts[3].parse().unwrap(),
        ),
        "say" => println!("{}", parts[1]),
        "time" => println!("{} {}", parts[1], unix_ms()),
        "size" => println!("SIZE {}", file_len(dir)),
        "sleep" => std::thread::sleep(Duration::from_millis(parts[1].parse().unwrap())),
        // threads:N — read once from N threads at the same time
        "threads" => {
            let n: usize = parts[1].parse().unwrap();
            let barrier = std::sync::Barrier::new(n);
            std::thread::scope(|s| {
                for _ in 0..n {
                    s.spawn(|| {
                        barrier.wait();
                        store.get(b"mp", b"probe").unwrap();
                        barrier.wait();
                    });
                }
            });
        }
        "pooled" => println!("POOLED {}", store.stats().unwrap().pooled_readers),
        // idle: read nothing until the pool is empty (at most 10 s), then say what it holds
        "idle" => {
            let start = Instant::now();
            while store.stats().unwrap().pooled_readers > 0 && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(50));
            }
            println!("POOLED {}", store.stats().unwrap().pooled_readers);
        }
        // wait: block until the parent closes our stdin
        "wait" => {
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        }
        // bound:BYTES — a size bound without eviction; replicate — deletes leave tombstones
        "bound" => store
            .set_max_bytes(Some(parts[1].parse().unwrap()), ttlkv::Eviction::None)
            .unwrap(),
        "replicate" => store.set_replicated(true).unwrap(),
        "verify" => {
            let r = store.verify().unwrap();
            assert!(r.is_ok(), "{:?}", r.problems);
        }
        other => panic!("unknown step {other}"),
    }
    std::io::stdout().flush().unwrap();
}

fn check(store: &Store, prefix: &str, n: usize, size: usize) {
    for i in 0..n {
        let k = format!("{prefix}-{i}");
        let got = store.get(b"mp", k.as_bytes()).unwrap();
        assert_eq!(got.as_deref(), Some(&value_for(&k, size)[..]), "key {k}");
    }
}

/// The child: opens `TTLKV_MP_DIR` with `TTLKV_MP_OPTS` and runs `TTLKV_MP_SCRIPT` (steps
/// separated by `;`). Does nothing when run on its own.
#[test]
fn mp_child() {
    let Some(dir) = std::env::var_os("TTLKV_MP_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    let store = Store::open(dir, options(&std::env::var("TTLKV_MP_OPTS").unwrap())).unwrap();
    for s in std::env::var("TTLKV_MP_SCRIPT").unwrap().split(';') {
        step(&store, dir, s);
    }
    store.close();
    println!("DONE");
}

fn spawn(dir: &Path, opts: &str, script: &str) -> (Child, BufReader<ChildStdout>) {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "mp_child", "--nocapture", "--test-threads=1"])
        .env("TTLKV_MP_DIR", dir)
        .env("TTLKV_MP_OPTS", opts)
        .env("TTLKV_MP_SCRIPT", script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(c.stdout.take().unwrap());
    (c, out)
}

/// Reads the child's output until a line holding the word `what`; returns the line from that
/// word on (the test harness prints the test's name in front of the first line).
fn expect(out: &mut BufReader<ChildStdout>, what: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended before saying {what}"
        );
        if let Some(at) = line.find(what) {
            return line[at..].trim().to_string();
        }
    }
}

/// [`expect`] for a line `WORD number`; returns the number.
fn expect_number(out: &mut BufReader<ChildStdout>, what: &str) -> u64 {
    let line = expect(out, what);
    line.split(' ')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"))
}

fn finish(mut c: Child, mut out: BufReader<ChildStdout>) {
    drop(c.stdin.take());
    expect(&mut out, "DONE");
    let status = c.wait().unwrap();
    assert!(status.success(), "child failed: {status:?}");
}

fn run(dir: &Path, opts: &str, script: &str) {
    let (c, out) = spawn(dir, opts, script);
    finish(c, out);
}

/// Finding 1: with MDB_WRITEMAP, LMDB truncates the file to the opener's map size. A second
/// write_map process with a smaller map used to shrink the file under the first (SIGBUS).
#[test]
fn a_write_map_process_with_a_smaller_map_never_shrinks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    // B grows its map from 64 KiB to about 70 MB with 40 MB of data and stays open; A opens with
    // the default map (16 MiB, which LMDB raises to the 40 MB in use, below B's map).
    let (b, mut b_out) = spawn(
        &p,
        "periodic,write_map,map=65536",
        "put:b:20000:1000;size;say:GREW;wait;put:b2:5000:1000;size;check:b:20000:1000;check:b2:5000:1000;verify",
    );
    let grown: u64 = expect_number(&mut b_out, "SIZE");
    expect(&mut b_out, "GREW");
    assert!(grown >= 20 << 20, "B's file is only {grown} bytes");
    // A opens and stays open, idle, while B writes on.
    let (a, mut a_out) = spawn(
        &p,
        "periodic,write_map",
        "say:OPEN;wait;check:b:20000:1000;verify",
    );
    expect(&mut a_out, "OPEN");
    assert!(
        file_len(&p) >= grown,
        "A shrank the file from {grown} to {}",
        file_len(&p)
    );
    finish(b, b_out); // B writes 5 MB more through its map: no SIGBUS
    finish(a, a_out);
    run(&p, "", "check:b:20000:1000;check:b2:5000:1000;verify");
}

#[test]
fn a_process_with_the_default_map_never_shrinks_a_file_made_for_a_larger_map() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    let (b, mut b_out) = spawn(
        &p,
        "periodic,write_map,map=67108864",
        "put:b:100:100;size;wait;put:b2:3000:10000;verify",
    );
    let before: u64 = expect_number(&mut b_out, "SIZE");
    assert!(before >= 64 << 20);
    for opts in ["periodic,write_map", "", "periodic"] {
        run(&p, opts, "put:a:10:10;verify");
        assert!(
            file_len(&p) >= before,
            "{opts:?} shrank the file to {}",
            file_len(&p)
        );
    }
    finish(b, b_out);
    run(&p, "", "check:b:100:100;check:b2:3000:10000;check:a:10:10;verify");
}

/// Four write_map processes (and two ordinary ones) growing one store from a 64 KiB map at
/// the same time used to end in "page was wrong type" and an LMDB assertion.
#[test]
fn processes_with_mixed_maps_grow_one_store_together_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    Store::open(&p, Options::default()).unwrap().close();
    let kinds = [
        "periodic,write_map,map=65536",
        "periodic,write_map,map=65536",
        "periodic,write_map,map=1048576",
        "periodic,write_map",
        "map=65536",
        "periodic,map=65536",
    ];
    let children: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(i, o)| spawn(&p, o, &format!("put:p{i}:1500:3000;check:p{i}:1500:3000")))
        .collect();
    for (c, out) in children {
        finish(c, out);
    }
    let s = Store::open(&p, Options::default()).unwrap();
    for i in 0..kinds.len() {
        check(&s, &format!("p{i}"), 1500, 3000);
    }
    let r = s.verify().unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
}

/// Finding 6: opening while another process commits beyond the opener's map used to fail with
/// MDB_MAP_RESIZED.
#[test]
fn open_succeeds_while_another_process_writes_a_large_batch() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    Store::open(&p, Options::default()).unwrap().close();
    let (w, mut w_out) = spawn(
        &p,
        "map=1073741824",
        "say:WRITING;many:x:60:1000000;many:y:60:1000000;many:z:60:1000000",
    );
    expect(&mut w_out, "WRITING");
    let start = Instant::now();
    let mut opens = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        let s = Store::open(&p, Options::default()).unwrap();
        s.get(b"mp", b"x-0").unwrap();
        s.close();
        opens += 1;
    }
    finish(w, w_out);
    assert!(opens > 10);
    let s = Store::open(&p, Options::default()).unwrap();
    check(&s, "x", 60, 1_000_000);
    check(&s, "z", 60, 1_000_000);
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Finding 8: a get must not wait for a write transaction, in this process or another — not
/// even when it must first adopt a map another process grew while this process's own writer
/// waits for that process.
#[test]
fn a_get_does_not_wait_for_another_processs_long_write() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    let a = Store::open(&p, Options::default()).unwrap();
    a.put(b"mp", b"probe", b"here", HOUR).unwrap();
    let (w, mut w_out) = spawn(&p, "map=1073741824", "grow_then_long:100000:2000");
    // The store now outgrew A's 16 MiB map, and the child's long batch starts at once.
    let started: u64 = expect_number(&mut w_out, "MANY");
    // Give the child time to check its 100,000 records and start the transaction.
    std::thread::sleep(Duration::from_millis(100));
    let took = std::thread::scope(|s| {
        // A's writer queues behind the child's transaction...
        s.spawn(|| a.put(b"mp", b"mine", b"v", HOUR).unwrap());
        std::thread::sleep(Duration::from_millis(20));
        // ...while A's reader adopts the grown map and reads.
        let t = Instant::now();
        assert_eq!(a.get(b"mp", b"probe").unwrap().as_deref(), Some(&b"here"[..]));
        t.elapsed()
    });
    let ended: u64 = expect_number(&mut w_out, "END");
    let batch = Duration::from_millis(ended - started);
    // Not a speed target: a get that waited would have taken most of the batch's time.
    assert!(
        batch > Duration::from_millis(200) && took * 4 < batch,
        "the get took {took:?} beside a batch of {batch:?}"
    );
    finish(w, w_out);
    assert_eq!(a.get(b"mp", b"mine").unwrap().as_deref(), Some(&b"v"[..]));
}

/// Finding 5: an idle process with a store open used to keep up to 64 reader slots, so another
/// process's gets failed with readers_full for as long as it lived.
#[test]
fn an_idle_process_gives_its_reader_slots_back() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    let b = Store::open(&p, Options::default().max_readers(8)).unwrap();
    b.put(b"mp", b"probe", b"v", HOUR).unwrap();
    let (a, mut a_out) = spawn(&p, "readers=8", "threads:8;pooled;say:IDLE;idle;wait");
    let held: u64 = expect_number(&mut a_out, "POOLED");
    assert!(held <= 1, "with 8 slots a process pools at most 1, not {held}");
    expect(&mut a_out, "IDLE");
    // B's readers get slots while A idles, from 6 threads at once.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| assert!(b.get(b"mp", b"probe").unwrap().is_some()));
            }
        });
    }
    let after: u64 = expect_number(&mut a_out, "POOLED");
    assert_eq!(after, 0, "an idle process still holds reader slots");
    finish(a, a_out);
}

#[test]
fn a_busy_process_pools_few_reader_slots() {
    let (_d, s) = common::temp_store(Options::default());
    s.put(b"mp", b"probe", b"v", HOUR).unwrap();
    std::thread::scope(|sc| {
        for _ in 0..64 {
            sc.spawn(|| {
                for _ in 0..100 {
                    s.get(b"mp", b"probe").unwrap();
                }
            });
        }
    });
    assert!(s.stats().unwrap().pooled_readers <= 8);
}

/// Finding 3, across processes: a store full at its maximum of entries that have all expired
/// is usable again within seconds, whichever process filled it.
#[test]
fn a_store_full_of_expired_entries_empties_itself_and_takes_puts_again() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s");
    // As reported: a 16 MiB maximum, filled in periodic mode with entries of one TTL.
    let opts = options("periodic,map=1048576,max=16777216");
    let s = Store::open(&p, opts).unwrap();
    let mut n = 0u32;
    let filled = loop {
        match s.put(b"mp", &n.to_be_bytes(), &[1u8; 3000], Duration::from_secs(3)) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(filled.kind(), ErrorKind::Full, "{filled}");
    assert!(n > 2000, "only {n} entries fit");
    let again = common::wait_until(Duration::from_secs(15), || {
        s.put(b"mp", b"after", &[2u8; 3000], HOUR).is_ok()
    });
    assert!(
        again,
        "the store never took a put again: {:?}",
        s.stats().unwrap()
    );
    assert!(common::wait_until(Duration::from_secs(10), || s
        .keys(b"mp")
        .unwrap()
        .len()
        == 1));
    let r = s.verify().unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
}

#[test]
fn every_delete_succeeds_on_a_store_full_at_its_maximum() {
    let (_d, s) = common::temp_store(Options::default().map_size(1 << 20).max_map_size(4 << 20));
    let mut n = 0u32;
    while s
        .put(b"mp", &n.to_be_bytes(), &[1u8; 1500], ttlkv::TTL_NEVER)
        .is_ok()
    {
        n += 1;
    }
    for i in 0..n {
        assert!(s.delete(b"mp", &i.to_be_bytes()).unwrap(), "delete {i} of {n}");
    }
    assert!(s.keys(b"mp").unwrap().is_empty());
    // And the room is there again.
    for i in 0..n / 2 {
        s.put(b"mp", &i.to_be_bytes(), &[1u8; 1500], ttlkv::TTL_NEVER)
            .unwrap();
    }
}

/// Finding 2: one directory reached by two names (a rename, a bind mount) used to get two
/// environments in one process; closing the second dropped the process's locks on `lock.mdb`,
/// and the next process to open reinitialised it under the first: acknowledged writes vanished.
#[test]
fn one_directory_under_two_names_is_one_environment_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let first = Store::open(&a, Options::default()).unwrap();
    first.put(b"mp", b"before", b"1", HOUR).unwrap();
    std::fs::rename(&a, &b).unwrap();
    let mut names = vec![b.clone()];
    // A bind mount names the same directory too (needs root and a mount namespace that allows it).
    let c = dir.path().join("c");
    std::fs::create_dir(&c).unwrap();
    let mounted = Command::new("mount")
        .arg("--bind")
        .arg(&b)
        .arg(&c)
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if mounted {
        names.push(c.clone());
    } else {
        eprintln!("NOTE: bind mount not possible here; the renamed directory was tested alone");
    }
    for (i, name) in names.iter().enumerate() {
        let second = Store::open(name, Options::default()).unwrap();
        second
            .put(b"mp", format!("via-{i}").as_bytes(), b"1", HOUR)
            .unwrap();
        // One environment: the second name's writes show in the first handle's counters.
        assert_eq!(
            first.stats().unwrap().write_commits,
            second.stats().unwrap().write_commits
        );
        second.close();
        // Another process opens now and writes; then this one writes; a third checks both.
        run(&b, "", &format!("put:child{i}:50:100"));
        first
            .put(b"mp", format!("mine-{i}").as_bytes(), b"2", HOUR)
            .unwrap();
        run(&b, "", &format!("check:child{i}:50:100;verify"));
        assert_eq!(
            first
                .get(b"mp", format!("mine-{i}").as_bytes())
                .unwrap()
                .as_deref(),
            Some(&b"2"[..])
        );
    }
    first.close();
    if mounted {
        let _ = Command::new("umount").arg(&c).status();
    }
    let s = Store::open(&b, Options::default()).unwrap();
    for (i, _) in names.iter().enumerate() {
        check(&s, &format!("child{i}"), 50, 100);
        assert!(s.get(b"mp", format!("via-{i}").as_bytes()).unwrap().is_some());
        assert!(s.get(b"mp", format!("mine-{i}").as_bytes()).unwrap().is_some());
    }
    assert!(s.get(b"mp", b"before").unwrap().is_some());
}

/// A writer keeps the settings its last commit left and reads the record again only when
/// another commit came between (Env::committed): a bound or replication set by another
/// process applies to this process's very next write.
#[test]
fn settings_another_process_changes_apply_to_the_next_write_here() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let store = Store::open(&dir, options("periodic")).unwrap();
    for i in 0..20 {
        store.put(b"mp", format!("k{i}").as_bytes(), b"v", HOUR).unwrap();
    }
    let bound = 1 << 20;
    run(&dir, "periodic", &format!("bound:{bound}"));
    let big = vec![1u8; 2 << 20];
    let e = store.put(b"mp", b"big", &big, HOUR).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Full, "{e}");
    assert_eq!(store.get(b"mp", b"big").unwrap(), None);
    store.put(b"mp", b"small", b"v", HOUR).unwrap();

    // A write that writes nothing (an add of a live key) leaves its transaction id to the next
    // writer: the other process's change takes that id, and must not pass for this one.
    assert!(!store.replicated().unwrap());
    assert!(!store.add(b"mp", b"k1", b"v", HOUR).unwrap());
    run(&dir, "periodic", "replicate");
    assert!(store.delete(b"mp", b"k0").unwrap());
    let r = store.records(&[(b"mp", b"k0")]).unwrap();
    assert!(
        r.len() == 1 && r[0].tombstone,
        "a delete after another process turned replication on leaves a tombstone: {r:?}"
    );
    store.close();
}
