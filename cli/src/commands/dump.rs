//! `dump` and `load`: a store as JSON Lines, to move it between machines, format versions or
//! into another tool.
//!
//! ```text
//! {"ttlkv_dump":1,"format_version":1,"store_id":"…","namespace":null,"dumped_at_ms":…,"dumped_at":"…"}
//! {"ns":"c2Vzc2lvbnM=","key":"dG9rZW4=","value":"cGF5bG9hZA==","deadline_ms":1767225600000}
//! {"ns":"…","key":"…","value":"…","deadline_ms":null}
//! {"ttlkv_dump_end":true,"entries":2}
//! ```
//!
//! Bytes are standard base64 (so any byte string survives, and no line holds a raw newline);
//! deadlines are absolute (milliseconds since the Unix epoch, null for never), so an entry
//! keeps its expiry time whenever the dump is loaded, and one already expired is skipped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use ttlkv::{ErrorKind, RecordAt, Store, DEADLINE_NEVER, FORMAT_VERSION, MAX_BATCH_RECORDS, MAX_VALUE_LEN};

use super::{open_existing, open_or_create, Ctx};
use crate::bytes::{b64, b64_decode, hex, Inputs};
use crate::fail::{self, exit, At, Failure, Res};
use crate::output::{of_total, progress_wanted, Counter, Out, Progress};
use crate::units::{counted, format_bytes, format_count, now_ms, rfc3339};

/// The version of the dump format (not of the store's format: a dump of any store version
/// loads into any other).
pub const DUMP_VERSION: u64 = 1;

/// A load transaction's most bytes of keys and values: far below the library's 1 GiB, so a
/// batch costs bounded memory and a bounded transaction.
const BATCH_BYTES: usize = 64 << 20;

pub fn dump(
    ctx: &Ctx,
    path: &Path,
    ns: Option<&std::ffi::OsStr>,
    output: Option<&Path>,
    hex_args: bool,
) -> Res<()> {
    let ns = ns.map(|n| Inputs::new(hex_args).read(n, "NS")).transpose()?;
    let store = open_existing(path, ctx)?;
    let (file, target): (Option<File>, String) = match output {
        Some(p) => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(p)
                .map_err(|e| fail::output(p.display(), e))?;
            (Some(f), p.display().to_string())
        }
        None => (None, "standard output".into()),
    };
    let sink: Box<dyn Write> = match &file {
        Some(f) => Box::new(f.try_clone().map_err(|e| fail::output(&target, e))?),
        None => Box::new(io::stdout().lock()),
    };
    let mut w = io::BufWriter::with_capacity(1 << 20, sink);
    let counter = Arc::new(Counter::default());
    let shown = counter.clone();
    let mut progress = Progress::start(
        progress_wanted(ctx.no_progress, file.is_none()),
        "dump",
        move || {
            format!(
                "{} entries, {} written",
                format_count(shown.items()),
                format_bytes(shown.bytes())
            )
        },
    );
    let now = now_ms();
    // Written by hand so that `ttlkv_dump` comes first (`head -1` shows what the file is);
    // hex, base64 and RFC 3339 need no JSON escaping.
    let namespace = ns
        .as_deref()
        .map_or_else(|| "null".to_string(), |n| format!("\"{}\"", b64(n)));
    let mut line = format!(
        "{{\"ttlkv_dump\":{DUMP_VERSION},\"format_version\":{FORMAT_VERSION},\"store_id\":\"{}\",\"namespace\":{namespace},\"dumped_at_ms\":{now},\"dumped_at\":\"{}\"}}\n",
        hex(&store.store_id().at(path)?),
        rfc3339(now)
    )
    .into_bytes();
    w.write_all(&line).map_err(|e| fail::output(&target, e))?;
    counter.add(0, line.len() as u64);
    let mut failed: Option<io::Error> = None;
    let mut entries = 0u64;
    store
        .for_each_entry(ns.as_deref(), |e| {
            line.clear();
            // Base64 needs no JSON escaping: the line is written without a serializer.
            line.extend_from_slice(b"{\"ns\":\"");
            line.extend_from_slice(b64(e.namespace).as_bytes());
            line.extend_from_slice(b"\",\"key\":\"");
            line.extend_from_slice(b64(e.key).as_bytes());
            line.extend_from_slice(b"\",\"value\":\"");
            line.extend_from_slice(b64(e.value).as_bytes());
            line.extend_from_slice(b"\",\"deadline_ms\":");
            if e.deadline == DEADLINE_NEVER {
                line.extend_from_slice(b"null");
            } else {
                line.extend_from_slice(e.deadline.to_string().as_bytes());
            }
            line.extend_from_slice(b"}\n");
            if let Err(err) = w.write_all(&line) {
                failed = Some(err);
                return false;
            }
            entries += 1;
            counter.add(1, line.len() as u64);
            true
        })
        .at(path)?;
    if let Some(e) = failed {
        return Err(fail::output(&target, e));
    }
    let trailer = format!("{{\"ttlkv_dump_end\":true,\"entries\":{entries}}}\n");
    w.write_all(trailer.as_bytes())
        .and_then(|_| w.flush())
        .map_err(|e| fail::output(&target, e))?;
    drop(w);
    progress.finish();
    store.close();
    if let Some(f) = file {
        // A dump is often taken before the store is deleted or the machine replaced.
        f.sync_all().map_err(|e| fail::output(&target, e))?;
        let bytes = f.metadata().map_or(0, |m| m.len());
        let mut out = Out::new();
        out.line(&format!(
            "dumped {} to {target} ({})",
            counted(entries, "entry", "entries"),
            format_bytes(bytes)
        ))?;
        out.finish()?;
    }
    Ok(())
}

