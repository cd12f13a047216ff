//! Status codes, their text, the mapping from [`ErrorKind`], and this thread's last error.

use std::cell::RefCell;
use std::ffi::c_char;
use std::fmt;
use std::io::Write;

use crate::{Error, ErrorKind};

/// The result of every fallible call. The numbers are part of the ABI and never reused:
/// `TTLKV_OK` and `TTLKV_NOT_FOUND` are ordinary results, 100.. are caller errors (the request
/// itself is wrong), 200.. are storage and I/O errors (the request was fine, the store could not
/// do it), 900 is a bug inside ttlkv. In C the type is a `uint32_t`: compare it with the
/// constants, and treat a number you do not know as an error (newer libraries may add codes).
/// After any failure, `ttlkv_last_error()` gives this thread's detail.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ttlkv_status {
    /// Success.
    TTLKV_OK = 0,
    /// No live entry has that key (absent, expired, or deleted). An ordinary result, not an
    /// error: `ttlkv_last_error()` is not changed.
    TTLKV_NOT_FOUND = 1,
    /// The write's condition does not hold, so nothing was written: `ttlkv_add()` found a live
    /// entry, `ttlkv_put_if_version()` found another version (or an entry where it expected
    /// none). An ordinary result, not an error: `ttlkv_last_error()` is not changed.
    TTLKV_CONFLICT = 2,
    /// A NULL pointer with a non-zero length, a NULL output pointer, an option value out of its
    /// range, or an index out of range.
    TTLKV_INVALID_ARGUMENT = 100,
    /// The namespace is empty or longer than TTLKV_MAX_NAMESPACE_LEN (255) bytes.
    TTLKV_NAMESPACE_INVALID = 101,
    /// The key is longer than `ttlkv_max_key_len()` allows for its namespace.
    TTLKV_KEY_TOO_LONG = 102,
    /// The value is larger than TTLKV_MAX_VALUE_LEN (1 GiB).
    TTLKV_VALUE_TOO_LARGE = 103,
    /// The TTL is 0 (use TTLKV_TTL_NEVER for entries that must not expire).
    TTLKV_TTL_INVALID = 104,
    /// The handle was closed with `ttlkv_close()`.
    TTLKV_CLOSED = 105,
    /// A `ttlkv_put_many()` batch has more than TTLKV_MAX_BATCH_RECORDS records or more than
    /// TTLKV_MAX_BATCH_BYTES bytes of keys and values.
    TTLKV_BATCH_TOO_LARGE = 106,
    /// `ttlkv_get_into()`: the value does not fit; `*len` holds the length it needs.
    TTLKV_BUFFER_TOO_SMALL = 107,
    /// The path is not UTF-8, is empty, or names something that is not a directory.
    TTLKV_PATH_INVALID = 108,
    /// `ttlkv_incr()`: the value is not a counter (an ASCII decimal signed 64-bit integer);
    /// nothing was written.
    TTLKV_NOT_A_COUNTER = 109,
    /// `ttlkv_incr()`: the sum leaves the signed 64-bit range; the counter is unchanged.
    TTLKV_OVERFLOW = 110,
    /// An operating-system I/O failure; the detail carries the errno.
    TTLKV_IO = 200,
    /// The map reached the configured maximum size (`ttlkv_options_set_max_map_size()`).
    TTLKV_FULL = 201,
    /// The store's files are damaged.
    TTLKV_CORRUPTED = 202,
    /// The directory holds a store of an unknown format version, or another program's LMDB file.
    TTLKV_INCOMPATIBLE = 203,
    /// The file system is full (ENOSPC, EDQUOT).
    TTLKV_NO_SPACE = 204,
    /// The process may not read or write the store's files (EACCES, EPERM, EROFS).
    TTLKV_PERMISSION = 205,
    /// Every LMDB reader slot is taken (see `ttlkv_options_set_max_readers()`).
    TTLKV_READERS_FULL = 206,
    /// Any other failure reported by LMDB.
    TTLKV_STORAGE = 207,
    /// A bug inside ttlkv: a Rust panic was caught at the ABI boundary. The call did nothing
    /// that can be relied on; the detail names the function and the panic message.
    TTLKV_PANIC = 900,
}

use ttlkv_status::*;

impl ttlkv_status {
    /// Every status, in number order.
    pub const ALL: [ttlkv_status; 23] = [
        TTLKV_OK,
        TTLKV_NOT_FOUND,
        TTLKV_CONFLICT,
        TTLKV_INVALID_ARGUMENT,
        TTLKV_NAMESPACE_INVALID,
        TTLKV_KEY_TOO_LONG,
        TTLKV_VALUE_TOO_LARGE,
        TTLKV_TTL_INVALID,
        TTLKV_CLOSED,
        TTLKV_BATCH_TOO_LARGE,
        TTLKV_BUFFER_TOO_SMALL,
        TTLKV_PATH_INVALID,
        TTLKV_NOT_A_COUNTER,
        TTLKV_OVERFLOW,
        TTLKV_IO,
        TTLKV_FULL,
        TTLKV_CORRUPTED,
        TTLKV_INCOMPATIBLE,
        TTLKV_NO_SPACE,
        TTLKV_PERMISSION,
        TTLKV_READERS_FULL,
        TTLKV_STORAGE,
        TTLKV_PANIC,
    ];

