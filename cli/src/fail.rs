//! Exit codes and the one error type of the command: every failure has a code (documented in
//! `ttlkv --help` and cli/README.md) and a message that names the path and the cause.

use std::fmt::Display;
use std::io;
use std::path::Path;

use ttlkv::ErrorKind;

/// The exit codes, stable for scripts.
pub mod exit {
    /// The key, entry or counter is not there (absent or expired), or nothing was deleted.
    pub const NOT_FOUND: i32 = 1;
    /// Bad arguments, or an argument the store refuses (namespace, key length, TTL, ...).
    pub const USAGE: i32 = 2;
    /// No store at PATH (no directory, or no data.mdb in it), or a path that cannot be one.
    pub const NO_STORE: i32 = 3;
    /// `incr` of a value that is not a counter, or a sum outside 64 bits.
    pub const NOT_A_COUNTER: i32 = 4;
    /// `verify` found problems, or the store's files are damaged.
    pub const CORRUPTED: i32 = 5;
    /// Another format version, or an LMDB file of another program.
    pub const INCOMPATIBLE: i32 = 6;
    /// Permission denied (including a store directory other users could tamper with).
    pub const PERMISSION: i32 = 7;
    /// No room: the map's maximum, the size bound with eviction `none`, or a full disk.
    pub const FULL: i32 = 8;
    /// Any other storage or I/O failure.
    pub const STORAGE: i32 = 9;
    /// `load`: the dump is malformed or truncated.
    pub const BAD_DUMP: i32 = 10;
    /// Standard output was closed early (`ttlkv keys … | head`): what a shell reports for a
    /// program ended by SIGPIPE, without a message.
    pub const BROKEN_PIPE: i32 = 141;
}

/// The `--help` text listing the exit codes.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    ok
  1    not found: no live entry (get, ttl, touch, incr without --ttl), nothing deleted
  2    usage: bad arguments, or input the store refuses (namespace, key length, TTL)
  3    no store at PATH (no directory or no data.mdb; only load creates one)
  4    not a counter, or the counter would overflow (incr)
  5    corrupted: verify found problems, or the files are damaged
  6    incompatible: another format version or another program's LMDB file
  7    permission denied (also a directory other users can write: --allow-shared-dir)
  8    full: the map's maximum, the size bound with eviction none, or the disk
  9    another storage or I/O error
  10   load: a malformed or truncated dump
  141  standard output closed early (as after SIGPIPE)";

/// Why the command failed, and its exit code. An empty message prints nothing.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

pub type Res<T> = Result<T, Failure>;

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(exit::USAGE, message)
    }
}

/// The exit code of a store error.
pub fn code_of(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::InvalidArgument
        | ErrorKind::NamespaceInvalid
        | ErrorKind::KeyTooLong
        | ErrorKind::ValueTooLarge
        | ErrorKind::TtlInvalid
        | ErrorKind::BatchTooLarge => exit::USAGE,
        ErrorKind::PathInvalid => exit::NO_STORE,
        ErrorKind::NotACounter | ErrorKind::Overflow => exit::NOT_A_COUNTER,
        ErrorKind::Corrupted => exit::CORRUPTED,
        ErrorKind::Incompatible => exit::INCOMPATIBLE,
        ErrorKind::Permission => exit::PERMISSION,
        ErrorKind::Full | ErrorKind::NoSpace => exit::FULL,
        _ => exit::STORAGE,
    }
}

/// A store error, with the store's path in front: `/srv/cache: key_too_long: …`.
pub fn store(path: &Path, e: ttlkv::Error) -> Failure {
    Failure::new(code_of(e.kind()), format!("{}: {e}", path.display()))
}

/// An extension for `Result<T, ttlkv::Error>`: `.at(path)?`.
pub trait At<T> {
    fn at(self, path: &Path) -> Res<T>;
}

impl<T> At<T> for ttlkv::Result<T> {
    fn at(self, path: &Path) -> Res<T> {
        self.map_err(|e| store(path, e))
    }
}

/// A failed write to standard output (or to the `-o` file). A closed pipe ends the command
/// quietly with [`exit::BROKEN_PIPE`].
pub fn output(what: impl Display, e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Failure::new(exit::BROKEN_PIPE, "");
    }
    let code = match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => exit::FULL,
        _ => exit::STORAGE,
    };
    Failure::new(code, format!("writing {what}: {e}"))
}
