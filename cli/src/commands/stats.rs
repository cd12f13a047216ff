//! `ttlkv stats`: what an operator asks first — how much is in the store, when it expires, how
//! big the file is, and who has it open.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use ttlkv::{ReaderSlot, DEADLINE_NEVER, FORMAT_VERSION};

use super::{open_existing, Ctx};
use crate::bytes::{escape, hex, put_json};
use crate::fail::{At, Res};
use crate::output::{progress_wanted, table, Counter, Out, Progress};
use crate::procinfo;
use crate::units::{counted, format_bytes, format_count, format_time, format_ttl, now_ms};

/// Counts of one namespace, or of the whole store.
#[derive(Clone, Debug, Default)]
struct Tally {
    entries: u64,
    expiring: u64,
    never: u64,
    key_bytes: u64,
    value_bytes: u64,
    earliest: Option<u64>,
    latest: Option<u64>,
}

impl Tally {
    fn add(&mut self, key: usize, value: usize, deadline: u64) {
        self.entries += 1;
        self.key_bytes += key as u64;
        self.value_bytes += value as u64;
        if deadline == DEADLINE_NEVER {
            self.never += 1;
        } else {
            self.expiring += 1;
            self.earliest = Some(self.earliest.map_or(deadline, |d| d.min(deadline)));
            self.latest = Some(self.latest.map_or(deadline, |d| d.max(deadline)));
        }
    }

    fn merge(&mut self, o: &Tally) {
        self.entries += o.entries;
        self.expiring += o.expiring;
        self.never += o.never;
        self.key_bytes += o.key_bytes;
        self.value_bytes += o.value_bytes;
        self.earliest = [self.earliest, o.earliest].into_iter().flatten().min();
        self.latest = [self.latest, o.latest].into_iter().flatten().max();
    }

    fn json(&self) -> Map<String, Value> {
        let mut o = Map::new();
        o.insert("entries".into(), json!(self.entries));
        o.insert("expiring".into(), json!(self.expiring));
        o.insert("never".into(), json!(self.never));
        o.insert("key_bytes".into(), json!(self.key_bytes));
        o.insert("value_bytes".into(), json!(self.value_bytes));
        o.insert("earliest_deadline_ms".into(), json!(self.earliest));
        o.insert("latest_deadline_ms".into(), json!(self.latest));
        o
    }
}

/// A process that has the store open: it maps data.mdb, or holds a reader slot.
struct Holder {
    pid: u32,
    name: Option<String>,
    /// `None` when its maps could not be read.
    writable_map: Option<bool>,
    slots: u64,
    reading: u64,
    this_command: bool,
    alive: bool,
}

impl Holder {
    fn durability(&self) -> &'static str {
        match self.writable_map {
            _ if self.this_command => "sync (this command)",
            Some(true) => "periodic + write_map",
            Some(false) => "sync or periodic",
            None => "unknown",
        }
    }
}

fn holders(data_file: &Path, readers: &[ReaderSlot]) -> Vec<Holder> {
    let me = std::process::id();
    let mut by_pid: BTreeMap<u32, Holder> = BTreeMap::new();
    let holder = |pid: u32| Holder {
        pid,
        name: procinfo::name(pid),
        writable_map: None,
        slots: 0,
        reading: 0,
        this_command: pid == me,
        alive: procinfo::alive(pid),
    };
    for m in procinfo::mappers(data_file) {
        by_pid.entry(m.pid).or_insert_with(|| holder(m.pid)).writable_map = Some(m.writable);
    }
    for r in readers {
        let h = by_pid.entry(r.pid).or_insert_with(|| holder(r.pid));
        h.slots += 1;
        h.reading += u64::from(r.txnid.is_some());
    }
    by_pid.into_values().collect()
}

