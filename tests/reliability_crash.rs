//! Crash safety: a writer process (several threads) is killed with SIGKILL at random moments,
//! many times in a row on one store. It reports each operation to the parent through a pipe:
//! the intent before the call, the acknowledgement after it returns. After every kill the store
//! opens cleanly, every acknowledged put is readable with its value and deadline, every
//! acknowledged delete is gone, an operation in flight either happened or did not, and
//! `verify` finds entries and index in agreement.
//!
//! `TTLKV_SOAK=1` (make soak) raises the number of kills.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ttlkv::{Durability, Options, Store};

const THREADS: u64 = 4;
const KEYS_PER_THREAD: u64 = 64;

fn options(mode: &str) -> Options {
    let periodic = Durability::Periodic {
        sync_interval: Duration::from_millis(50),
    };
    match mode {
        "periodic" => Options::default().durability(periodic),
        "write_map" => Options::default().durability(periodic).write_map(true),
        _ => Options::default(),
    }
}

fn soak() -> bool {
    std::env::var_os("TTLKV_SOAK").is_some()
}

/// The writer: runs until killed. Each thread owns its keys (key % THREADS == thread), so at
/// most one operation per key is in flight when the kill lands.
#[test]
fn crash_writer_child() {
    let (Some(path), Some(mode)) = (
        std::env::var_os("TTLKV_CRASH_STORE"),
        std::env::var("TTLKV_CRASH_MODE").ok(),
    ) else {
        return;
    };
    let round: u64 = std::env::var("TTLKV_CRASH_ROUND").unwrap().parse().unwrap();
    let store = Store::open(path, options(&mode)).unwrap();
    let out = Mutex::new(std::io::stdout());
    // One write(2) per line, under a lock: lines never interleave, and a line is either whole
    // in the pipe or absent.
    let say = |line: String| {
        let mut o = out.lock().unwrap();
        o.write_all(line.as_bytes()).unwrap();
        o.flush().unwrap();
    };
    say("READY\n".into());
    std::thread::scope(|sc| {
        for t in 0..THREADS {
            let (store, say) = (&store, &say);
            sc.spawn(move || {
                let mut x = 0x9E37_79B9u64 ^ (round << 8) ^ t;
                for seq in 0u64.. {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = (x % KEYS_PER_THREAD) * THREADS + t;
                    let k = format!("key-{key}");
                    if x % 4 == 0 {
                        say(format!("I D {k}\n"));
                        store.delete(b"crash", k.as_bytes()).unwrap();
                        say(format!("A D {k}\n"));
                    } else {
                        let v = format!("r{round}-t{t}-s{seq}-{}", "x".repeat((x % 300) as usize));
                        say(format!("I P {k} {v}\n"));
                        store
                            .put(b"crash", k.as_bytes(), v.as_bytes(), Duration::from_secs(3600))
                            .unwrap();
                        let d = store.deadline(b"crash", k.as_bytes()).unwrap().unwrap();
                        say(format!("A P {k} {v} {d}\n"));
                    }
                }
            });
        }
    });
}

/// What the parent knows of one key.
#[derive(Clone, Debug, Default)]
struct KeyState {
    /// The acknowledged state: `None` absent, `Some((value, deadline))` present.
    acked: Option<(String, u64)>,
    /// An operation announced but not acknowledged: `Some(None)` a delete, `Some(Some(v))` a put.
    in_flight: Option<Option<String>>,
}

fn run_kills(mode: &str, kills: usize) -> (usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let mut model: HashMap<String, KeyState> = HashMap::new();
    let mut acked_ops = 0u64;
    let mut rng = 0x1234_5678u64 ^ mode.len() as u64;
    for round in 0..kills {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_writer_child", "--nocapture", "--test-threads=1"])
            .env("TTLKV_CRASH_STORE", &path)
            .env("TTLKV_CRASH_MODE", mode)
            .env("TTLKV_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        // Wait for READY, then let it write for a random while and kill it.
        loop {
            let l = lines.next().expect("child died before READY").unwrap();
            if l.ends_with("READY") {
                break;
            }
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = Duration::from_millis(5 + rng % 120);
        let pid = child.id() as libc::pid_t;
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        });
        for l in lines {
            let Ok(l) = l else { break };
            let parts: Vec<&str> = l.splitn(5, ' ').collect();
            match parts.as_slice() {
                ["I", "P", k, v] => {
                    model.entry(k.to_string()).or_default().in_flight = Some(Some(v.to_string()))
                }
                ["I", "D", k] => model.entry(k.to_string()).or_default().in_flight = Some(None),
                ["A", "P", k, v, d] => {
                    let s = model.entry(k.to_string()).or_default();
                    s.acked = Some((v.to_string(), d.parse().unwrap()));
                    s.in_flight = None;
                    acked_ops += 1;
                }
                ["A", "D", k] => {
                    let s = model.entry(k.to_string()).or_default();
                    s.acked = None;
                    s.in_flight = None;
                    acked_ops += 1;
                }
                // A line cut by the kill: the write(2) of a whole line is atomic on a pipe, so
                // this cannot happen; if it does, the test must say so.
                other => panic!("round {round}: unparseable line {other:?}"),
            }
        }
        killer.join().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the writer was not killed");

        // The store opens cleanly and agrees with what was acknowledged.
        let store = Store::open(&path, options(mode)).unwrap();
        for (k, s) in model.iter_mut() {
            let got = store
                .get(b"crash", k.as_bytes())
                .unwrap()
                .map(|v| String::from_utf8(v).unwrap());
            let deadline = store.deadline(b"crash", k.as_bytes()).unwrap();
            let acked_value = s.acked.as_ref().map(|(v, _)| v.clone());
            if got == acked_value {
                if let Some((_, d)) = &s.acked {
                    assert_eq!(deadline, Some(*d), "round {round}: {k} lost its deadline");
                }
            } else {
                // Only the operation in flight may explain a difference; it happened.
                let in_flight = s.in_flight.clone();
                assert_eq!(
                    in_flight,
                    Some(got.clone()),
                    "round {round}: {k} is {got:?}, acknowledged {acked_value:?}"
                );
                s.acked = got.map(|v| (v, deadline.unwrap()));
            }
            s.in_flight = None;
        }
        let r = store.verify().unwrap();
        assert!(r.is_ok(), "round {round}: {:?}", r.problems);
        store.close();
    }
    (kills, acked_ops)
}

#[test]
fn sigkill_during_sync_writes_loses_no_acknowledged_operation() {
    let kills = if soak() { 300 } else { 50 };
    let start = Instant::now();
    let (k, ops) = run_kills("sync", kills);
    println!(
        "crash (sync): {k} kills survived, {ops} acknowledged operations verified in {:?}",
        start.elapsed()
    );
    assert!(ops > 0);
}

#[test]
fn sigkill_during_periodic_writes_loses_nothing_either() {
    // Periodic mode skips fsync, but a process crash leaves the pages with the OS.
    let kills = if soak() { 200 } else { 25 };
    let (k, ops) = run_kills("periodic", kills);
    println!("crash (periodic): {k} kills survived, {ops} acknowledged operations verified");
    assert!(ops > 0);
}

#[test]
fn sigkill_during_write_map_writes_loses_nothing_either() {
    // The writable map's pages belong to the OS's page cache as soon as they are written.
    let kills = if soak() { 200 } else { 25 };
    let (k, ops) = run_kills("write_map", kills);
    println!("crash (periodic + write_map): {k} kills survived, {ops} acknowledged operations verified");
    assert!(ops > 0);
}
