//! The randomized multi-process model test: what should have caught the multi-process
//! findings in the first place.
//!
//! Each round opens one fresh store from 2–6 worker processes (this binary re-run), each with
//! its own randomly chosen options — durability, write_map, crash_safe, map_size from 64 KiB to 64 MiB, a
//! small max_map_size, max_readers — and runs random operations on it: puts, overwrites,
//! deletes, put_many (some long), TTLs that expire during the round, bursts of reader threads,
//! extra handles opened and closed, the whole environment closed and reopened, forks whose
//! children open the store themselves, while the coordinator SIGKILLs some workers at random
//! moments. Every worker logs each write's intent before it starts and its outcome after; the
//! coordinator then checks the store against the model built from those logs:
//!
//! - no acknowledged write is lost (a write in flight when its worker was killed may or may
//!   not have happened), and no failed write happened;
//! - no expired value is returned (workers check every value they read, the coordinator every
//!   key at the end), and no value is ever one that was not written;
//! - no call fails other than as documented (`full` at a process's maximum, `readers_full`
//!   when the table is taken), no process crashes, no operation hangs;
//! - `verify` is clean at the end of every round.
//!
//! `TTLKV_MODEL_SEED=N` replays a run; the seed is printed at the start and on any failure.
//! `make test` runs 10 rounds, `make soak` (TTLKV_SOAK) 200.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ttlkv::{Durability, ErrorKind, Options, Store, TTL_NEVER};

const NS: &[u8] = b"model";
/// A value carries the earliest its deadline can be (the writer's clock before the put); the
/// real one is later by the put's latency, which a loaded machine can stretch to seconds. A
/// live value read this long past that bound is an expired value returned. (The coordinator's
/// final check knows each write's acknowledgement time and is exact.)
const WRITE_LATENCY_SLACK_MS: u64 = 20_000;
const NEVER: u64 = u64::MAX;

/// xorshift64*: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A worker's options, as one line the coordinator passes and prints on failure.
#[derive(Clone, Debug)]
struct WorkerOpts {
    periodic: bool,
    write_map: bool,
    crash_safe: bool,
    map_size: usize,
    max_map_size: usize,
    max_readers: u32,
}

impl WorkerOpts {
    fn random(rng: &mut Rng) -> WorkerOpts {
        let periodic = rng.chance(50);
        WorkerOpts {
            periodic,
            write_map: periodic && rng.chance(60),
            crash_safe: periodic && rng.chance(40),
            map_size: 64 << (10 + rng.below(11)), // 64 KiB .. 64 MiB
            max_map_size: [8usize << 20, 16 << 20, 32 << 20, 64 << 20][rng.below(4) as usize],
            max_readers: [24u32, 64, 126, 1024][rng.below(4) as usize],
        }
    }
    fn encode(&self) -> String {
        format!(
            "{} {} {} {} {} {}",
            self.periodic as u8,
            self.write_map as u8,
            self.map_size,
            self.max_map_size,
            self.max_readers,
            self.crash_safe as u8
        )
    }
    fn decode(s: &str) -> WorkerOpts {
        let f: Vec<u64> = s.split(' ').map(|x| x.parse().unwrap()).collect();
        WorkerOpts {
            periodic: f[0] == 1,
            write_map: f[1] == 1,
            map_size: f[2] as usize,
            max_map_size: f[3] as usize,
            max_readers: f[4] as u32,
            crash_safe: f[5] == 1,
        }
    }
    fn options(&self) -> Options {
        let mut o = Options::default()
            .map_size(self.map_size)
            .max_map_size(self.max_map_size.max(self.map_size))
            .max_readers(self.max_readers);
        if self.periodic {
            o = o
                .durability(Durability::Periodic {
                    sync_interval: Duration::from_millis(100),
                })
                .write_map(self.write_map)
                .crash_safe(self.crash_safe);
        }
        o
    }
}