/// A reader that counts the bytes it gives (for the progress display).
struct Counted<R> {
    inner: R,
    counter: Arc<Counter>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.add(0, n as u64);
        Ok(n)
    }
}

struct Rec {
    ns: Vec<u8>,
    key: Vec<u8>,
    value: Vec<u8>,
    deadline: u64,
}

/// What one line of a dump is.
enum Line {
    Header,
    Record(Rec),
    Trailer(u64),
}

fn bad(line: u64, why: impl std::fmt::Display) -> Failure {
    Failure::new(exit::BAD_DUMP, format!("dump line {line}: {why}"))
}

fn parse_line(text: &[u8], n: u64) -> Res<Line> {
    let v: Value = serde_json::from_slice(text).map_err(|e| bad(n, format!("not JSON ({e})")))?;
    let Value::Object(o) = v else {
        return Err(bad(n, "not a JSON object"));
    };
    if let Some(version) = o.get("ttlkv_dump") {
        return match version.as_u64() {
            Some(DUMP_VERSION) => Ok(Line::Header),
            _ => Err(bad(
                n,
                format!("a dump of version {version}; this ttlkv reads version {DUMP_VERSION}"),
            )),
        };
    }
    if o.contains_key("ttlkv_dump_end") {
        let count = o
            .get("entries")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(n, "the trailer has no entry count"))?;
        return Ok(Line::Trailer(count));
    }
    let field = |name: &str| -> Res<Vec<u8>> {
        let text = o
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(n, format!("no \"{name}\" string")))?;
        b64_decode(text).map_err(|e| bad(n, format!("\"{name}\" is not base64 ({e})")))
    };
    let deadline = match o.get("deadline_ms") {
        Some(Value::Null) => DEADLINE_NEVER,
        Some(d) => d
            .as_u64()
            .filter(|&d| d < DEADLINE_NEVER)
            .ok_or_else(|| bad(n, "\"deadline_ms\" is not a deadline in milliseconds or null"))?,
        None => return Err(bad(n, "no \"deadline_ms\" (null for never)")),
    };
    Ok(Line::Record(Rec {
        ns: field("ns")?,
        key: field("key")?,
        value: field("value")?,
        deadline,
    }))
}

