//! The commands on entries: namespaces, keys, count, get, ttl, put, delete, touch, incr.

use std::path::Path;

use serde_json::{json, Map, Value};
use ttlkv::{Store, DEADLINE_NEVER};

use super::{deadline_json, not_found, open_existing, quoted, Ctx};
use crate::args::Entry;
use crate::bytes::{put_json, shown, Inputs};
use crate::fail::{exit, At, Failure, Res};
use crate::output::Out;
use crate::units::{format_bytes, format_ttl, now_ms, parse_ttl, rfc3339};

fn ttl_arg(text: &str) -> Res<u64> {
    parse_ttl(text).map_err(Failure::usage)
}

/// The namespace and key of an [`Entry`], read before the store is opened.
fn entry_bytes(e: &Entry, inputs: &mut Inputs) -> Res<(Vec<u8>, Vec<u8>)> {
    Ok((inputs.read(&e.ns, "NS")?, inputs.read(&e.key, "KEY")?))
}

fn entry_json(ns: &[u8], key: &[u8]) -> Map<String, Value> {
    let mut o = Map::new();
    put_json(&mut o, "ns", ns);
    put_json(&mut o, "key", key);
    o
}

/// The deadline as the JSON fields `deadline_ms`, `deadline` and `ttl_ms` (null for never).
fn put_deadline(o: &mut Map<String, Value>, deadline: u64, now: u64) {
    o.insert("deadline_ms".into(), deadline_json(deadline));
    if deadline == DEADLINE_NEVER {
        o.insert("deadline".into(), Value::Null);
        o.insert("ttl_ms".into(), Value::Null);
    } else {
        o.insert("deadline".into(), json!(rfc3339(deadline)));
        o.insert("ttl_ms".into(), json!(deadline.saturating_sub(now)));
    }
}

pub fn namespaces(ctx: &Ctx, path: &Path, json: bool, raw: bool) -> Res<()> {
    let store = open_existing(path, ctx)?;
    let names = store.namespaces().at(path)?;
    let mut out = Out::new();
    if json {
        let list: Vec<Value> = names
            .iter()
            .map(|n| {
                let mut o = Map::new();
                put_json(&mut o, "ns", n);
                Value::Object(o)
            })
            .collect();
        out.json(&Value::Array(list))?;
    } else {
        for n in &names {
            out.write(&shown(n, raw))?;
            out.write(b"\n")?;
        }
    }
    out.finish()
}

pub struct KeysArgs<'a> {
    pub ns: &'a std::ffi::OsStr,
    pub prefix: Option<&'a std::ffi::OsStr>,
    pub limit: Option<u64>,
    pub long: bool,
    pub json: bool,
    pub raw: bool,
    pub hex: bool,
}

/// Streams the keys from one snapshot (`for_each_entry` borrows keys and values, so values of
/// any size cost nothing); a prefix is found by walking the namespace from its start.
pub fn keys(ctx: &Ctx, path: &Path, a: KeysArgs<'_>) -> Res<()> {
    let mut inputs = Inputs::new(a.hex);
    let ns = inputs.read(a.ns, "NS")?;
    let prefix = match a.prefix {
        Some(p) => inputs.read(p, "--prefix")?,
        None => Vec::new(),
    };
    let store = open_existing(path, ctx)?;
    let now = now_ms();
    let mut out = Out::new();
    let mut failed: Option<Failure> = None;
    let mut shown_n: u64 = 0;
    let limit = a.limit.unwrap_or(u64::MAX);
    if a.json {
        out.write(b"[")?;
    }
    if limit > 0 {
        store
            .for_each_entry(Some(&ns), |e| {
                if e.key < prefix.as_slice() {
                    return true;
                }
                if !e.key.starts_with(&prefix) {
                    return false;
                }
                let r = if a.json {
                    let mut o = Map::new();
                    put_json(&mut o, "key", e.key);
                    put_deadline(&mut o, e.deadline, now);
                    o.insert("value_bytes".into(), json!(e.value.len()));
                    let sep: &[u8] = if shown_n == 0 { b"" } else { b"," };
                    out.write(sep).and_then(|_| {
                        out.write(&serde_json::to_vec(&Value::Object(o)).expect("a JSON value serializes"))
                    })
                } else {
                    let mut line = Vec::new();
                    if a.long {
                        let ttl = format_ttl(e.deadline, now);
                        let size = format_bytes(e.value.len() as u64);
                        line.extend_from_slice(format!("{ttl:>10}  {size:>10}  ").as_bytes());
                    }
                    line.extend_from_slice(&shown(e.key, a.raw));
                    line.push(b'\n');
                    out.write(&line)
                };
                if let Err(f) = r {
                    failed = Some(f);
                    return false;
                }
                shown_n += 1;
                shown_n < limit
            })
            .at(path)?;
    }
    if let Some(f) = failed {
        return Err(f);
    }
    if a.json {
        out.write(b"]\n")?;
    }
    out.finish()
}

