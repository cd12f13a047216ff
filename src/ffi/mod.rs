//! The C ABI: every `extern "C"` symbol of `include/ttlkv.h`.
//!
//! `build.rs` runs cbindgen over this module to make the header, so the doc comments here are
//! the C user's manual. Conventions, as in rustls-ffi:
//!
//! - Every symbol starts with `ttlkv_`; the object comes first, then inputs, then outputs.
//! - Every fallible function returns a [`ttlkv_status`]; outputs are written only on success
//!   (the one exception, `ttlkv_get_into`'s needed length on `TTLKV_BUFFER_TOO_SMALL`, is
//!   documented there). There are no partial successes.
//! - Every body runs inside [`ffi_panic_boundary!`] (`panic.rs`); every pointer goes through
//!   the checks and the [`cast::Castable`] ownership of `cast.rs`; every failure records this
//!   thread's detail (`status.rs`), and a success or `TTLKV_NOT_FOUND` leaves it alone.

// The exported functions take raw pointers from C; the header documents, for each one, what
// the pointers must be (a `# Safety` section would repeat it in Rust-only words).
#![allow(clippy::missing_safety_doc)]
#![allow(non_camel_case_types)]

#[macro_use]
pub(crate) mod panic;
#[macro_use]
pub(crate) mod cast;
mod closer;
mod ops;
mod options;
mod status;
mod store;
// After store: the header lists the functions in module order.
mod key_list;
mod replica;

use std::ffi::c_char;
use std::sync::OnceLock;

// Rust code (tests, benches) calls the exported functions through these paths.
pub use key_list::*;
pub use options::*;
pub use panic::debug_panic_in_next_call;
pub use replica::*;
pub use status::{last_error_string, ttlkv_status};
pub use store::*;

/// The version of this ABI. It changes only when a function, type or constant changes
/// incompatibly; bindings refuse to load a library whose `ttlkv_abi_version()` differs from
/// the TTLKV_ABI_VERSION they were built with. It is also the number in the library's
/// soname (libttlkv.so.1).
pub const TTLKV_ABI_VERSION: u32 = 1;

/// The TTL (in milliseconds) of an entry that never expires.
pub const TTLKV_TTL_NEVER: u64 = u64::MAX;

/// The deadline reported by `ttlkv_deadline()` for an entry that never expires.
pub const TTLKV_DEADLINE_NEVER: u64 = u64::MAX;

/// Durability mode: a put is on disk when it returns (the default).
pub const TTLKV_DURABILITY_SYNC: u32 = 0;

/// Durability mode: commits skip fsync and a background flush runs every sync interval.
pub const TTLKV_DURABILITY_PERIODIC: u32 = 1;

/// The longest namespace, in bytes.
pub const TTLKV_MAX_NAMESPACE_LEN: usize = 255;

/// The largest value, in bytes (1 GiB).
pub const TTLKV_MAX_VALUE_LEN: usize = 1073741824;

/// The most records one `ttlkv_put_many()` takes.
pub const TTLKV_MAX_BATCH_RECORDS: usize = 100000;

/// The most bytes of keys and values one `ttlkv_put_many()` takes (1 GiB).
pub const TTLKV_MAX_BATCH_BYTES: usize = 1073741824;

/// The most keys one `ttlkv_get_many()` or `ttlkv_delete_many()` takes, and the largest
/// `limit` of `ttlkv_scan()`.
pub const TTLKV_MAX_KEYS_PER_CALL: usize = 100000;

/// The smallest size bound `ttlkv_set_max_bytes()` takes (64 KiB).
pub const TTLKV_MIN_MAX_BYTES: u64 = 65536;

