//! The error type of the Rust API. Every failure carries a kind (which the C ABI maps to a
//! status code one to one) and a message written for the person reading a log.

use std::fmt;

/// What went wrong, as a category a program can act on.
///
/// Caller errors (the request itself is wrong) come first, then storage errors (the request
/// was fine but the store could not do it). The C ABI gives each kind its own status number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument or option is out of its range.
    InvalidArgument,
    /// The namespace is empty or longer than [`crate::MAX_NAMESPACE_LEN`] bytes.
    NamespaceInvalid,
    /// The key is longer than the store allows for its namespace.
    KeyTooLong,
    /// The value is larger than [`crate::MAX_VALUE_LEN`].
    ValueTooLarge,
    /// The TTL is zero.
    TtlInvalid,
    /// The handle was closed.
    Closed,
    /// A `put_many` batch is over [`crate::MAX_BATCH_RECORDS`] records or
    /// [`crate::MAX_BATCH_BYTES`] bytes.
    BatchTooLarge,
    /// The path is not a usable directory name (empty, not UTF-8, or a file).
    PathInvalid,
    /// `incr` on a value that is not a counter (an ASCII decimal signed 64-bit integer).
    NotACounter,
    /// `incr` would take the counter out of the signed 64-bit range.
    Overflow,
    /// An operating-system I/O failure; the message carries the errno.
    Io,
    /// The map reached its configured maximum size.
    Full,
    /// The store's files are damaged.
    Corrupted,
    /// The files are a store of an unknown format version, or another program's LMDB file.
    Incompatible,
    /// The file system is full.
    NoSpace,
    /// The process may not read or write the store's files.
    Permission,
    /// Every LMDB reader slot is taken.
    ReadersFull,
    /// Any other failure reported by LMDB.
    Storage,
}

impl ErrorKind {
    /// A short, stable, lower-case name (`"key_too_long"`), the same word the bindings use.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::NamespaceInvalid => "namespace_invalid",
            ErrorKind::KeyTooLong => "key_too_long",
            ErrorKind::ValueTooLarge => "value_too_large",
            ErrorKind::TtlInvalid => "ttl_invalid",
            ErrorKind::Closed => "closed",
            ErrorKind::BatchTooLarge => "batch_too_large",
            ErrorKind::PathInvalid => "path_invalid",
            ErrorKind::NotACounter => "not_a_counter",
            ErrorKind::Overflow => "overflow",
            ErrorKind::Io => "io",
            ErrorKind::Full => "full",
            ErrorKind::Corrupted => "corrupted",
            ErrorKind::Incompatible => "incompatible",
            ErrorKind::NoSpace => "no_space",
            ErrorKind::Permission => "permission",
            ErrorKind::ReadersFull => "readers_full",
            ErrorKind::Storage => "storage",
        }
    }

    /// Maps an OS errno to the kind a caller can act on.
    pub(crate) fn from_errno(errno: i32) -> ErrorKind {
        match errno {
            libc::ENOSPC | libc::EDQUOT => ErrorKind::NoSpace,
            libc::EACCES | libc::EPERM | libc::EROFS => ErrorKind::Permission,
            libc::ENOTDIR => ErrorKind::PathInvalid,
            _ => ErrorKind::Io,
        }
    }
}

/// An error from a ttlkv call. Nothing was written when a call returns one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn closed() -> Error {
        Error::new(ErrorKind::Closed, "the store handle was closed")
    }

    pub(crate) fn io(context: &str, err: &std::io::Error) -> Error {
        let kind = err
            .raw_os_error()
            .map(ErrorKind::from_errno)
            .unwrap_or(ErrorKind::Io);
        let errno = err.raw_os_error().unwrap_or(0);
        Error::new(kind, format!("{context}: {err} (errno {errno})"))
    }

    /// The category of the failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The detail, for a log or an exception message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for Error {}

/// The result of a ttlkv call.
pub type Result<T> = std::result::Result<T, Error>;
