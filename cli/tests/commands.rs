//! Every command of the built `ttlkv` binary, in text and --json, with its exit codes, its bad
//! arguments, and its byte inputs and outputs.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::*;
use ttlkv::{Clock, Eviction, ManualClock, Options, Store, DEADLINE_NEVER};

const MIN: Duration = Duration::from_secs(60);

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A store with three namespaces: `sessions` (tok = payload for 30 min, `bin\n` = binary bytes
/// that never expire, alpha = 1 for 1 h), `counters` (hits = 41) and the binary `\xff\x00`.
fn fixture() -> (Dir, String) {
    let d = Dir::new();
    let path = d.store();
    let s = open(&path);
    s.put(b"sessions", b"tok", b"payload", 30 * MIN).unwrap();
    s.put(b"sessions", b"bin\n", b"\x00\xffraw", ttlkv::TTL_NEVER)
        .unwrap();
    s.put(b"sessions", b"alpha", b"1", 60 * MIN).unwrap();
    s.put(b"counters", b"hits", b"41", 60 * MIN).unwrap();
    s.put(b"\xff\x00", b"k", b"v", 60 * MIN).unwrap();
    s.close();
    (d, path)
}

const COMMANDS: [&str; 16] = [
    "stats",
    "namespaces",
    "keys",
    "count",
    "get",
    "ttl",
    "put",
    "delete",
    "touch",
    "incr",
    "purge",
    "verify",
    "clear",
    "backup",
    "dump",
    "load",
];

#[test]
fn every_command_has_help_and_the_exit_codes_are_listed() {
    let top = ttlkv(&["--help"]).ok().out();
    for c in COMMANDS {
        assert!(top.contains(&format!("  {c} ")), "{c} missing from --help");
        let help = ttlkv(&[c, "--help"]).ok().out();
        assert!(help.contains(&format!("Usage: ttlkv {c}")), "{c} --help: {help}");
        let help = ttlkv(&["help", c]).ok().out();
        assert!(help.contains(&format!("Usage: ttlkv {c}")), "help {c}: {help}");
    }
    for code in [
        "0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ", "8 ", "9 ", "10 ", "141 ",
    ] {
        assert!(
            top.contains(&format!("\n  {code}")),
            "exit code {code} is not documented"
        );
    }
    assert!(ttlkv(&["get", "--help"]).ok().out().contains("@FILE"));
    assert!(ttlkv(&["--version"])
        .ok()
        .out()
        .contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_path_without_a_store_is_refused_and_never_created() {
    let d = Dir::new();
    let missing = d.join("missing");
    let m = missing.to_str().unwrap();
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = empty.to_str().unwrap();
    let file = d.join("file");
    std::fs::write(&file, b"x").unwrap();
    let f = file.to_str().unwrap();
    let dest = d.join("dest");
    for path in [m, e, f] {
        let runs: Vec<Vec<&str>> = vec![
            vec!["stats", path],
            vec!["namespaces", path],
            vec!["keys", path, "ns"],
            vec!["count", path, "ns"],
            vec!["get", path, "ns", "k"],
            vec!["ttl", path, "ns", "k"],
            vec!["put", path, "ns", "k", "v", "--ttl", "1h"],
            vec!["delete", path, "ns", "k"],
            vec!["touch", path, "ns", "k", "--ttl", "1h"],
            vec!["incr", path, "ns", "k", "--ttl", "1h"],
            vec!["purge", path],
            vec!["verify", path],
            vec!["clear", path, "ns"],
            vec!["backup", path, dest.to_str().unwrap()],
            vec!["dump", path],
        ];
        for args in runs {
            let r = ttlkv(&args).code(3);
            assert!(r.stdout.is_empty(), "{args:?}");
            assert!(
                r.stderr.contains(path) && r.stderr.contains("no store here"),
                "{args:?}: {}",
                r.stderr
            );
        }
    }
    assert!(!missing.exists(), "a command created the missing directory");
    assert!(!empty.join("data.mdb").exists(), "a command created a store");
    assert!(!dest.exists());
}

#[test]
fn bad_arguments_exit_2_and_write_nothing() {
    let (d, p) = fixture();
    let p = p.as_str();
    let long_key = "k".repeat(600);
    let long_ns = "n".repeat(256);
    let missing_file = format!("@{}", d.join("no-such-file").display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "Usage"),
        (vec!["frobnicate", p], "unrecognized subcommand"),
        (vec!["get", p, "sessions"], "KEY"),
        (vec!["put", p, "sessions", "k", "v"], "--ttl"),
        (
            vec!["put", p, "sessions", "k", "v", "--ttl", "30"],
            "needs a unit",
        ),
        (vec!["put", p, "sessions", "k", "v", "--ttl", "0s"], "invalid TTL"),
        (
            vec!["put", p, "sessions", "k", "v", "--ttl", "5parsecs"],
            "unknown unit",
        ),
        (
            vec!["touch", p, "sessions", "tok", "--ttl", "soon"],
            "invalid TTL",
        ),
        (
            vec!["put", p, "sessions", "k", "v", "--ttl", "1h", "--hex"],
            "not hex",
        ),
        (vec!["get", "--hex", p, "73", "abc"], "odd number"),
        (
            vec!["put", p, "sessions", &long_key, "v", "--ttl", "1h"],
            "key_too_long",
        ),
        (
            vec!["put", p, &long_ns, "k", "v", "--ttl", "1h"],
            "namespace_invalid",
        ),
        (vec!["get", p, "", "k"], "namespace_invalid"),
        (
            vec!["put", p, "sessions", "-", "-", "--ttl", "1h"],
            "standard input can be read only once",
        ),
        (
            vec!["put", p, "sessions", "k", &missing_file, "--ttl", "1h"],
            "no-such-file",
        ),
        (vec!["keys", p, "sessions", "--limit", "many"], "invalid value"),
        (vec!["incr", p, "counters", "hits", "--by", "x"], "invalid value"),
        (vec!["stats", p, "--frob"], "unexpected argument"),
    ];
    for (args, says) in cases {
        let r = ttlkv(&args).code(2);
        assert!(
            r.stderr.contains(says),
            "{args:?}: expected {says:?} in {}",
            r.stderr
        );
    }
    let s = open(p);
    assert_eq!(s.count(b"sessions").unwrap(), 3);
    assert_eq!(s.get(b"sessions", b"k").unwrap(), None);
    assert_eq!(
        s.get(b"sessions", b"tok").unwrap().as_deref(),
        Some(&b"payload"[..])
    );
}

#[test]
fn get_prints_text_escapes_raw_bytes_and_json() {
    let (_d, p) = fixture();
    assert_eq!(ttlkv(&["get", &p, "sessions", "tok"]).ok().out(), "payload\n");
    assert_eq!(
        ttlkv(&["get", &p, "sessions", "bin\n"]).ok().out(),
        "\\x00\\xffraw\n"
    );
    assert_eq!(
        ttlkv(&["get", "--raw", &p, "sessions", "bin\n"]).ok().stdout,
        b"\x00\xffraw"
    );
    assert_eq!(
        ttlkv(&["get", "--hex", &p, "73657373696f6e73", "62696e0a"])
            .ok()
            .out(),
        "\\x00\\xffraw\n"
    );
    assert_eq!(ttlkv(&["get", "--hex", &p, "ff00", "6b"]).ok().out(), "v\n");

    let s = open(&p);
    let deadline = s.deadline(b"sessions", b"tok").unwrap().unwrap();
    let (_, version) = s.get_versioned(b"sessions", b"tok").unwrap().unwrap();
    s.close();
    let before = now_ms();
    let j = ttlkv(&["get", "--json", &p, "sessions", "tok"]).ok().json();
    assert_eq!(j["ns"], "sessions");
    assert_eq!(j["key"], "tok");
    assert_eq!(j["value"], "payload");
    assert_eq!(j["value_b64"], b64(b"payload"));
    assert_eq!(j["deadline_ms"], deadline);
    assert_eq!(j["version"], version);
    let ttl = j["ttl_ms"].as_u64().unwrap();
    assert!(ttl <= deadline - before && ttl > 0, "{ttl}");
    assert!(j["deadline"].as_str().unwrap().ends_with('Z'));

    let j = ttlkv(&["get", "--json", &p, "sessions", "bin\n"]).ok().json();
    assert_eq!(j["value"], serde_json::Value::Null, "not UTF-8: no text");
    assert_eq!(j["value_b64"], b64(b"\x00\xffraw"));
    assert_eq!(j["key"], "bin\n");
    assert_eq!(j["deadline_ms"], serde_json::Value::Null);
    assert_eq!(j["ttl_ms"], serde_json::Value::Null);

    for json in [false, true] {
        let mut args = vec!["get", p.as_str(), "sessions", "nope"];
        if json {
            args.push("--json");
        }
        let r = ttlkv(&args).code(1);
        assert!(r.stdout.is_empty());
        assert!(
            r.stderr.contains(&p) && r.stderr.contains("\"nope\""),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn ttl_prints_the_time_left_and_the_deadline() {
    let (_d, p) = fixture();
    let t = ttlkv(&["ttl", &p, "sessions", "tok"]).ok().out();
    assert!(t.starts_with("30m") || t.starts_with("29m"), "{t:?}");
    assert_eq!(ttlkv(&["ttl", &p, "sessions", "bin\n"]).ok().out(), "never\n");
    let s = open(&p);
    let deadline = s.deadline(b"sessions", b"alpha").unwrap().unwrap();
    s.close();
    let j = ttlkv(&["ttl", "--json", &p, "sessions", "alpha"]).ok().json();
    assert_eq!(j["deadline_ms"], deadline);
    assert!(j["ttl_ms"].as_u64().unwrap() <= 3_600_000);
    let j = ttlkv(&["ttl", "--json", &p, "sessions", "bin\n"]).ok().json();
    assert_eq!(j["deadline_ms"], serde_json::Value::Null);
    let r = ttlkv(&["ttl", &p, "sessions", "gone"]).code(1);
    assert!(r.stderr.contains("\"gone\""));
}

#[test]
fn put_takes_text_hex_files_and_stdin_and_keeps_the_ttl() {
    let (d, p) = fixture();
    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i * 7 % 251) as u8).collect();
    let file = d.join("big.bin");
    std::fs::write(&file, &big).unwrap();
    let at_file = format!("@{}", file.display());

    let t0 = now_ms();
    assert!(
        ttlkv(&["put", &p, "app", "text", "hello world", "--ttl", "1h30m"])
            .ok()
            .stdout
            .is_empty()
    );
    let t1 = now_ms();
    ttlkv(&["put", &p, "app", "file", &at_file, "--ttl", "never"]).ok();
    ttlkv_input(
        &["put", &p, "app", "stdin", "-", "--ttl", "10m"],
        b"from\nstdin\x00",
    )
    .ok();
    ttlkv_input(&["put", &p, "app", "-", "v", "--ttl", "10m"], b"key-from-stdin").ok();
    ttlkv(&["put", "--hex", &p, "617070", "00ff", "c0ffee", "--ttl", "2d"]).ok();
    ttlkv(&["put", &p, "app", "@@user", "at", "--ttl", "1w"]).ok();
    let j = ttlkv(&["put", "--json", &p, "app", "j", "v", "--ttl", "500ms"])
        .ok()
        .json();
    assert_eq!(j["written"], true);
    assert_eq!(j["key"], "j");

    let s = open(&p);
    let get = |k: &[u8]| s.get(b"app", k).unwrap();
    assert_eq!(get(b"text").as_deref(), Some(&b"hello world"[..]));
    let d = s.deadline(b"app", b"text").unwrap().unwrap();
    assert!(
        d >= t0 + 5_400_000 && d <= t1 + 5_400_000,
        "{d} not in [{t0}, {t1}] + 1h30m"
    );
    assert_eq!(get(b"file").as_deref(), Some(&big[..]));
    assert_eq!(s.deadline(b"app", b"file").unwrap(), Some(DEADLINE_NEVER));
    assert_eq!(get(b"stdin").as_deref(), Some(&b"from\nstdin\x00"[..]));
    assert_eq!(get(b"key-from-stdin").as_deref(), Some(&b"v"[..]));
    assert_eq!(get(b"\x00\xff").as_deref(), Some(&b"\xc0\xff\xee"[..]));
    assert_eq!(get(b"@user").as_deref(), Some(&b"at"[..]));
}

#[test]
fn keys_are_listed_in_order_with_prefix_limit_long_raw_and_json() {
    let (_d, p) = fixture();
    assert_eq!(
        ttlkv(&["keys", &p, "sessions"]).ok().out(),
        "alpha\nbin\\n\ntok\n"
    );
    assert_eq!(
        ttlkv(&["keys", "--raw", &p, "sessions"]).ok().stdout,
        b"alpha\nbin\n\ntok\n"
    );
    assert_eq!(
        ttlkv(&["keys", &p, "sessions", "--prefix", "t"]).ok().out(),
        "tok\n"
    );
    assert_eq!(
        ttlkv(&["keys", &p, "sessions", "--prefix", "b"]).ok().out(),
        "bin\\n\n"
    );
    assert_eq!(ttlkv(&["keys", &p, "sessions", "--prefix", "zz"]).ok().out(), "");
    assert_eq!(
        ttlkv(&["keys", &p, "sessions", "--limit", "2"]).ok().out(),
        "alpha\nbin\\n\n"
    );
    assert_eq!(ttlkv(&["keys", &p, "sessions", "--limit", "0"]).ok().out(), "");
    assert_eq!(ttlkv(&["keys", &p, "nobody"]).ok().out(), "");

    let long = ttlkv(&["keys", "-l", &p, "sessions"]).ok().out();
    let lines: Vec<&str> = long.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].ends_with("1 B  alpha") && lines[0].trim_start().starts_with("1h"),
        "{long}"
    );
    assert!(
        lines[1].trim_start().starts_with("never") && lines[1].ends_with("5 B  bin\\n"),
        "{long}"
    );
    assert!(lines[2].ends_with("7 B  tok"), "{long}");

    let j = ttlkv(&["keys", "--json", &p, "sessions"]).ok().json();
    let keys: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["alpha", "bin\n", "tok"]);
    assert_eq!(j[1]["key_b64"], b64(b"bin\n"));
    assert_eq!(j[1]["deadline_ms"], serde_json::Value::Null);
    assert_eq!(j[1]["value_bytes"], 5);
    assert!(j[2]["deadline_ms"].as_u64().unwrap() > now_ms());
    let j = ttlkv(&["keys", "--json", &p, "sessions", "--prefix", "q"])
        .ok()
        .json();
    assert_eq!(j, serde_json::json!([]));
    let j = ttlkv(&["keys", "--json", "--hex", &p, "ff00"]).ok().json();
    assert_eq!(j[0]["key"], "k");
}