    /// The status with number `code`, if there is one. A code that comes from C is converted
    /// this way, never transmuted: an unknown number is not a valid `ttlkv_status` in Rust.
    pub fn from_u32(code: u32) -> Option<ttlkv_status> {
        ttlkv_status::ALL.iter().copied().find(|s| *s as u32 == code)
    }

    /// The status of an error kind: one status per kind.
    pub fn from_kind(kind: ErrorKind) -> ttlkv_status {
        match kind {
            ErrorKind::InvalidArgument => TTLKV_INVALID_ARGUMENT,
            ErrorKind::NamespaceInvalid => TTLKV_NAMESPACE_INVALID,
            ErrorKind::KeyTooLong => TTLKV_KEY_TOO_LONG,
            ErrorKind::ValueTooLarge => TTLKV_VALUE_TOO_LARGE,
            ErrorKind::TtlInvalid => TTLKV_TTL_INVALID,
            ErrorKind::Closed => TTLKV_CLOSED,
            ErrorKind::BatchTooLarge => TTLKV_BATCH_TOO_LARGE,
            ErrorKind::PathInvalid => TTLKV_PATH_INVALID,
            ErrorKind::NotACounter => TTLKV_NOT_A_COUNTER,
            ErrorKind::Overflow => TTLKV_OVERFLOW,
            ErrorKind::Io => TTLKV_IO,
            ErrorKind::Full => TTLKV_FULL,
            ErrorKind::Corrupted => TTLKV_CORRUPTED,
            ErrorKind::Incompatible => TTLKV_INCOMPATIBLE,
            ErrorKind::NoSpace => TTLKV_NO_SPACE,
            ErrorKind::Permission => TTLKV_PERMISSION,
            ErrorKind::ReadersFull => TTLKV_READERS_FULL,
            ErrorKind::Storage => TTLKV_STORAGE,
        }
    }

    /// The static, NUL-terminated text of the status.
    pub fn text(self) -> &'static [u8] {
        match self {
            TTLKV_OK => b"ok\0",
            TTLKV_NOT_FOUND => b"not found\0",
            TTLKV_CONFLICT => b"conflict (the key is live, or has another version)\0",
            TTLKV_INVALID_ARGUMENT => b"invalid argument\0",
            TTLKV_NAMESPACE_INVALID => b"namespace invalid (1 to 255 bytes)\0",
            TTLKV_KEY_TOO_LONG => b"key too long\0",
            TTLKV_VALUE_TOO_LARGE => b"value too large (over 1 GiB)\0",
            TTLKV_TTL_INVALID => b"ttl invalid (0)\0",
            TTLKV_CLOSED => b"store handle closed\0",
            TTLKV_BATCH_TOO_LARGE => b"batch too large\0",
            TTLKV_BUFFER_TOO_SMALL => b"buffer too small\0",
            TTLKV_PATH_INVALID => b"path invalid\0",
            TTLKV_NOT_A_COUNTER => b"not a counter (an ASCII decimal signed 64-bit integer)\0",
            TTLKV_OVERFLOW => b"counter overflow (signed 64-bit)\0",
            TTLKV_IO => b"I/O error\0",
            TTLKV_FULL => b"store full (max map size reached)\0",
            TTLKV_CORRUPTED => b"store corrupted\0",
            TTLKV_INCOMPATIBLE => b"store incompatible\0",
            TTLKV_NO_SPACE => b"no space left on device\0",
            TTLKV_PERMISSION => b"permission denied\0",
            TTLKV_READERS_FULL => b"reader slots full\0",
            TTLKV_STORAGE => b"storage error\0",
            TTLKV_PANIC => b"internal panic (a bug in ttlkv)\0",
        }
    }

    /// The stable lower-case name, the same word as [`ErrorKind::name`] (`"ok"`, `"not_found"`
    /// and `"panic"` for the three statuses that are no error kind).
    pub fn name(self) -> &'static str {
        match self {
            TTLKV_OK => "ok",
            TTLKV_NOT_FOUND => "not_found",
            TTLKV_CONFLICT => "conflict",
            TTLKV_BUFFER_TOO_SMALL => "buffer_too_small",
            TTLKV_PANIC => "panic",
            s => ALL_KINDS
                .iter()
                .find(|k| ttlkv_status::from_kind(**k) == s)
                .map(|k| k.name())
                .unwrap_or("unknown"),
        }
    }
}

