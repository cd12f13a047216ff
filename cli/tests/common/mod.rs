//! Helpers of the CLI's integration tests: running the built `ttlkv` binary, stores made with
//! the library, a child process that keeps a store open, and a pseudo-terminal.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ttlkv::{Options, Store};

pub const BIN: &str = env!("CARGO_BIN_EXE_ttlkv");

/// How long a test waits for a child before it fails (a hang is a failure, never a pass).
pub const PATIENCE: Duration = Duration::from_secs(120);

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn out(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}): {:?} / stderr {:?}",
                self.out(),
                self.stderr
            )
        })
    }

    /// Asserts the exit code, showing everything when it differs.
    #[track_caller]
    pub fn code(self, want: i32) -> Run {
        assert_eq!(
            self.code,
            want,
            "exit code; stdout {:?}, stderr {:?}",
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        self.code(0)
    }
}

fn finish(out: Output) -> Run {
    use std::os::unix::process::ExitStatusExt;
    let code = out
        .status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
    Run {
        code,
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `ttlkv ARGS` with no standard input.
pub fn ttlkv<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    finish(
        Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ttlkv"),
    )
}

/// Runs `ttlkv ARGS` with `input` on standard input.
pub fn ttlkv_input<S: AsRef<std::ffi::OsStr>>(args: &[S], input: &[u8]) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ttlkv");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    finish(out)
}

/// A temporary directory with a path for a store in it (not created).
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().unwrap(),
        }
    }
    pub fn join(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
    /// The path `store` inside, as a string argument.
    pub fn store(&self) -> String {
        self.join("store").to_str().unwrap().to_string()
    }
}

/// Opens (creating) a store with the library, as an application would.
pub fn open(path: impl AsRef<Path>) -> Store {
    Store::open(path, Options::default()).unwrap()
}

/// One entry as `(ns, key, value, deadline)`.
pub type Entry = (Vec<u8>, Vec<u8>, Vec<u8>, u64);

/// Every live entry of a store, in order.
pub fn all_entries(store: &Store) -> Vec<Entry> {
    let mut out = Vec::new();
    store
        .for_each_entry(None, |e| {
            out.push((e.namespace.to_vec(), e.key.to_vec(), e.value.to_vec(), e.deadline));
            true
        })
        .unwrap();
    out
}

/// A child process (this test binary, running its ignored `child_process` test) that holds a
/// store open and obeys one-line commands on its standard input, answering each with a line
/// that starts with `CHILD`.
pub struct Helper {
    pub child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    pub pid: u32,
}

impl Helper {
    pub fn spawn(dir: &str, opts: &str) -> Helper {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_process",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TTLKV_CLI_CHILD_DIR", dir)
            .env("TTLKV_CLI_CHILD_OPTS", opts)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if let Some(at) = line.find("CHILD ") {
                    if tx.send(line[at + 6..].trim().to_string()).is_err() {
                        return;
                    }
                }
            }
        });
        let mut h = Helper {
            child,
            stdin,
            lines: rx,
            pid: 0,
        };
        let ready = h.answer();
        h.pid = ready
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("the child said {ready:?}"))
            .parse()
            .unwrap();
        h
    }

    /// The child's next answer (the test fails if it takes longer than [`PATIENCE`]).
    pub fn answer(&mut self) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .expect("the child process did not answer")
    }

    /// Sends a command and returns the answer.
    pub fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.answer()
    }

    pub fn exit(mut self) {
        assert_eq!(self.ask("exit"), "bye");
        assert!(self.child.wait().unwrap().success());
    }
}

