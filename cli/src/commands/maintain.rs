//! The maintenance commands: purge, verify, clear, backup.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{open_existing, quoted, Ctx};
use crate::bytes::{put_json, Inputs};
use crate::fail::{exit, At, Failure, Res};
use crate::output::{of_total, progress_wanted, Out, Progress};
use crate::units::{counted, format_bytes, format_count};

/// Removes every due entry now. The count is what this command removed: its `purge_expired`
/// and its own expiry thread, which starts at open and removes due entries too (both count in
/// `stats().expired_removed`); an expiry thread of another process may take some first.
pub fn purge(ctx: &Ctx, path: &Path, json: bool) -> Res<()> {
    let store = open_existing(path, ctx)?;
    let polled = store.clone();
    let mut progress = Progress::start(progress_wanted(ctx.no_progress, false), "purge", move || {
        let n = polled.stats().map_or(0, |s| s.expired_removed);
        format!("{} expired entries removed", format_count(n))
    });
    let by_call = store.purge_expired().at(path)?;
    let removed = store.stats().at(path)?.expired_removed.max(by_call);
    progress.finish();
    store.close();
    let mut out = Out::new();
    if json {
        out.json(&json!({ "removed": removed }))?;
    } else {
        out.line(&format!(
            "removed {}",
            counted(removed, "expired entry", "expired entries")
        ))?;
    }
    out.finish()
}

pub fn verify(ctx: &Ctx, path: &Path, json: bool) -> Res<()> {
    let store = open_existing(path, ctx)?;
    let mut progress = Progress::start(progress_wanted(ctx.no_progress, false), "verify", || {
        "reading every record".into()
    });
    let r = store.verify().at(path)?;
    progress.finish();
    store.close();
    let mut out = Out::new();
    if json {
        out.json(&json!({
            "ok": r.is_ok(),
            "entries": r.entries,
            "expiring": r.expiring,
            "index_records": r.index_records,
            "problems": r.problems,
        }))?;
    } else {
        for p in &r.problems {
            out.line(&format!("problem: {p}"))?;
        }
        out.line(&format!(
            "{}: {} ({} expiring), {}",
            if r.is_ok() { "ok" } else { "damaged" },
            counted(r.entries, "entry", "entries"),
            format_count(r.expiring),
            counted(r.index_records, "index record", "index records")
        ))?;
    }
    out.finish()?;
    if !r.is_ok() {
        return Err(Failure::new(
            exit::CORRUPTED,
            format!(
                "{}: verify found {} problem(s) (at most 100 are listed)",
                path.display(),
                r.problems.len()
            ),
        ));
    }
    Ok(())
}

pub fn clear(ctx: &Ctx, path: &Path, ns: &std::ffi::OsStr, json: bool, hex: bool) -> Res<()> {
    let ns = Inputs::new(hex).read(ns, "NS")?;
    let store = open_existing(path, ctx)?;
    let mut progress = Progress::start(progress_wanted(ctx.no_progress, false), "clear", || {
        "removing entries in batches of 10,000".into()
    });
    let removed = store.clear(&ns).at(path)?;
    progress.finish();
    store.close();
    let mut out = Out::new();
    if json {
        let mut o = Map::new();
        put_json(&mut o, "ns", &ns);
        o.insert("removed".into(), json!(removed));
        out.json(&Value::Object(o))?;
    } else {
        out.line(&format!(
            "removed {} from namespace {}",
            counted(removed, "entry", "entries"),
            quoted(&ns)
        ))?;
    }
    out.finish()
}

/// Copies the store; the display follows the copy's data.mdb as LMDB writes it, against the
/// pages in use (the size of a full copy; a compacted one is smaller).
pub fn backup(ctx: &Ctx, path: &Path, dest: &Path, compact: bool, json: bool) -> Res<()> {
    let store = open_existing(path, ctx)?;
    let used = store.stats().at(path)?.used_bytes;
    let copy_file = dest.join("data.mdb");
    let watched = copy_file.clone();
    let mut progress = Progress::start(progress_wanted(ctx.no_progress, false), "backup", move || {
        let done = std::fs::metadata(&watched).map_or(0, |m| m.len());
        let total = (!compact).then_some(used);
        format!("{} copied", of_total(done, total, format_bytes))
    });
    store.backup(dest, compact).at(path)?;
    progress.finish();
    store.close();
    let bytes = std::fs::metadata(&copy_file).map_or(0, |m| m.len());
    let mut out = Out::new();
    if json {
        out.json(&json!({
            "dest": dest.to_string_lossy(),
            "compact": compact,
            "bytes": bytes,
        }))?;
    } else {
        out.line(&format!(
            "copied {} to {} ({}{})",
            path.display(),
            dest.display(),
            format_bytes(bytes),
            if compact { ", compacted" } else { "" }
        ))?;
    }
    out.finish()
}