#[test]
fn namespaces_and_count_in_text_and_json() {
    let (_d, p) = fixture();
    assert_eq!(
        ttlkv(&["namespaces", &p]).ok().out(),
        "counters\nsessions\n\\xff\\x00\n"
    );
    assert_eq!(
        ttlkv(&["namespaces", "--raw", &p]).ok().stdout,
        b"counters\nsessions\n\xff\x00\n"
    );
    let j = ttlkv(&["namespaces", "--json", &p]).ok().json();
    assert_eq!(j.as_array().unwrap().len(), 3);
    assert_eq!(j[0]["ns"], "counters");
    assert_eq!(j[2]["ns"], serde_json::Value::Null);
    assert_eq!(j[2]["ns_b64"], b64(b"\xff\x00"));
    assert_eq!(ttlkv(&["count", &p, "sessions"]).ok().out(), "3\n");
    assert_eq!(ttlkv(&["count", &p, "nobody"]).ok().out(), "0\n");
    let j = ttlkv(&["count", "--json", &p, "counters"]).ok().json();
    assert_eq!(
        (j["ns"].as_str(), j["count"].as_u64()),
        (Some("counters"), Some(1))
    );
}

#[test]
fn delete_touch_and_incr_report_and_exit_as_documented() {
    let (_d, p) = fixture();
    assert_eq!(
        ttlkv(&["delete", &p, "sessions", "tok"]).ok().out(),
        "deleted 1 of 1\n"
    );
    let r = ttlkv(&["delete", &p, "sessions", "tok"]).code(1);
    assert_eq!(r.out(), "deleted 0 of 1\n");
    assert!(r.stderr.contains("\"tok\""));
    let j = ttlkv(&["delete", "--json", &p, "sessions", "alpha", "nope", "bin\n"])
        .ok()
        .json();
    assert_eq!((j["deleted"].as_u64(), j["keys"].as_u64()), (Some(2), Some(3)));
    assert_eq!(open(&p).count(b"sessions").unwrap(), 0);

    let before = open(&p).deadline(b"counters", b"hits").unwrap().unwrap();
    assert!(ttlkv(&["touch", &p, "counters", "hits", "--ttl", "2d"])
        .ok()
        .stdout
        .is_empty());
    let after = open(&p).deadline(b"counters", b"hits").unwrap().unwrap();
    assert!(after >= before + 47 * 3_600_000, "{before} -> {after}");
    let shown = ttlkv(&["ttl", &p, "counters", "hits"]).ok().out();
    assert!(shown == "2d\n" || shown == "1d 23h\n", "{shown:?}");
    let j = ttlkv(&["touch", "--json", &p, "counters", "nope", "--ttl", "1h"])
        .code(1)
        .json();
    assert_eq!(j["touched"], false);

    assert_eq!(ttlkv(&["incr", &p, "counters", "hits"]).ok().out(), "42\n");
    let j = ttlkv(&["incr", "--json", &p, "counters", "hits", "--by", "-50"])
        .ok()
        .json();
    assert_eq!(j["value"], -8);
    let r = ttlkv(&["incr", &p, "counters", "new"]).code(1);
    assert!(r.stderr.contains("--ttl creates"), "{}", r.stderr);
    assert_eq!(
        ttlkv(&["incr", &p, "counters", "new", "--by", "5", "--ttl", "1h"])
            .ok()
            .out(),
        "5\n"
    );
    let d = open(&p).deadline(b"counters", b"new").unwrap().unwrap();
    assert!(d > now_ms() + 3_500_000 && d <= now_ms() + 3_600_000);

    ttlkv(&["put", &p, "counters", "word", "seven", "--ttl", "1h"]).ok();
    let r = ttlkv(&["incr", &p, "counters", "word"]).code(4);
    assert!(r.stderr.contains("not_a_counter"), "{}", r.stderr);
    ttlkv(&["put", &p, "counters", "max", &i64::MAX.to_string(), "--ttl", "1h"]).ok();
    let r = ttlkv(&["incr", &p, "counters", "max"]).code(4);
    assert!(r.stderr.contains("overflow"), "{}", r.stderr);
    assert_eq!(
        open(&p).get(b"counters", b"word").unwrap().as_deref(),
        Some(&b"seven"[..])
    );
}

