//! Standard output (buffered, a closed pipe ends the command quietly), text tables, and the
//! progress display of long work, drawn on standard error when it is a terminal.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fail::{self, Res};
use crate::units::format_duration;

/// Buffered standard output; every write reports a failure the command can return.
pub struct Out {
    w: BufWriter<io::StdoutLock<'static>>,
}

impl Out {
    pub fn new() -> Out {
        Out {
            w: BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        }
    }

    pub fn write(&mut self, bytes: &[u8]) -> Res<()> {
        self.w
            .write_all(bytes)
            .map_err(|e| fail::output("standard output", e))
    }

    /// `text` and a newline.
    pub fn line(&mut self, text: &str) -> Res<()> {
        self.write(text.as_bytes())?;
        self.write(b"\n")
    }

    /// One JSON document on one line.
    pub fn json(&mut self, v: &Value) -> Res<()> {
        serde_json::to_writer(&mut self.w, v).map_err(|e| fail::output("standard output", e.into()))?;
        self.write(b"\n")
    }

    pub fn finish(mut self) -> Res<()> {
        self.w.flush().map_err(|e| fail::output("standard output", e))
    }
}

/// Columns padded to their widest cell; `right[i]` right-aligns column i (numbers).
pub fn table(headers: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: &mut dyn Iterator<Item = &str>| {
        let mut line = String::from("  ");
        for (i, cell) in cells.enumerate() {
            let pad = " ".repeat(widths[i] - width(cell));
            if right.get(i).copied().unwrap_or(false) {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_row(&mut headers.iter().copied());
    for row in rows {
        push_row(&mut row.iter().map(String::as_str));
    }
    out.pop();
    out
}

/// Whether to draw a progress display: standard error is a terminal that understands
/// `ESC [ K`, the user did not turn it off, and the command's data is not itself going to
/// that terminal (`dump` without `-o` onto the screen).
pub fn progress_wanted(no_progress: bool, data_on_stdout: bool) -> bool {
    !no_progress
        && io::stderr().is_terminal()
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        && !(data_on_stdout && io::stdout().is_terminal())
}

/// Counts that the worker bumps and the display reads.
#[derive(Default)]
pub struct Counter {
    pub items: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counter {
    pub fn add(&self, items: u64, bytes: u64) {
        self.items.fetch_add(items, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// A one-line display on standard error, redrawn five times a second by its own thread from
/// `status()`, and erased when the work is done (or the command fails). The first frame is
/// drawn before `start` returns, so even quick work shows it once.
pub struct Progress {
    drawn: bool,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Progress {
    pub fn start(
        enabled: bool,
        label: &'static str,
        status: impl Fn() -> String + Send + 'static,
    ) -> Progress {
        if !enabled {
            return Progress {
                drawn: false,
                running: None,
            };
        }
        let started = Instant::now();
        let draw = move || {
            let elapsed = format_duration(started.elapsed().as_millis() as u64);
            let line = format!("\r{label}: {}  [{elapsed}]\x1b[K", status());
            let mut e = io::stderr().lock();
            let _ = e.write_all(line.as_bytes());
            let _ = e.flush();
        };
        draw();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ttlkv-progress".into())
            .spawn(move || loop {
                std::thread::park_timeout(Duration::from_millis(200));
                if stopped.load(Ordering::Acquire) {
                    return;
                }
                draw();
            })
            .ok();
        Progress {
            drawn: true,
            running: thread.map(|t| (stop, t)),
        }
    }

    /// Stops the display and erases its line.
    pub fn finish(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            stop.store(true, Ordering::Release);
            thread.thread().unpark();
            let _ = thread.join();
        }
        if std::mem::take(&mut self.drawn) {
            let mut e = io::stderr().lock();
            let _ = e.write_all(b"\r\x1b[K");
            let _ = e.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `1,234 of 5,000 (24%)` or `1,234` when the total is unknown.
pub fn of_total(done: u64, total: Option<u64>, fmt: fn(u64) -> String) -> String {
    match total {
        Some(t) if t > 0 => format!(
            "{} of {} ({}%)",
            fmt(done),
            fmt(t),
            (done.min(t) as u128 * 100 / t as u128)
        ),
        _ => fmt(done),
    }
}