/// `ttlkv_stat()`: entries removed because they expired (by the background thread or
/// `ttlkv_purge_expired()`), in this process.
pub const TTLKV_STAT_EXPIRED_REMOVED: u32 = 0;
/// `ttlkv_stat()`: write transactions the expiry work committed, in this process.
pub const TTLKV_STAT_EXPIRY_BATCHES: u32 = 1;
/// `ttlkv_stat()`: iterations of the expiry thread that panicked (caught; the thread goes on).
pub const TTLKV_STAT_EXPIRY_PANICS: u32 = 2;
/// `ttlkv_stat()`: iterations of the expiry thread that failed with an error.
pub const TTLKV_STAT_EXPIRY_ERRORS: u32 = 3;
/// `ttlkv_stat()`: LMDB reader slots of dead processes reclaimed.
pub const TTLKV_STAT_READERS_RECLAIMED: u32 = 4;
/// `ttlkv_stat()`: the current size of the memory map, in bytes.
pub const TTLKV_STAT_MAP_SIZE: u32 = 5;
/// `ttlkv_stat()`: the bytes of the map in use.
pub const TTLKV_STAT_USED_BYTES: u32 = 6;
/// `ttlkv_stat()`: write transactions committed for puts and deletes (one carries many
/// writers' calls), in this process.
pub const TTLKV_STAT_WRITE_COMMITS: u32 = 7;
/// `ttlkv_stat()`: the puts and deletes (calls) those transactions carried.
pub const TTLKV_STAT_WRITE_CALLS: u32 = 8;
/// `ttlkv_stat()`: idle read transactions this process keeps for reuse, each holding one of
/// the reader slots every process shares (given back when the process stops reading).
pub const TTLKV_STAT_POOLED_READERS: u32 = 9;
/// `ttlkv_stat()`: entries evicted by this process to keep the store within its size bound.
pub const TTLKV_STAT_EVICTED: u32 = 10;
/// `ttlkv_stat()`: bytes of the store's B-tree pages, what `ttlkv_set_max_bytes()` bounds.
pub const TTLKV_STAT_TREE_BYTES: u32 = 11;
/// `ttlkv_stat()`: 1 when this process's open verified the whole store first (the machine had
/// not shut down cleanly since the store's last flush), else 0.
pub const TTLKV_STAT_VERIFIED_AT_OPEN: u32 = 12;
/// `ttlkv_stat()`: 1 when this process's open found the store damaged and reset it
/// (TTLKV_ON_CORRUPTION_RESET), else 0.
pub const TTLKV_STAT_CORRUPTION_RESETS: u32 = 13;
/// `ttlkv_stat()`: 1 when this process's open returned the store to its last flush after a
/// crash of the machine (periodic mode: the commits after that flush are dropped), else 0.
pub const TTLKV_STAT_ROLLED_BACK_AT_OPEN: u32 = 14;

// The header's numbers are written out (cbindgen copies expressions verbatim); these keep them
// equal to the core's.
const _: () = assert!(TTLKV_TTL_NEVER == u64::MAX && TTLKV_DEADLINE_NEVER == crate::DEADLINE_NEVER);
const _: () = assert!(TTLKV_MAX_NAMESPACE_LEN == crate::MAX_NAMESPACE_LEN);
const _: () = assert!(TTLKV_MAX_VALUE_LEN == crate::MAX_VALUE_LEN);
const _: () = assert!(TTLKV_MAX_KEYS_PER_CALL == crate::MAX_KEYS_PER_CALL);
const _: () = assert!(crate::MAX_KEYS_PER_CALL == crate::MAX_BATCH_RECORDS);
const _: () = assert!(TTLKV_MIN_MAX_BYTES == crate::MIN_MAX_BYTES);
const _: () = assert!(TTLKV_MAX_BATCH_RECORDS == crate::MAX_BATCH_RECORDS);
const _: () = assert!(TTLKV_MAX_BATCH_BYTES == crate::MAX_BATCH_BYTES);

/// The crate version packed as the header's TTLKV_VERSION_NUMBER:
/// `(major << 16) | (minor << 8) | patch`.
pub const VERSION_NUMBER: u32 = (parse_u32(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
    | (parse_u32(env!("CARGO_PKG_VERSION_MINOR")) << 8)
    | parse_u32(env!("CARGO_PKG_VERSION_PATCH"));

const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0u32;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "a version part is not a number");
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    n
}

/// The ABI version of the loaded library (TTLKV_ABI_VERSION of the header it was built
/// with). Compare it with the TTLKV_ABI_VERSION you compiled against before any other call.
#[no_mangle]
pub extern "C" fn ttlkv_abi_version() -> u32 {
    ffi_panic_boundary!("ttlkv_abi_version", { TTLKV_ABI_VERSION })
}

/// The version of the loaded library, packed as TTLKV_VERSION_NUMBER:
/// `(major << 16) | (minor << 8) | patch`.
#[no_mangle]
pub extern "C" fn ttlkv_version_number() -> u32 {
    ffi_panic_boundary!("ttlkv_version_number", { VERSION_NUMBER })
}