/// Entries whose deadlines passed before the command runs, written by a process whose clock
/// is two hours behind; that process keeps its handle open, and by its clock they are live,
/// so only the command removes them.
#[test]
fn purge_removes_every_expired_entry_and_nothing_else() {
    let d = Dir::new();
    let p = d.store();
    let clock = ManualClock::new(now_ms() - 2 * 3_600_000);
    let behind = Store::open(&p, Options::default().clock(Clock::Manual(clock))).unwrap();
    for i in 0..300u32 {
        behind.put(b"old", &i.to_be_bytes(), b"x", 60 * MIN).unwrap();
    }
    for i in 0..5u32 {
        behind
            .put(b"keep", &i.to_be_bytes(), b"y", ttlkv::TTL_NEVER)
            .unwrap();
    }
    assert_eq!(behind.verify().unwrap().entries, 305);

    let j = ttlkv(&["purge", "--json", &p]).ok().json();
    let removed = j["removed"].as_u64().unwrap();
    assert!(removed <= 300, "{removed}");
    let r = behind.verify().unwrap();
    assert_eq!((r.entries, r.is_ok()), (5, true), "{:?}", r.problems);
    assert_eq!(behind.count(b"keep").unwrap(), 5);
    behind.close();
    assert_eq!(ttlkv(&["purge", &p]).ok().out(), "removed 0 expired entries\n");
}