/// A value says who wrote it, for which key, which write it was, and the earliest its
/// deadline can be; a reader checks all of it.
fn value(worker: u64, key: &str, vid: u64, earliest_deadline: u64) -> Vec<u8> {
    let mut v = format!("{worker}:{key}:{vid}:{earliest_deadline}:").into_bytes();
    let pad = (vid % 97) as usize * 13;
    v.extend(std::iter::repeat((vid % 251) as u8).take(pad));
    v
}

/// Checks a value read at or after `t0` for `key`; returns a violation, if any. A live value's
/// real deadline is after `t0`; the value carries a lower bound of it, so one more than
/// [`WRITE_LATENCY_SLACK_MS`] past that bound is an expired value returned.
fn check_value(key: &str, v: &[u8], t0: u64) -> Option<String> {
    let fields: Vec<&[u8]> = v.splitn(5, |&b| b == b':').collect();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if fields.len() != 5 || fields[1] != key.as_bytes() {
        let shown = text(&v[..v.len().min(80)]);
        return Some(format!("key {key} holds a value never written for it: {shown:?}"));
    }
    let vid: u64 = text(fields[2]).parse().unwrap_or(u64::MAX);
    let earliest: u64 = text(fields[3]).parse().unwrap_or(0);
    let pad = fields[4];
    if pad.len() != (vid % 97) as usize * 13 || pad.iter().any(|&b| b != (vid % 251) as u8) {
        return Some(format!("key {key}: value {vid} is damaged"));
    }
    if earliest != NEVER && t0 > earliest + WRITE_LATENCY_SLACK_MS {
        return Some(format!(
            "key {key}: value {vid} expired at about {earliest} was returned at {t0}"
        ));
    }
    None
}

/// A worker found a broken promise: says so and ends with code 3.
fn violation(what: String) -> ! {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "V {what}");
    let _ = o.flush();
    std::process::exit(3);
}

/// A get of `key`, its value checked.
fn checked_get(store: &Store, key: &str) {
    let t0 = now_ms();
    match store.get(NS, key.as_bytes()) {
        Ok(Some(v)) => {
            if let Some(p) = check_value(key, &v, t0) {
                violation(p);
            }
        }
        Ok(None) => {}
        Err(e) if documented(e.kind(), false) => {}
        Err(e) => violation(format!("get {key}: {e}")),
    }
}