#[derive(Default)]
struct Loaded {
    records: u64,
    loaded: u64,
    skipped: u64,
}

/// Writes `batch` in one transaction, keeping the deadlines. A deadline that passed since its
/// line was read (or that the store's clock, which never goes back, already sees as past) is
/// refused for the whole batch: such records are dropped as expired and the rest written.
fn write_batch(store: &Store, path: &Path, batch: &mut Vec<Rec>, done: &mut Loaded) -> Res<()> {
    let mut margin_ms = 0u64;
    loop {
        if batch.is_empty() {
            return Ok(());
        }
        let recs: Vec<RecordAt<'_>> = batch
            .iter()
            .map(|r| (&r.ns[..], &r.key[..], &r.value[..], r.deadline))
            .collect();
        match store.put_many_until(&recs) {
            Ok(()) => {
                done.loaded += batch.len() as u64;
                batch.clear();
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::TtlInvalid && margin_ms < 600_000 => {
                margin_ms = (margin_ms * 2).max(1_000);
                let cut = now_ms() + margin_ms;
                let before = batch.len();
                batch.retain(|r| r.deadline == DEADLINE_NEVER || r.deadline > cut);
                done.skipped += (before - batch.len()) as u64;
            }
            Err(e) => return Err(fail::store(path, e)),
        }
    }
}

/// What `load` has read and written so far.
struct Loader<'a> {
    ctx: &'a Ctx,
    path: &'a Path,
    /// Opened at the first record (or the end): a file that is no dump creates no store.
    store: Option<(Store, bool)>,
    done: Loaded,
    batch: Vec<Rec>,
    batch_bytes: usize,
    header: bool,
    /// The trailer's line and count.
    trailer: Option<(u64, u64)>,
}

impl Loader<'_> {
    fn store(&mut self) -> Res<&Store> {
        if self.store.is_none() {
            self.store = Some(open_or_create(self.path, self.ctx)?);
        }
        Ok(&self.store.as_ref().expect("opened above").0)
    }

    fn flush(&mut self) -> Res<()> {
        let path = self.path;
        self.store()?;
        let store = &self.store.as_ref().expect("opened above").0;
        self.batch_bytes = 0;
        write_batch(store, path, &mut self.batch, &mut self.done)
    }

    fn record(&mut self, r: Rec, n: u64, counter: &Counter) -> Res<()> {
        self.done.records += 1;
        let path = self.path;
        check_record(self.store()?, path, &r, n)?;
        if r.deadline != DEADLINE_NEVER && r.deadline <= now_ms() {
            self.done.skipped += 1;
            return Ok(());
        }
        let bytes = r.key.len() + r.value.len();
        if !self.batch.is_empty() && self.batch_bytes + bytes > BATCH_BYTES {
            self.flush()?;
        }
        self.batch.push(r);
        self.batch_bytes += bytes;
        counter.add(1, 0);
        if self.batch.len() >= MAX_BATCH_RECORDS {
            self.flush()?;
        }
        Ok(())
    }

    fn read(&mut self, reader: &mut impl BufRead, source: &str, counter: &Counter) -> Res<()> {
        let mut buf = Vec::new();
        let mut n = 0u64;
        loop {
            buf.clear();
            let got = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| Failure::new(exit::STORAGE, format!("reading {source}: {e}")))?;
            if got == 0 {
                return self.flush();
            }
            n += 1;
            let text = buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            if let Some((at, _)) = self.trailer {
                return Err(bad(n, format!("data after the trailer of line {at}")));
            }
            match parse_line(text, n)? {
                Line::Header if self.done.records == 0 && !self.header => self.header = true,
                Line::Header => return Err(bad(n, "a second header")),
                Line::Trailer(count) => self.trailer = Some((n, count)),
                Line::Record(r) => self.record(r, n, counter)?,
            }
        }
    }
}