/// Damages a store behind ttlkv's back (no handle of this process is open on it): an index
/// record (0x00 · deadline · ns_len · ns · key, README "On-disk format") for an entry that does
/// not exist, due in the far future so that no expiry thread removes it.
fn damage(path: &str) {
    use lmdb::Transaction;
    let env = lmdb::Environment::new()
        .set_max_dbs(8)
        .open(std::path::Path::new(path))
        .unwrap();
    let db = env.open_db(None).unwrap();
    let mut txn = env.begin_rw_txn().unwrap();
    let mut key = vec![0u8];
    key.extend_from_slice(&(u64::MAX / 2).to_be_bytes());
    key.extend_from_slice(b"\x02nsghost");
    txn.put(db, &key, &[], lmdb::WriteFlags::empty()).unwrap();
    txn.commit().unwrap();
}

#[test]
fn verify_prints_each_problem_and_exits_5() {
    let (_d, p) = fixture();
    assert_eq!(
        ttlkv(&["verify", &p]).ok().out(),
        "ok: 5 entries (4 expiring), 4 index records\n"
    );
    let j = ttlkv(&["verify", "--json", &p]).ok().json();
    assert_eq!(j["ok"], true);
    assert_eq!(j["entries"], 5);
    assert_eq!(j["problems"], serde_json::json!([]));

    damage(&p);
    let r = ttlkv(&["verify", &p]).code(5);
    let out = r.out();
    assert!(
        out.lines()
            .any(|l| l.starts_with("problem: ") && l.contains("index record")),
        "{out}"
    );
    assert!(out.lines().last().unwrap().starts_with("damaged: "), "{out}");
    assert!(
        r.stderr.contains(&p) && r.stderr.contains("verify found 1 problem"),
        "{}",
        r.stderr
    );
    let j = ttlkv(&["verify", "--json", &p]).code(5).json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["problems"].as_array().unwrap().len(), 1);
    // The live entries are still served.
    assert_eq!(ttlkv(&["get", &p, "sessions", "tok"]).ok().out(), "payload\n");
}