/// Logs a write's outcome: `A seq ok`, `A seq fail` for a documented failure (nothing was
/// written), a violation for anything else.
fn ack<T>(seq: u64, what: &str, r: ttlkv::Result<T>) {
    let line = match r {
        Ok(_) => format!("A {seq} ok"),
        Err(e) if documented(e.kind(), true) => format!("A {seq} fail"),
        Err(e) => violation(format!("{what}: {e}")),
    };
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

fn documented(kind: ErrorKind, write: bool) -> bool {
    match kind {
        ErrorKind::ReadersFull => true,
        ErrorKind::Full => write,
        _ => false,
    }
}

/// One worker process: random operations until its time is up. Writes are logged as
/// `I seq kind keys vid ttl_ms t` (t: the wall clock before the write starts) before they
/// start and `A seq ok|fail` after.
#[test]
fn model_worker() {
    let Some(dir) = std::env::var_os("TTLKV_MODEL_DIR") else {
        return;
    };
    let dir = Path::new(&dir).to_path_buf();
    let id: u64 = std::env::var("TTLKV_MODEL_WORKER").unwrap().parse().unwrap();
    let seed: u64 = std::env::var("TTLKV_MODEL_WORKER_SEED").unwrap().parse().unwrap();
    let millis: u64 = std::env::var("TTLKV_MODEL_MILLIS").unwrap().parse().unwrap();
    let workers: u64 = std::env::var("TTLKV_MODEL_WORKERS").unwrap().parse().unwrap();
    let wo = WorkerOpts::decode(&std::env::var("TTLKV_MODEL_OPTS").unwrap());
    let mut rng = Rng::new(seed);
    let out = std::io::stdout();
    let say = |line: String| {
        let mut o = out.lock();
        writeln!(o, "{line}").unwrap();
        o.flush().unwrap();
    };
    let timed = |what: &str, started: Instant| {
        let took = started.elapsed();
        if took > Duration::from_secs(15) {
            violation(format!("{what} took {took:?}"));
        }
    };
    let mut store = Store::open(&dir, wo.options()).unwrap_or_else(|e| violation(format!("open: {e}")));
    say("READY".into());
    let end = Instant::now() + Duration::from_millis(millis);
    let mut seq = 0u64;
    let key_of = |w: u64, k: u64| format!("w{w}-{k}");
    let all_keys = |rng: &mut Rng| key_of(rng.below(workers), rng.below(40));
    while Instant::now() < end {
        seq += 1;
        let roll = rng.below(100);
        let ttl_ms = match rng.below(10) {
            0..=3 => 20 + rng.below(300),
            4..=7 => 3_600_000,
            _ => NEVER,
        };
        let ttl = if ttl_ms == NEVER {
            TTL_NEVER
        } else {
            Duration::from_millis(ttl_ms)
        };
        let earliest = |t: u64| if ttl_ms == NEVER { NEVER } else { t + ttl_ms };
        match roll {
            0..=34 => {
                let key = key_of(id, rng.below(40));
                let t = now_ms();
                let v = value(id, &key, seq, earliest(t));
                say(format!("I {seq} put {key} {seq} {ttl_ms} {t}"));
                let started = Instant::now();
                let r = store.put(NS, key.as_bytes(), &v, ttl);
                timed("put", started);
                ack(seq, &format!("put {key}"), r);
            }
            35..=44 => {
                let key = key_of(id, rng.below(40));
                say(format!("I {seq} del {key} 0 0 {}", now_ms()));
                let started = Instant::now();
                let r = store.delete(NS, key.as_bytes());
                timed("delete", started);
                ack(seq, &format!("delete {key}"), r);
            }
            45..=52 => {
                // put_many; now and then a long one that holds the writer for a while
                let long = rng.chance(15);
                let n = if long { 20_000 } else { 1 + rng.below(20) };
                let t = now_ms();
                let keys: Vec<String> = (0..n)
                    .map(|i| {
                        if long {
                            format!("w{id}-bulk{i}")
                        } else {
                            key_of(id, rng.below(40))
                        }
                    })
                    .collect();
                let mut seen = std::collections::HashSet::new();
                let keys: Vec<String> = keys.into_iter().filter(|k| seen.insert(k.clone())).collect();
                let values: Vec<Vec<u8>> = keys.iter().map(|k| value(id, k, seq, earliest(t))).collect();
                let recs: Vec<_> = keys
                    .iter()
                    .zip(&values)
                    .map(|(k, v)| (NS, k.as_bytes(), &v[..], ttl_ms))
                    .collect();
                say(format!("I {seq} many {} {seq} {ttl_ms} {t}", keys.join(",")));
                let started = Instant::now();
                let r = store.put_many_ms(&recs);
                timed("put_many", started);
                ack(seq, "put_many", r);
            }
            53..=80 => {
                // get any worker's key, checked
                let key = all_keys(&mut rng);
                let started = Instant::now();
                checked_get(&store, &key);
                timed("get", started);
            }
            81..=86 => {
                // a burst of reader threads
                let threads = 2 + rng.below(6);
                let seeds: Vec<u64> = (0..threads).map(|_| rng.next()).collect();
                let store = &store;
                std::thread::scope(|s| {
                    for sd in seeds {
                        s.spawn(move || {
                            let mut r = Rng::new(sd);
                            for _ in 0..50 {
                                checked_get(store, &key_of(r.below(workers), r.below(40)));
                            }
                        });
                    }
                });
            }
            87..=90 => {
                // another handle on the same environment, used and closed
                let other = Store::open(&dir, wo.options())
                    .unwrap_or_else(|e| violation(format!("second open: {e}")));
                checked_get(&other, &all_keys(&mut rng));
                other.close();
            }
            91..=93 => {
                // close the environment (the last handle) and open it again
                store.close();
                store = Store::open(&dir, wo.options()).unwrap_or_else(|e| violation(format!("reopen: {e}")));
            }
            94..=95 => {
                // fork: the child finds the inherited handle closed, opens its own and writes
                let key = key_of(id, rng.below(40));
                let t = now_ms();
                let v = value(id, &key, seq, earliest(t));
                say(format!("I {seq} put {key} {seq} {ttl_ms} {t}"));
                let opts = wo.options();
                // Now and then a thread starts and ends around the fork: the standard library
                // holds a process-wide lock meanwhile, which the child inherits held.
                let racer = rng.chance(50).then(|| std::thread::spawn(|| {}));
                // SAFETY: the child only calls ttlkv and _exit.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        match store.get(NS, b"x") {
                            Err(e) if e.kind() == ErrorKind::Closed => {}
                            _ => return 10,
                        }
                        let Ok(own) = Store::open(&dir, opts) else {
                            return 11;
                        };
                        match own.put(NS, key.as_bytes(), &v, ttl) {
                            Ok(()) => {
                                own.close();
                                0
                            }
                            Err(e) if documented(e.kind(), true) => 1,
                            Err(_) => 12,
                        }
                    }))
                    .unwrap_or(13);
                    // SAFETY: ends the child at once.
                    unsafe { libc::_exit(code) };
                }
                say(format!("F {pid}"));
                if let Some(r) = racer {
                    let _ = r.join();
                }
                let started = Instant::now();
                let mut status = 0;
                loop {
                    // SAFETY: our own child.
                    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                    if r == pid {
                        break;
                    }
                    if started.elapsed() > Duration::from_secs(15) {
                        violation("a forked child hung".into());
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                match libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)) {
                    Some(0) => say(format!("A {seq} ok")),
                    Some(1) => say(format!("A {seq} fail")),
                    other => violation(format!("forked child ended with {other:?} ({status})")),
                }
            }
            _ => {
                let started = Instant::now();
                match store.verify() {
                    Ok(r) if r.is_ok() => {}
                    Ok(r) => violation(format!("verify during the round: {:?}", r.problems)),
                    Err(e) if documented(e.kind(), false) => {}
                    Err(e) => violation(format!("verify: {e}")),
                }
                timed("verify", started);
            }
        }
    }
    store.close();
    say("DONE".into());
}