pub fn load(ctx: &Ctx, path: &Path, file: Option<&Path>, json: bool) -> Res<()> {
    let from_stdin = file.is_none_or(|f| f.as_os_str() == "-");
    let (input, total, source): (Box<dyn Read>, Option<u64>, String) = if from_stdin {
        if io::stdin().is_terminal() {
            eprintln!("ttlkv load: reading a dump from standard input (end it with Ctrl-D)");
        }
        (Box::new(io::stdin().lock()), None, "standard input".into())
    } else {
        let p = file.expect("a file when not standard input");
        let f = File::open(p).map_err(|e| Failure::usage(format!("{}: {e}", p.display())))?;
        let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        (Box::new(f), len, p.display().to_string())
    };
    let counter = Arc::new(Counter::default());
    let mut reader = BufReader::with_capacity(
        1 << 20,
        Counted {
            inner: input,
            counter: counter.clone(),
        },
    );
    let shown = counter.clone();
    let mut progress = Progress::start(progress_wanted(ctx.no_progress, false), "load", move || {
        format!(
            "{} entries, {} read",
            format_count(shown.items()),
            of_total(shown.bytes(), total, format_bytes)
        )
    });
    let mut l = Loader {
        ctx,
        path,
        store: None,
        done: Loaded::default(),
        batch: Vec::new(),
        batch_bytes: 0,
        header: false,
        trailer: None,
    };
    let read = l
        .read(&mut reader, &source, &counter)
        .and_then(|()| l.store().map(drop));
    progress.finish();
    if let Err(mut f) = read {
        if l.done.loaded > 0 {
            f.message.push_str(&format!(
                " ({} entries were loaded before it)",
                format_count(l.done.loaded)
            ));
        }
        return Err(f);
    }
    let (store, created) = l.store.take().expect("opened at the end of the dump");
    store.close();
    let done = &l.done;
    let mut out = Out::new();
    if json {
        out.json(&json!({
            "loaded": done.loaded,
            "skipped_expired": done.skipped,
            "records": done.records,
            "created": created,
        }))?;
    } else {
        out.line(&format!(
            "loaded {} into {} ({} already expired skipped, of {})",
            counted(done.loaded, "entry", "entries"),
            path.display(),
            format_count(done.skipped),
            counted(done.records, "record", "records")
        ))?;
    }
    out.finish()?;
    match l.trailer {
        None if l.header => Err(Failure::new(
            exit::BAD_DUMP,
            format!(
                "{source}: the dump ends without its trailer line: it was cut short (its {} records were loaded)",
                format_count(done.records)
            ),
        )),
        Some((at, count)) if count != done.records => Err(bad(
            at,
            format!(
                "the trailer counts {} entries but the dump holds {} records",
                format_count(count),
                format_count(done.records)
            ),
        )),
        _ => Ok(()),
    }
}

/// The library's own checks, made here with the line number (its batch error would name
/// only the record's place in the batch).
fn check_record(store: &Store, path: &Path, r: &Rec, n: u64) -> Res<()> {
    if r.ns.is_empty() || r.ns.len() > ttlkv::MAX_NAMESPACE_LEN {
        return Err(bad(
            n,
            format!(
                "a namespace is 1 to {} bytes, not {}",
                ttlkv::MAX_NAMESPACE_LEN,
                r.ns.len()
            ),
        ));
    }
    let max_key = store.max_key_len(&r.ns).at(path)?;
    if r.key.len() > max_key {
        return Err(bad(
            n,
            format!(
                "a key of {} bytes; this namespace takes at most {max_key}",
                r.key.len()
            ),
        ));
    }
    if r.value.len() > MAX_VALUE_LEN {
        return Err(bad(
            n,
            format!("a value of {} bytes is over the 1 GiB limit", r.value.len()),
        ));
    }
    Ok(())
}