pub fn count(ctx: &Ctx, path: &Path, ns: &std::ffi::OsStr, json: bool, hex: bool) -> Res<()> {
    let ns = Inputs::new(hex).read(ns, "NS")?;
    let store = open_existing(path, ctx)?;
    let n = store.count(&ns).at(path)?;
    let mut out = Out::new();
    if json {
        let mut o = Map::new();
        put_json(&mut o, "ns", &ns);
        o.insert("count".into(), json!(n));
        out.json(&Value::Object(o))?;
    } else {
        out.line(&n.to_string())?;
    }
    out.finish()
}

/// The value, version and deadline of one entry as they were together: the deadline is read
/// in a second snapshot, so the value is read again around it until the version agrees.
fn read_entry(store: &Store, path: &Path, ns: &[u8], key: &[u8]) -> Res<Option<(Vec<u8>, u64, u64)>> {
    let mut last = None;
    for _ in 0..16 {
        let Some((value, version)) = store.get_versioned(ns, key).at(path)? else {
            return Ok(None);
        };
        let Some(deadline) = store.deadline(ns, key).at(path)? else {
            return Ok(None);
        };
        match store.get_versioned(ns, key).at(path)? {
            Some((_, again)) if again == version => return Ok(Some((value, version, deadline))),
            None => return Ok(None),
            Some(_) => last = Some((value, version, deadline)),
        }
    }
    // Rewritten faster than it can be read: the last reading, whose deadline may be newer.
    Ok(last)
}

pub fn get(ctx: &Ctx, e: &Entry, json: bool, raw: bool, hex: bool) -> Res<()> {
    let (ns, key) = entry_bytes(e, &mut Inputs::new(hex))?;
    let store = open_existing(&e.path, ctx)?;
    let mut out = Out::new();
    if json {
        let now = now_ms();
        let (value, version, deadline) =
            read_entry(&store, &e.path, &ns, &key)?.ok_or_else(|| not_found(&e.path, &ns, &key))?;
        let mut o = entry_json(&ns, &key);
        put_json(&mut o, "value", &value);
        o.insert("version".into(), json!(version));
        put_deadline(&mut o, deadline, now);
        out.json(&Value::Object(o))?;
    } else {
        let value = store
            .get(&ns, &key)
            .at(&e.path)?
            .ok_or_else(|| not_found(&e.path, &ns, &key))?;
        out.write(&shown(&value, raw))?;
        if !raw {
            out.write(b"\n")?;
        }
    }
    out.finish()
}

pub fn ttl(ctx: &Ctx, e: &Entry, json: bool, hex: bool) -> Res<()> {
    let (ns, key) = entry_bytes(e, &mut Inputs::new(hex))?;
    let store = open_existing(&e.path, ctx)?;
    let deadline = store
        .deadline(&ns, &key)
        .at(&e.path)?
        .ok_or_else(|| not_found(&e.path, &ns, &key))?;
    let now = now_ms();
    let mut out = Out::new();
    if json {
        let mut o = entry_json(&ns, &key);
        put_deadline(&mut o, deadline, now);
        out.json(&Value::Object(o))?;
    } else {
        out.line(&format_ttl(deadline, now))?;
    }
    out.finish()
}