/// What one write did, from a worker's log.
#[derive(Clone, Debug)]
struct Logged {
    keys: Vec<String>,
    /// None: a delete; Some(vid, ttl_ms).
    put: Option<(u64, u64)>,
    /// The worker's clock before the write: its deadline is at least this plus the TTL.
    started: u64,
}

#[derive(Default)]
struct Log {
    writes: HashMap<u64, (Logged, Option<bool>, u64)>, // seq -> (write, acked ok?, ack time)
    order: Vec<u64>,
    violation: Option<String>,
    done: bool,
    /// Processes the worker forked: none may outlive the round by much, even when their
    /// parent was killed.
    forked: Vec<i32>,
}

fn read_log(out: impl BufRead) -> Log {
    let mut log = Log::default();
    for line in out.lines() {
        let Ok(line) = line else { break };
        let at = now_ms();
        // The harness prints the test's name in front of the first line.
        let line = match line.find(['I', 'A', 'V', 'D', 'R', 'F']) {
            Some(i) if line.starts_with("test ") => line[i..].to_string(),
            _ => line,
        };
        let f: Vec<&str> = line.split(' ').collect();
        // A worker killed mid-line leaves a partial last line: it logged nothing whole.
        let whole = match f[0] {
            "I" => f.len() == 7 && f[6].parse::<u64>().is_ok(),
            "A" => f.len() == 3 && (f[2] == "ok" || f[2] == "fail"),
            _ => true,
        };
        if !whole {
            continue;
        }
        match f[0] {
            "I" => {
                let seq: u64 = f[1].parse().unwrap();
                let keys = f[3].split(',').map(String::from).collect();
                let put = (f[2] != "del").then(|| (f[4].parse().unwrap(), f[5].parse().unwrap()));
                let started = f[6].parse().unwrap();
                log.writes.insert(seq, (Logged { keys, put, started }, None, 0));
                log.order.push(seq);
            }
            "A" => {
                let seq: u64 = f[1].parse().unwrap();
                if let Some(w) = log.writes.get_mut(&seq) {
                    w.1 = Some(f[2] == "ok");
                    w.2 = at;
                }
            }
            "V" => log.violation = Some(line[2..].to_string()),
            "F" => log.forked.extend(f.get(1).and_then(|p| p.parse::<i32>().ok())),
            "DONE" => log.done = true,
            _ => {}
        }
    }
    log
}

