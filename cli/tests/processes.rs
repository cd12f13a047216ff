//! The command beside another process that has the store open and writes: reads see its
//! writes and it sees the command's, a read holding its snapshot blocks none of its writes,
//! `stats` names it, and a backup taken while it writes opens clean.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

const MIN: Duration = Duration::from_secs(60);

/// The child process of [`Helper`] (run by the tests below with `--ignored --exact`).
#[test]
#[ignore = "the child process of the other tests of this file"]
fn child_process() {
    child_main();
}

#[test]
fn a_store_in_use_by_a_write_map_process_is_read_written_and_described() {
    let d = Dir::new();
    let p = d.store();
    open(&p).close();
    let mut child = Helper::spawn(&p, "write_map");
    assert_eq!(child.ask("put app child 10"), "ok");
    assert_eq!(child.ask("hold"), "held");

    // What the other process wrote, read while it holds a snapshot open.
    assert_eq!(ttlkv(&["get", &p, "app", "child-3"]).ok().out(), "v-child-3\n");
    assert_eq!(ttlkv(&["count", &p, "app"]).ok().out(), "10\n");
    // What the command writes, the other process reads.
    ttlkv(&["put", &p, "app", "from-cli", "hello", "--ttl", "1h"]).ok();
    assert_eq!(child.ask("get app from-cli"), "value hello");
    assert_eq!(
        ttlkv(&["incr", &p, "app", "n", "--ttl", "1h", "--by", "3"])
            .ok()
            .out(),
        "3\n"
    );
    assert_eq!(child.ask("get app n"), "value 3");
    assert_eq!(
        ttlkv(&["delete", &p, "app", "child-0"]).ok().out(),
        "deleted 1 of 1\n"
    );
    assert_eq!(child.ask("get app child-0"), "none");

    let j = ttlkv(&["stats", "--json", &p]).ok().json();
    let procs = j["processes"].as_array().unwrap();
    let other = procs
        .iter()
        .find(|x| x["pid"] == child.pid)
        .unwrap_or_else(|| panic!("pid {} not among {procs:?}", child.pid));
    assert_eq!(other["write_map"], true);
    assert_eq!(other["durability"], "periodic");
    assert!(other["reading"].as_u64().unwrap() >= 1, "{other}");
    let slots: Vec<&Value> = j["readers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pid"] == child.pid)
        .collect();
    assert!(slots.iter().any(|r| r["txnid"].is_u64()), "{slots:?}");
    let text = ttlkv(&["stats", &p]).ok().out();
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with(&child.pid.to_string()))
        .unwrap_or_else(|| panic!("no row for pid {} in\n{text}", child.pid));
    assert!(
        row.contains("writable") && row.contains("periodic + write_map"),
        "{row}"
    );

    assert_eq!(child.ask("release"), "released");
    child.exit();
    ttlkv(&["verify", &p]).ok();
}

/// A dump to a pipe nobody reads stops inside its snapshot (its output is larger than the
/// pipe and its buffer): the other process's writes all complete meanwhile, and the dump, once
/// read, holds the snapshot it started with.
#[test]
fn a_dump_holding_its_snapshot_blocks_no_writer_and_stays_consistent() {
    let d = Dir::new();
    let p = d.store();
    let s = open(&p);
    let value = vec![b'x'; 1024];
    for i in 0..3000u32 {
        s.put(b"data", format!("k-{i:05}").as_bytes(), &value, 60 * MIN)
            .unwrap();
    }
    s.close();
    let mut child = Helper::spawn(&p, "sync");

    let mut dump = Command::new(BIN)
        .args(["dump", &p])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(dump.stdout.take().unwrap());
    let mut header = String::new();
    out.read_line(&mut header).unwrap();
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("{\"ns\":"), "{first}");
    // The dump is inside for_each_entry now, and cannot leave it until we read on.
    let j = ttlkv(&["stats", "--json", "--no-entries", &p]).ok().json();
    let reading = j["readers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["pid"] == dump.id() && r["txnid"].is_u64());
    assert!(reading, "the blocked dump holds a snapshot: {}", j["readers"]);

    assert_eq!(child.ask("put data after 500"), "ok");
    assert_eq!(child.ask("delete data k-00000"), "true");
    assert_eq!(child.ask("put data after2 500"), "ok");

    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(dump.wait().unwrap().success());
    let mut keys = Vec::new();
    for line in first.lines().chain(rest.lines()) {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(k) = v["key"].as_str() {
            use base64::Engine;
            keys.push(
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(k).unwrap()).unwrap(),
            );
        } else {
            assert_eq!(v["entries"], 3000, "{line}");
        }
    }
    assert_eq!(keys.len(), 3000);
    assert_eq!(keys[0], "k-00000", "deleted after the snapshot began");
    assert!(
        keys.iter().all(|k| k.starts_with("k-")),
        "nothing written after it"
    );
    assert_eq!(ttlkv(&["count", &p, "data"]).ok().out(), "3999\n");
    child.exit();
}

/// Full and compacted backups while another process writes batches of 100 entries and
/// deletes: both open as stores, verify clean, hold every entry written before with its
/// deadline, and of the batches only whole ones (each backup is one snapshot).
#[test]
fn a_backup_taken_during_writes_opens_clean() {
    let d = Dir::new();
    let p = d.store();
    let s = open(&p);
    for i in 0..2000u32 {
        let ttl = if i % 10 == 0 {
            ttlkv::TTL_NEVER
        } else {
            MIN * ((i % 7 + 1) * 10)
        };
        s.put(b"base", format!("b-{i:05}").as_bytes(), &i.to_be_bytes(), ttl)
            .unwrap();
    }
    let base: Vec<_> = all_entries(&s);
    s.close();
    let mut child = Helper::spawn(&p, "sync");
    assert_eq!(child.ask("bg"), "writing");
    let full = d.join("full");
    let compact = d.join("compact");
    ttlkv(&["backup", &p, full.to_str().unwrap()]).ok();
    ttlkv(&["backup", "--compact", &p, compact.to_str().unwrap()]).ok();
    let stopped = child.ask("stop");
    assert!(stopped.starts_with("stopped "), "{stopped}");
    child.exit();

    for copy in [&full, &compact] {
        let c = copy.to_str().unwrap();
        assert!(ttlkv(&["verify", c]).ok().out().starts_with("ok: "));
        let store = open(copy);
        let entries = all_entries(&store);
        let in_base: Vec<_> = entries.iter().filter(|e| e.0 == b"base").cloned().collect();
        assert_eq!(
            in_base, base,
            "{c}: every entry and deadline from before the backup"
        );
        // Batch n is one transaction writing bg-n-000..099, then one deleting bg-(n-1)-000:
        // a snapshot has 99 of every batch but the last (100), and 100 of the one before
        // the last when it fell between those two transactions.
        let mut per_batch = std::collections::BTreeMap::<String, usize>::new();
        for e in entries.iter().filter(|e| e.0 == b"bg") {
            let k = String::from_utf8(e.1.clone()).unwrap();
            *per_batch.entry(k[3..9].to_string()).or_default() += 1;
        }
        let counts: Vec<usize> = per_batch.values().copied().collect();
        let (last, earlier) = counts
            .split_last()
            .expect("a batch was written before the backup");
        assert_eq!(*last, 100, "{c}: {counts:?}");
        if let Some((before_last, older)) = earlier.split_last() {
            assert!(*before_last == 99 || *before_last == 100, "{c}: {counts:?}");
            assert!(older.iter().all(|&n| n == 99), "{c}: {counts:?}");
        }
        assert!(store.verify().unwrap().is_ok());
    }
}