#[test]
fn clear_removes_one_namespace() {
    let (_d, p) = fixture();
    assert_eq!(
        ttlkv(&["clear", &p, "sessions"]).ok().out(),
        "removed 3 entries from namespace \"sessions\"\n"
    );
    let j = ttlkv(&["clear", "--json", &p, "sessions"]).ok().json();
    assert_eq!(j["removed"], 0);
    let j = ttlkv(&["clear", "--json", "--hex", &p, "ff00"]).ok().json();
    assert_eq!(
        (j["removed"].as_u64(), j["ns_b64"].as_str()),
        (Some(1), Some("/wA="))
    );
    assert_eq!(ttlkv(&["namespaces", &p]).ok().out(), "counters\n");
}

#[test]
fn backup_copies_every_entry_and_deadline_and_refuses_a_full_directory() {
    let (d, p) = fixture();
    let full = d.join("full");
    let r = ttlkv(&["backup", &p, full.to_str().unwrap()]).ok().out();
    assert!(r.starts_with(&format!("copied {p} to {}", full.display())), "{r}");
    let small = d.join("small");
    let j = ttlkv(&["backup", "--json", "--compact", &p, small.to_str().unwrap()])
        .ok()
        .json();
    assert_eq!(j["compact"], true);
    // (Measured before a library open with its 16 MiB map extends the file.)
    assert_eq!(
        j["bytes"].as_u64().unwrap(),
        std::fs::metadata(small.join("data.mdb")).unwrap().len()
    );
    ttlkv(&["verify", small.to_str().unwrap()]).ok();
    let compacted = std::fs::metadata(small.join("data.mdb")).unwrap().len();
    assert_eq!(
        j["bytes"].as_u64().unwrap(),
        compacted,
        "verify extended the copy's file"
    );
    let want = all_entries(&open(&p));
    for copy in [&full, &small] {
        assert_eq!(all_entries(&open(copy)), want);
        ttlkv(&["verify", copy.to_str().unwrap()]).ok();
    }
    let r = ttlkv(&["backup", &p, full.to_str().unwrap()]).code(3);
    assert!(r.stderr.contains("not empty"), "{}", r.stderr);
}