pub fn stats(ctx: &Ctx, path: &Path, no_entries: bool, json: bool) -> Res<()> {
    let store = open_existing(path, ctx)?;
    let now = now_ms();
    let mut namespaces: Vec<(Vec<u8>, Tally)> = Vec::new();
    let mut total = Tally::default();
    if !no_entries {
        let counter = Arc::new(Counter::default());
        let shown = counter.clone();
        let mut progress = Progress::start(progress_wanted(ctx.no_progress, false), "stats", move || {
            format!("{} entries read", format_count(shown.items()))
        });
        let mut n = 0u64;
        store
            .for_each_entry(None, |e| {
                match namespaces.last_mut() {
                    Some((ns, t)) if ns.as_slice() == e.namespace => {
                        t.add(e.key.len(), e.value.len(), e.deadline)
                    }
                    _ => {
                        let mut t = Tally::default();
                        t.add(e.key.len(), e.value.len(), e.deadline);
                        namespaces.push((e.namespace.to_vec(), t));
                    }
                }
                n += 1;
                if n % 4096 == 0 {
                    counter.add(4096, 0);
                }
                true
            })
            .at(path)?;
        progress.finish();
        // Stored shortest namespace first (they are length-prefixed); shown in byte order, as
        // `namespaces` lists them.
        namespaces.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, t) in &namespaces {
            total.merge(t);
        }
    }
    let s = store.stats().at(path)?;
    let (bound, eviction) = store.max_bytes().at(path)?;
    let id = hex(&store.store_id().at(path)?);
    let readers = store.readers().at(path)?;
    let data_file = path.join("data.mdb");
    let file = std::fs::metadata(&data_file).ok();
    let (file_len, file_disk) = file.map_or((0, 0), |m| (m.len(), m.blocks() * 512));
    let max_map = ttlkv::Options::default().max_map_size as u64;
    let holders = holders(&data_file, &readers);
    let canonical = store.path().to_path_buf();
    store.close();

    let mut out = Out::new();
    if json {
        let mut o = Map::new();
        o.insert("path".into(), json!(canonical.to_string_lossy()));
        o.insert("store_id".into(), json!(id));
        o.insert("format_version".into(), json!(FORMAT_VERSION));
        o.insert("lmdb_version".into(), json!(ttlkv::lmdb_version()));
        o.insert("now_ms".into(), json!(now));
        if !no_entries {
            o.insert("entries".into(), Value::Object(total.json()));
            let list: Vec<Value> = namespaces
                .iter()
                .map(|(ns, t)| {
                    let mut n = Map::new();
                    put_json(&mut n, "ns", ns);
                    n.extend(t.json());
                    Value::Object(n)
                })
                .collect();
            o.insert("namespaces".into(), Value::Array(list));
        }
        o.insert(
            "size".into(),
            json!({
                "file_bytes": file_len,
                "file_disk_bytes": file_disk,
                "map_size": s.map_size,
                "used_bytes": s.used_bytes,
                "tree_bytes": s.tree_bytes,
                "max_map_size": max_map,
                "max_bytes": bound,
                "eviction": eviction.name(),
            }),
        );
        let slots: Vec<Value> = readers
            .iter()
            .map(|r| json!({"pid": r.pid, "thread": r.thread, "txnid": r.txnid}))
            .collect();
        o.insert("readers".into(), Value::Array(slots));
        let procs: Vec<Value> = holders
            .iter()
            .map(|h| {
                json!({
                    "pid": h.pid,
                    "name": h.name,
                    "alive": h.alive,
                    "this_command": h.this_command,
                    "maps_store": h.writable_map.is_some(),
                    "write_map": h.writable_map,
                    "durability": match h.writable_map {
                        _ if h.this_command => Some("sync"),
                        Some(true) => Some("periodic"),
                        _ => None,
                    },
                    "reader_slots": h.slots,
                    "reading": h.reading,
                })
            })
            .collect();
        o.insert("processes".into(), Value::Array(procs));
        out.json(&Value::Object(o))?;
        return out.finish();
    }

    let mut lines: Vec<String> = Vec::new();
    let mut kv = |k: &str, v: String| lines.push(format!("{k:<12}{v}"));
    kv("store", canonical.display().to_string());
    kv("store id", id);
    kv(
        "format",
        format!("version {FORMAT_VERSION} ({})", ttlkv::lmdb_version()),
    );
    if !no_entries {
        kv(
            "entries",
            format!(
                "{} live: {} expiring, {} never; {} of keys and values",
                format_count(total.entries),
                format_count(total.expiring),
                format_count(total.never),
                format_bytes(total.key_bytes + total.value_bytes)
            ),
        );
        let when = |d: Option<u64>| match d {
            Some(d) => format!("{} (in {})", format_time(d), format_ttl(d, now)),
            None => "none".into(),
        };
        kv("earliest", when(total.earliest));
        kv("latest", when(total.latest));
    }
    kv(
        "file",
        format!(
            "data.mdb {} ({} on disk)",
            format_bytes(file_len),
            format_bytes(file_disk)
        ),
    );
    kv(
        "pages",
        format!(
            "{} in use, {} in the B-tree",
            format_bytes(s.used_bytes),
            format_bytes(s.tree_bytes)
        ),
    );
    kv(
        "map",
        format!(
            "{} mapped by this command (max {}; each process sets its own)",
            format_bytes(s.map_size),
            format_bytes(max_map)
        ),
    );
    kv(
        "size bound",
        match bound {
            Some(b) => format!("{} (eviction {})", format_bytes(b), eviction.name()),
            None => "none".into(),
        },
    );
    kv(
        "readers",
        format!(
            "{} in use ({} reading a snapshot)",
            counted(readers.len() as u64, "slot", "slots"),
            readers.iter().filter(|r| r.txnid.is_some()).count()
        ),
    );
    let mut out_text = lines.join("\n");
    if !holders.is_empty() {
        let rows: Vec<Vec<String>> = holders
            .iter()
            .map(|h| {
                let mut name = h.name.clone().unwrap_or_else(|| "?".into());
                if !h.alive {
                    name.push_str(" (gone)");
                }
                vec![
                    h.pid.to_string(),
                    name,
                    match h.writable_map {
                        Some(true) => "writable".into(),
                        Some(false) => "read-only".into(),
                        None => "?".into(),
                    },
                    h.durability().into(),
                    h.slots.to_string(),
                    h.reading.to_string(),
                ]
            })
            .collect();
        out_text.push_str("\n\nprocesses\n");
        out_text.push_str(&table(
            &["PID", "NAME", "MAP", "DURABILITY", "SLOTS", "READING"],
            &rows,
            &[true, false, false, false, true, true],
        ));
    }
    if !no_entries && !namespaces.is_empty() {
        let rows: Vec<Vec<String>> = namespaces
            .iter()
            .map(|(ns, t)| {
                let rel = |d: Option<u64>| d.map_or("-".into(), |d| format_ttl(d, now));
                vec![
                    escape(ns),
                    format_count(t.entries),
                    format_count(t.expiring),
                    format_count(t.never),
                    format_bytes(t.key_bytes + t.value_bytes),
                    rel(t.earliest),
                    rel(t.latest),
                ]
            })
            .collect();
        out_text.push_str("\n\nnamespaces\n");
        out_text.push_str(&table(
            &[
                "NAMESPACE",
                "ENTRIES",
                "EXPIRING",
                "NEVER",
                "BYTES",
                "EARLIEST",
                "LATEST",
            ],
            &rows,
            &[false, true, true, true, true, true, true],
        ));
    }
    out.line(&out_text)?;
    out.finish()
}