/// The `child_process` body: see [`Helper`].
pub fn child_main() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let dir =
        std::env::var("TTLKV_CLI_CHILD_DIR").expect("child_process runs only as a child of the other tests");
    let opts = match std::env::var("TTLKV_CLI_CHILD_OPTS").as_deref() {
        Ok("write_map") => Options::default()
            .durability(ttlkv::Durability::Periodic {
                sync_interval: Duration::from_secs(1),
            })
            .write_map(true),
        _ => Options::default(),
    };
    let store = Store::open(&dir, opts).unwrap();
    println!("CHILD ready {}", std::process::id());
    let mut holder: Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)> = None;
    let mut writer: Option<(Arc<AtomicBool>, std::thread::JoinHandle<u64>)> = None;
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            // put NS PREFIX N: N entries PREFIX-i = v-PREFIX-i, TTL 1 h, one transaction.
            ["put", ns, prefix, n] => {
                let n: usize = n.parse().unwrap();
                let keys: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
                    .map(|i| {
                        (
                            format!("{prefix}-{i}").into_bytes(),
                            format!("v-{prefix}-{i}").into_bytes(),
                        )
                    })
                    .collect();
                let recs: Vec<ttlkv::RecordMs<'_>> = keys
                    .iter()
                    .map(|(k, v)| (ns.as_bytes(), &k[..], &v[..], 3_600_000))
                    .collect();
                store.put_many_ms(&recs).unwrap();
                println!("CHILD ok");
            }
            ["delete", ns, key] => {
                println!("CHILD {}", store.delete(ns.as_bytes(), key.as_bytes()).unwrap());
            }
            ["get", ns, key] => match store.get(ns.as_bytes(), key.as_bytes()).unwrap() {
                Some(v) => println!("CHILD value {}", String::from_utf8_lossy(&v)),
                None => println!("CHILD none"),
            },
            // Holds a read snapshot open in another thread until `release`.
            ["hold"] => {
                let (inside_tx, inside_rx) = channel();
                let (release_tx, release_rx) = channel::<()>();
                let s = store.clone();
                let t = std::thread::spawn(move || {
                    s.for_each_entry(None, |_| {
                        inside_tx.send(()).unwrap();
                        let _ = release_rx.recv();
                        false
                    })
                    .unwrap();
                });
                inside_rx.recv().expect("hold needs an entry in the store");
                holder = Some((release_tx, t));
                println!("CHILD held");
            }
            ["release"] => {
                let (tx, t) = holder.take().unwrap();
                tx.send(()).unwrap();
                t.join().unwrap();
                println!("CHILD released");
            }
            // Writes batches of 100 entries bg-<batch>-<i> in namespace bg until `stop`.
            ["bg"] => {
                let stop = Arc::new(AtomicBool::new(false));
                let batches = Arc::new(AtomicU64::new(0));
                let (s, st, b) = (store.clone(), stop.clone(), batches.clone());
                let t = std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !st.load(Ordering::Relaxed) {
                        let keys: Vec<Vec<u8>> = (0..100)
                            .map(|i| format!("bg-{n:06}-{i:03}").into_bytes())
                            .collect();
                        let recs: Vec<ttlkv::RecordMs<'_>> = keys
                            .iter()
                            .map(|k| (&b"bg"[..], &k[..], &b"x"[..], 3_600_000))
                            .collect();
                        s.put_many_ms(&recs).unwrap();
                        // And a delete, so that pages are freed and reused meanwhile.
                        if n > 0 {
                            s.delete(b"bg", format!("bg-{:06}-000", n - 1).as_bytes())
                                .unwrap();
                        }
                        n += 1;
                        b.store(n, Ordering::Relaxed);
                    }
                    n
                });
                while batches.load(Ordering::Relaxed) == 0 {
                    std::thread::yield_now();
                }
                writer = Some((stop, t));
                println!("CHILD writing");
            }
            ["stop"] => {
                let (stop, t) = writer.take().unwrap();
                stop.store(true, Ordering::Relaxed);
                println!("CHILD stopped {}", t.join().unwrap());
            }
            ["exit"] => break,
            other => panic!("unknown child command {other:?}"),
        }
    }
    store.close();
    println!("CHILD bye");
}

/// A pseudo-terminal: `slave()` gives a descriptor for a child's stdio, `read_all` the output
/// the child wrote, once every slave descriptor is closed.
pub struct Pty {
    master: Option<OwnedFd>,
    slave: Option<OwnedFd>,
}

impl Pty {
    pub fn new() -> Pty {
        let (mut m, mut s) = (-1, -1);
        // SAFETY: openpty writes two descriptors; the other arguments may be NULL.
        let rc = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both are fresh descriptors this function owns.
        unsafe {
            Pty {
                master: Some(OwnedFd::from_raw_fd(m)),
                slave: Some(OwnedFd::from_raw_fd(s)),
            }
        }
    }

    pub fn slave(&self) -> Stdio {
        Stdio::from(self.slave.as_ref().unwrap().try_clone().unwrap())
    }

    /// Closes this side's slave and reads everything until the terminal hangs up (EIO), in a
    /// thread, so that a child writing a lot never blocks on a full terminal buffer.
    pub fn reader(mut self) -> std::thread::JoinHandle<Vec<u8>> {
        drop(self.slave.take());
        let master = self.master.take().unwrap();
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(master);
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match f.read(&mut buf) {
                    Ok(0) | Err(_) => return out,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
        })
    }
}

/// Runs `ttlkv ARGS` with standard error (and standard output when `stdout_too`) on a
/// pseudo-terminal; returns the run (its stdout is empty when it went to the terminal) and
/// what the terminal showed.
pub fn ttlkv_on_terminal(args: &[&str], stdout_too: bool, env: &[(&str, &str)]) -> (Run, String) {
    let pty = Pty::new();
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null()).stderr(pty.slave());
    if stdout_too {
        cmd.stdout(pty.slave());
    } else {
        cmd.stdout(Stdio::piped());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    // The command keeps its copies of the slave descriptors until dropped: the terminal hangs
    // up (ending the reader) only when the child's are the last ones.
    drop(cmd);
    let reader = pty.reader();
    let out = child.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    (finish(out), screen)
}