#[test]
fn stats_shows_entries_namespaces_sizes_bound_and_readers() {
    let (_d, p) = fixture();
    let s = open(&p);
    s.set_max_bytes(Some(1 << 20), Eviction::SoonestDeadline).unwrap();
    let id: String = s.store_id().unwrap().iter().map(|b| format!("{b:02x}")).collect();
    let earliest = s.deadline(b"sessions", b"tok").unwrap().unwrap();
    s.close();

    let text = ttlkv(&["stats", &p]).ok().out();
    for want in [
        format!("store id    {id}"),
        "format      version 1".into(),
        "entries     5 live: 4 expiring, 1 never; ".into(),
        "size bound  1.0 MiB (eviction soonest_deadline)".into(),
        "readers     ".into(),
        "sync (this command)".into(),
        "NAMESPACE".into(),
    ] {
        assert!(text.contains(&want), "{want:?} not in\n{text}");
    }
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("sessions"))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[1..4], ["3", "2", "1"], "{row}");
    assert!(
        text.contains("\\xff\\x00"),
        "binary namespaces are escaped: {text}"
    );

    let j = ttlkv(&["stats", "--json", &p]).ok().json();
    assert_eq!(j["store_id"], id);
    assert_eq!(j["format_version"], ttlkv::FORMAT_VERSION);
    assert_eq!(j["entries"]["entries"], 5);
    assert_eq!(j["entries"]["expiring"], 4);
    assert_eq!(j["entries"]["never"], 1);
    assert_eq!(j["entries"]["earliest_deadline_ms"], earliest);
    assert_eq!(j["entries"]["key_bytes"], 3 + 4 + 5 + 4 + 1);
    let ns = j["namespaces"].as_array().unwrap();
    assert_eq!(ns.len(), 3);
    assert_eq!(
        (ns[1]["ns"].as_str(), ns[1]["entries"].as_u64()),
        (Some("sessions"), Some(3))
    );
    assert_eq!(ns[1]["value_bytes"], 7 + 5 + 1);
    assert_eq!(j["size"]["max_bytes"], 1 << 20);
    assert!(j["size"]["file_bytes"].as_u64().unwrap() >= j["size"]["used_bytes"].as_u64().unwrap());
    assert!(j["size"]["tree_bytes"].as_u64().unwrap() > 0);
    let me = j["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["this_command"] == true)
        .expect("the command itself maps the store");
    assert_eq!(me["write_map"], false);
    assert_eq!(me["maps_store"], true);
    let j = ttlkv(&["stats", "--json", "--no-entries", &p]).ok().json();
    assert!(j.get("entries").is_none() && j.get("namespaces").is_none());
    assert_eq!(j["store_id"], id);
    assert!(!ttlkv(&["stats", "--no-entries", &p])
        .ok()
        .out()
        .contains("NAMESPACE"));
}