/// Every error kind, for the mapping tests and [`ttlkv_status::name`].
pub(crate) const ALL_KINDS: [ErrorKind; 18] = [
    ErrorKind::InvalidArgument,
    ErrorKind::NamespaceInvalid,
    ErrorKind::KeyTooLong,
    ErrorKind::ValueTooLarge,
    ErrorKind::TtlInvalid,
    ErrorKind::Closed,
    ErrorKind::BatchTooLarge,
    ErrorKind::PathInvalid,
    ErrorKind::NotACounter,
    ErrorKind::Overflow,
    ErrorKind::Io,
    ErrorKind::Full,
    ErrorKind::Corrupted,
    ErrorKind::Incompatible,
    ErrorKind::NoSpace,
    ErrorKind::Permission,
    ErrorKind::ReadersFull,
    ErrorKind::Storage,
];

thread_local! {
    /// This thread's last failure detail, NUL-terminated; empty until the first failure.
    /// The buffer is reused, so writing a detail allocates only when it outgrows the last one.
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes this thread's failure detail (interior NULs become spaces) and returns `status`.
#[cold]
pub(crate) fn fail(status: ttlkv_status, detail: fmt::Arguments<'_>) -> ttlkv_status {
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            buf.clear();
            let _ = buf.write_fmt(detail);
            for b in buf.iter_mut() {
                if *b == 0 {
                    *b = b' ';
                }
            }
            buf.push(0);
        }
    });
    status
}

/// The status of `e`, with its message as this thread's detail.
#[cold]
pub(crate) fn fail_with(e: &Error) -> ttlkv_status {
    fail(ttlkv_status::from_kind(e.kind()), format_args!("{}", e.message()))
}

/// [`fail`] with `TTLKV_INVALID_ARGUMENT`.
#[cold]
pub(crate) fn invalid(detail: fmt::Arguments<'_>) -> ttlkv_status {
    fail(TTLKV_INVALID_ARGUMENT, detail)
}

/// A pointer to this thread's detail, or to "" when there is none.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|cell| match cell.try_borrow() {
            Ok(buf) if !buf.is_empty() => buf.as_ptr().cast(),
            _ => EMPTY.as_ptr().cast(),
        })
        .unwrap_or(EMPTY.as_ptr().cast())
}

const EMPTY: &[u8] = b"\0";

/// This thread's last failure detail, as Rust text (for tests).
#[doc(hidden)]
pub fn last_error_string() -> String {
    LAST_ERROR
        .try_with(|cell| {
            let buf = cell.borrow();
            String::from_utf8_lossy(buf.strip_suffix(b"\0").unwrap_or(&buf)).into_owned()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_has_its_own_status_in_its_range() {
        let mut seen = Vec::new();
        for kind in ALL_KINDS {
            let s = ttlkv_status::from_kind(kind);
            let n = s as u32;
            assert!((100..300).contains(&n), "{kind:?} -> {n}");
            assert!(!seen.contains(&n), "{kind:?} shares {n}");
            seen.push(n);
            assert_eq!(s.name(), kind.name());
            // Caller errors are 1xx, storage errors 2xx.
            let caller = matches!(
                kind,
                ErrorKind::InvalidArgument
                    | ErrorKind::NamespaceInvalid
                    | ErrorKind::KeyTooLong
                    | ErrorKind::ValueTooLarge
                    | ErrorKind::TtlInvalid
                    | ErrorKind::Closed
                    | ErrorKind::BatchTooLarge
                    | ErrorKind::PathInvalid
                    | ErrorKind::NotACounter
                    | ErrorKind::Overflow
            );
            assert_eq!(n < 200, caller, "{kind:?}");
        }
    }

    #[test]
    fn codes_convert_from_integers_and_back() {
        for s in ttlkv_status::ALL {
            assert_eq!(ttlkv_status::from_u32(s as u32), Some(s));
            let text = s.text();
            assert_eq!(text.iter().filter(|&&b| b == 0).count(), 1);
            assert_eq!(text.last(), Some(&0));
        }
        let known = (0..=1000u32)
            .filter(|c| ttlkv_status::from_u32(*c).is_some())
            .count();
        assert_eq!(known, ttlkv_status::ALL.len());
        for c in [3, 99, 111, 199, 208, 899, 901, u32::MAX / 2, u32::MAX] {
            assert_eq!(ttlkv_status::from_u32(c), None);
        }
    }

    #[test]
    fn a_failure_detail_is_nul_terminated_without_interior_nuls() {
        fail(ttlkv_status::TTLKV_IO, format_args!("a\0b"));
        assert_eq!(last_error_string(), "a b");
        fail(ttlkv_status::TTLKV_IO, format_args!("short"));
        assert_eq!(last_error_string(), "short");
        let p = last_error_ptr();
        assert_eq!(unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes(), b"short");
    }
}