/// What a key may hold at the end: each option is None (absent) or (worker, vid, earliest and
/// latest possible deadline).
type Allowed = Vec<Option<(u64, u64, u64)>>;

fn allowed_states(worker: u64, log: &Log) -> HashMap<String, Allowed> {
    let mut state: HashMap<String, Allowed> = HashMap::new();
    for seq in &log.order {
        let (w, acked, acked_at) = &log.writes[seq];
        let outcome = w.put.map(|(vid, ttl)| {
            let latest = if ttl == NEVER {
                NEVER
            } else if *acked == Some(true) {
                acked_at + ttl
            } else {
                u64::MAX - 1 // in flight: it may have landed at any time since
            };
            (vid, if ttl == NEVER { NEVER } else { w.started + ttl }, latest)
        });
        for k in &w.keys {
            let s = state.entry(k.clone()).or_insert_with(|| vec![None]);
            match acked {
                Some(true) => *s = vec![outcome],
                Some(false) => {}        // a failed write changed nothing
                None => s.push(outcome), // in flight when killed: it may or may not have happened
            }
        }
    }
    let _ = worker;
    state
}

fn run_round(round: u64, seed: u64, soak: bool) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let workers = 2 + rng.below(5);
    let millis = if soak { 3000 } else { 2000 } + rng.below(1000);
    let opts: Vec<WorkerOpts> = (0..workers).map(|_| WorkerOpts::random(&mut rng)).collect();
    let mut children = Vec::new();
    for (i, o) in opts.iter().enumerate() {
        let c = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "model_worker", "--nocapture", "--test-threads=1"])
            .env("TTLKV_MODEL_DIR", &path)
            .env("TTLKV_MODEL_WORKER", i.to_string())
            .env("TTLKV_MODEL_WORKER_SEED", rng.next().to_string())
            .env("TTLKV_MODEL_MILLIS", millis.to_string())
            .env("TTLKV_MODEL_WORKERS", workers.to_string())
            .env("TTLKV_MODEL_OPTS", o.encode())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push(c);
    }
    let describe = |extra: &str| format!("round {round} (seed {seed}): {workers} workers {opts:?}: {extra}");
    // Kill some workers at random moments.
    let mut kills: Vec<(usize, u64)> = Vec::new();
    for i in 0..workers as usize {
        if rng.chance(30) {
            kills.push((i, 200 + rng.below(millis)));
        }
    }
    let readers: Vec<_> = children
        .iter_mut()
        .map(|c| {
            let out = c.stdout.take().unwrap();
            std::thread::spawn(move || read_log(BufReader::new(out)))
        })
        .collect();
    let errs: Vec<_> = children
        .iter_mut()
        .map(|c| {
            let mut err = c.stderr.take().unwrap();
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut err, &mut s);
                s
            })
        })
        .collect();
    let start = Instant::now();
    let mut killed = vec![false; workers as usize];
    let limit = Duration::from_millis(millis) + Duration::from_secs(60);
    loop {
        let mut running = false;
        for (i, c) in children.iter_mut().enumerate() {
            if c.try_wait().unwrap().is_none() {
                running = true;
                if let Some(&(_, at)) = kills.iter().find(|(k, _)| *k == i) {
                    if !killed[i] && start.elapsed() >= Duration::from_millis(at) {
                        let _ = c.kill();
                        killed[i] = true;
                    }
                }
            }
        }
        if !running {
            break;
        }
        if start.elapsed() > limit {
            for c in children.iter_mut() {
                let _ = c.kill();
            }
            return Err(describe("a worker hung past the round's time limit"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut logs = Vec::new();
    for (i, (c, (r, e))) in children.iter_mut().zip(readers.into_iter().zip(errs)).enumerate() {
        let status = c.wait().unwrap();
        let log = r.join().unwrap();
        let stderr = e.join().unwrap();
        if let Some(v) = &log.violation {
            return Err(describe(&format!("worker {i}: {v}")));
        }
        if !killed[i] && (!status.success() || !log.done) {
            let tail: String = stderr
                .lines()
                .filter(|l| !l.trim_start().starts_with("at ") && !l.contains("rustc/"))
                .take(12)
                .collect::<Vec<_>>()
                .join("\n");
            return Err(describe(&format!("worker {i} ended with {status:?}: {tail}")));
        }
        logs.push(log);
    }
    // A forked child whose parent was killed is nobody's to wait for: it must end by itself.
    for (w, log) in logs.iter().enumerate() {
        for &pid in &log.forked {
            let gone = |pid: i32| {
                // Gone, or a zombie no one reaps: either way it ended.
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .map(|st| st.lines().any(|l| l.starts_with("State:") && l.contains('Z')))
                    .unwrap_or(true)
            };
            let start = Instant::now();
            while !gone(pid) && start.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if !gone(pid) {
                // SAFETY: a process this round made.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return Err(describe(&format!(
                    "a child forked by worker {w} hung (pid {pid})"
                )));
            }
        }
    }
    // The model: every key of every worker, against the store.
    let store = Store::open(&path, Options::default()).map_err(|e| describe(&format!("final open: {e}")))?;
    let report = store.verify().map_err(|e| describe(&format!("verify: {e}")))?;
    if !report.is_ok() {
        return Err(describe(&format!("verify: {:?}", report.problems)));
    }
    let t0 = now_ms();
    for (w, log) in logs.iter().enumerate() {
        for (key, allowed) in allowed_states(w as u64, log) {
            let got = store
                .get(NS, key.as_bytes())
                .map_err(|e| describe(&format!("get {key}: {e}")))?;
            let t1 = now_ms();
            let fits = allowed.iter().any(|a| match (a, &got) {
                (None, None) => true,
                // Absent is right once the deadline may have passed: it is at least `earliest`.
                (Some((_, earliest, _)), None) => *earliest != NEVER && *earliest <= t1,
                (Some((vid, _, latest)), Some(v)) => {
                    let vid_ok = v.split(|&b| b == b':').nth(2) == Some(vid.to_string().as_bytes());
                    // Live at or after t0, so its deadline (at most `latest`) is after t0.
                    vid_ok && *latest > t0 && check_value(&key, v, t0).is_none()
                }
                (None, Some(_)) => false,
            });
            if !fits {
                let got = got.map(|v| String::from_utf8_lossy(&v[..v.len().min(60)]).into_owned());
                return Err(describe(&format!(
                    "key {key} holds {got:?}; the model allows {allowed:?} (worker {w} killed: {})",
                    killed[w]
                )));
            }
        }
    }
    Ok(())
}

#[test]
fn random_processes_options_kills_and_forks_keep_every_promise() {
    let soak = std::env::var_os("TTLKV_SOAK").is_some();
    let rounds = if soak { 200 } else { 10 };
    let base: u64 = std::env::var("TTLKV_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now_ms() ^ std::process::id() as u64);
    println!("model test: seed {base}, {rounds} rounds (TTLKV_MODEL_SEED={base} replays it)");
    for round in 0..rounds {
        if let Err(e) = run_round(round, base.wrapping_add(round), soak) {
            panic!("{e}\nreplay with TTLKV_MODEL_SEED={base}");
        }
    }
}