#[test]
fn store_errors_map_to_their_exit_codes() {
    // 6: an LMDB file of another program.
    let d = Dir::new();
    let foreign = d.join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    {
        use lmdb::Transaction;
        let env = lmdb::Environment::new().open(&foreign).unwrap();
        let db = env.open_db(None).unwrap();
        let mut txn = env.begin_rw_txn().unwrap();
        txn.put(db, b"theirs", b"data", lmdb::WriteFlags::empty())
            .unwrap();
        txn.commit().unwrap();
    }
    let r = ttlkv(&["stats", foreign.to_str().unwrap()]).code(6);
    assert!(r.stderr.contains("incompatible"), "{}", r.stderr);

    // 7: a directory other users could write to, unless --allow-shared-dir.
    let (_d, p) = fixture();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = ttlkv(&["get", &p, "sessions", "tok"]).code(7);
    assert!(
        r.stderr.contains("--allow-shared-dir") && r.stderr.contains(&p),
        "{}",
        r.stderr
    );
    ttlkv(&["get", "--allow-shared-dir", &p, "sessions", "tok"]).ok();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();

    // 8: the size bound with eviction none.
    let s = open(&p);
    s.set_max_bytes(Some(64 << 10), Eviction::None).unwrap();
    s.close();
    let d2 = Dir::new();
    let big = d2.join("big");
    std::fs::write(&big, vec![7u8; 200 << 10]).unwrap();
    let r = ttlkv(&[
        "put",
        &p,
        "sessions",
        "big",
        &format!("@{}", big.display()),
        "--ttl",
        "1h",
    ])
    .code(8);
    assert!(r.stderr.contains("full"), "{}", r.stderr);
    assert_eq!(open(&p).get(b"sessions", b"big").unwrap(), None);
}