/// The library's version and the LMDB version linked in, e.g.
/// "ttlkv 0.1.0 (LMDB 0.9.24: (July 24, 2019))". Static text: never freed, never NULL.
#[no_mangle]
pub extern "C" fn ttlkv_version() -> *const c_char {
    ffi_panic_boundary!("ttlkv_version", {
        static TEXT: OnceLock<Vec<u8>> = OnceLock::new();
        TEXT.get_or_init(|| {
            let mut t =
                format!("ttlkv {} ({})", env!("CARGO_PKG_VERSION"), crate::lmdb_version()).into_bytes();
            t.retain(|&b| b != 0);
            t.push(0);
            t
        })
        .as_ptr()
        .cast()
    })
}

/// The text of a status code, e.g. "key too long". Any number is allowed: one that is not a
/// status gives "unknown status". Static text: never freed, never NULL.
#[no_mangle]
pub extern "C" fn ttlkv_status_str(code: u32) -> *const c_char {
    ffi_panic_boundary!("ttlkv_status_str", {
        match ttlkv_status::from_u32(code) {
            Some(s) => s.text().as_ptr().cast(),
            None => b"unknown status\0".as_ptr().cast(),
        }
    })
}

/// The stable lower-case name of a status code, the word the bindings use: "ok",
/// "not_found", "invalid_argument", "key_too_long", ..., "panic". Any number is allowed: one
/// that is not a status gives "unknown". Static text: never freed, never NULL.
#[no_mangle]
pub extern "C" fn ttlkv_status_name(code: u32) -> *const c_char {
    ffi_panic_boundary!("ttlkv_status_name", {
        static NAMES: OnceLock<Vec<(u32, Vec<u8>)>> = OnceLock::new();
        let names = NAMES.get_or_init(|| {
            ttlkv_status::ALL
                .iter()
                .map(|s| (*s as u32, format!("{}\0", s.name()).into_bytes()))
                .collect()
        });
        match names.iter().find(|(c, _)| *c == code) {
            Some((_, n)) => n.as_ptr().cast(),
            None => b"unknown\0".as_ptr().cast(),
        }
    })
}

/// This thread's detail of its last failure (the last call on this thread that returned a
/// status other than TTLKV_OK and TTLKV_NOT_FOUND, and `ttlkv_verify()` finding problems), or
/// "" when there was none. Successful calls leave it unchanged. Never NULL; owned by ttlkv:
/// valid until the next failing call on this thread or the thread's exit.
#[no_mangle]
pub extern "C" fn ttlkv_last_error() -> *const c_char {
    ffi_panic_boundary!("ttlkv_last_error", { status::last_error_ptr() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    /// Each TTLKV_STAT_* number names the counter of that position in the core's one table.
    #[test]
    fn stat_numbers_follow_the_core_table() {
        let numbered = [
            (TTLKV_STAT_EXPIRED_REMOVED, "expired_removed"),
            (TTLKV_STAT_EXPIRY_BATCHES, "expiry_batches"),
            (TTLKV_STAT_EXPIRY_PANICS, "expiry_panics"),
            (TTLKV_STAT_EXPIRY_ERRORS, "expiry_errors"),
            (TTLKV_STAT_READERS_RECLAIMED, "readers_reclaimed"),
            (TTLKV_STAT_MAP_SIZE, "map_size"),
            (TTLKV_STAT_USED_BYTES, "used_bytes"),
            (TTLKV_STAT_WRITE_COMMITS, "write_commits"),
            (TTLKV_STAT_WRITE_CALLS, "write_calls"),
            (TTLKV_STAT_POOLED_READERS, "pooled_readers"),
            (TTLKV_STAT_EVICTED, "evicted"),
            (TTLKV_STAT_TREE_BYTES, "tree_bytes"),
            (TTLKV_STAT_VERIFIED_AT_OPEN, "verified_at_open"),
            (TTLKV_STAT_CORRUPTION_RESETS, "corruption_resets"),
            (TTLKV_STAT_ROLLED_BACK_AT_OPEN, "rolled_back_at_open"),
        ];
        assert_eq!(
            numbered.len(),
            crate::Stats::COUNTERS.len(),
            "a counter without a TTLKV_STAT_* number"
        );
        for (n, name) in numbered {
            assert_eq!(crate::Stats::COUNTERS[n as usize].0, name);
            let c = unsafe { CStr::from_ptr(store::ttlkv_stat_name(n)) };
            assert_eq!(c.to_str().unwrap(), name);
        }
        assert!(store::ttlkv_stat_name(numbered.len() as u32).is_null());
    }
}