pub fn put(ctx: &Ctx, e: &Entry, value: &std::ffi::OsStr, ttl: &str, json: bool, hex: bool) -> Res<()> {
    let ttl = ttl_arg(ttl)?;
    let mut inputs = Inputs::new(hex);
    let (ns, key) = entry_bytes(e, &mut inputs)?;
    let value = inputs.read(value, "VALUE")?;
    let store = open_existing(&e.path, ctx)?;
    store.put_ms(&ns, &key, &value, ttl).at(&e.path)?;
    let mut out = Out::new();
    if json {
        let mut o = entry_json(&ns, &key);
        o.insert("written".into(), json!(true));
        o.insert("value_bytes".into(), json!(value.len()));
        out.json(&Value::Object(o))?;
    }
    out.finish()
}

pub fn delete(
    ctx: &Ctx,
    path: &Path,
    ns: &std::ffi::OsStr,
    keys: &[std::ffi::OsString],
    json: bool,
    hex: bool,
) -> Res<()> {
    let mut inputs = Inputs::new(hex);
    let ns = inputs.read(ns, "NS")?;
    let keys = keys
        .iter()
        .map(|k| inputs.read(k, "KEY"))
        .collect::<Res<Vec<_>>>()?;
    let store = open_existing(path, ctx)?;
    let deleted = if let [key] = keys.as_slice() {
        u64::from(store.delete(&ns, key).at(path)?)
    } else {
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        store.delete_many(&ns, &refs).at(path)?
    };
    let mut out = Out::new();
    if json {
        let mut o = Map::new();
        put_json(&mut o, "ns", &ns);
        o.insert("deleted".into(), json!(deleted));
        o.insert("keys".into(), json!(keys.len()));
        out.json(&Value::Object(o))?;
    } else {
        out.line(&format!("deleted {deleted} of {}", keys.len()))?;
    }
    out.finish()?;
    if deleted == 0 {
        let what = match keys.as_slice() {
            [key] => quoted(key),
            _ => "of the keys".into(),
        };
        return Err(Failure::new(
            exit::NOT_FOUND,
            format!(
                "{}: no live entry {what} in namespace {}",
                path.display(),
                quoted(&ns)
            ),
        ));
    }
    Ok(())
}

pub fn touch(ctx: &Ctx, e: &Entry, ttl: &str, json: bool, hex: bool) -> Res<()> {
    let ttl = ttl_arg(ttl)?;
    let (ns, key) = entry_bytes(e, &mut Inputs::new(hex))?;
    let store = open_existing(&e.path, ctx)?;
    let touched = store.touch_ms(&ns, &key, ttl).at(&e.path)?;
    let mut out = Out::new();
    if json {
        let mut o = entry_json(&ns, &key);
        o.insert("touched".into(), json!(touched));
        out.json(&Value::Object(o))?;
    }
    out.finish()?;
    if !touched {
        return Err(not_found(&e.path, &ns, &key));
    }
    Ok(())
}

pub fn incr(ctx: &Ctx, e: &Entry, by: i64, ttl: Option<&str>, json: bool, hex: bool) -> Res<()> {
    let create = ttl.map(ttl_arg).transpose()?;
    let (ns, key) = entry_bytes(e, &mut Inputs::new(hex))?;
    let store = open_existing(&e.path, ctx)?;
    let Some(value) = store.incr_ms(&ns, &key, by, create).at(&e.path)? else {
        let mut f = not_found(&e.path, &ns, &key);
        f.message.push_str(" (--ttl creates a missing counter)");
        return Err(f);
    };
    let mut out = Out::new();
    if json {
        let mut o = entry_json(&ns, &key);
        o.insert("value".into(), json!(value));
        out.json(&Value::Object(o))?;
    } else {
        out.line(&value.to_string())?;
    }
    out.finish()
}