#[test]
fn hostile_bytes_are_escaped_unless_raw() {
    let d = Dir::new();
    let p = d.store();
    let s = open(&p);
    let key = "\x1b[2J\u{202e}evil\r".as_bytes();
    s.put(b"ns", key, b"\x1b]0;title\x07", 60 * MIN).unwrap();
    s.close();
    let keys = ttlkv(&["keys", &p, "ns"]).ok().stdout;
    assert_eq!(keys, b"\\x1b[2J\\u{202e}evil\\r\n");
    let value = ttlkv(&["get", "--hex", &p, "6e73", &hex(key)]).ok().stdout;
    assert_eq!(value, b"\\x1b]0;title\\x07\n");
    assert!(!ttlkv(&["stats", &p]).ok().stdout.contains(&0x1b));
    assert_eq!(
        ttlkv(&["keys", "--raw", &p, "ns"]).ok().stdout,
        [key, b"\n"].concat()
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn a_closed_stdout_ends_the_command_quietly_with_141() {
    let d = Dir::new();
    let p = d.store();
    let s = open(&p);
    let keys: Vec<Vec<u8>> = (0..50_000u32)
        .map(|i| format!("key-{i:08}-padding-padding").into_bytes())
        .collect();
    let recs: Vec<ttlkv::RecordMs<'_>> = keys
        .iter()
        .map(|k| (&b"ns"[..], &k[..], &b""[..], 3_600_000))
        .collect();
    s.put_many_ms(&recs).unwrap();
    s.close();
    // 1.6 MB of keys cannot fit in a pipe that nobody reads: the command meets the closed end.
    let mut child = Command::new(BIN)
        .args(["keys", &p, "ns"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(141), "stderr: {err}");
    assert_eq!(err, "");
}
