//! The cache operations on a store handle: touch, add, incr, take, versions and
//! compare-and-set, many keys at once, whole namespaces, paging, the size bound, and backup.
//! Each converts its C arguments and calls the one `Store` method of the same name.

use std::ffi::{c_char, CStr};

use super::cast::BoxCastPtr;
use super::key_list::{ttlkv_key_list, KeyList};
use super::status::ttlkv_status::{self, *};
use super::status::{fail, invalid};
use super::store::{ttlkv_buf, ttlkv_store};
use crate::{Eviction, MAX_KEYS_PER_CALL};

/// One key of `ttlkv_get_many()` or `ttlkv_delete_many()`: a pointer and a length, with the
/// rules of every byte-string argument (NULL with length 0 is the empty key).
#[repr(C)]
pub struct ttlkv_slice {
    /// The bytes.
    pub ptr: *const u8,
    /// Their number.
    pub len: usize,
}

/// `ttlkv_incr()` flag: create a missing counter (with the value `delta` and the TTL
/// `create_ttl_ms`) instead of returning TTLKV_NOT_FOUND.
pub const TTLKV_INCR_CREATE: u32 = 1;

/// `ttlkv_put_if_version()`: the expected version meaning "no live entry" (versions are
/// never 0).
pub const TTLKV_VERSION_ABSENT: u64 = 0;

/// `ttlkv_set_max_bytes()`: a write that would pass the bound evicts entries, soonest deadline
/// first (expired ones first of all, never-expiring ones last).
pub const TTLKV_EVICTION_SOONEST_DEADLINE: u32 = 0;
/// `ttlkv_set_max_bytes()`: a write that would pass the bound fails with TTLKV_FULL.
pub const TTLKV_EVICTION_NONE: u32 = 1;

/// `ttlkv_backup()` flag: compact the copy (leave free pages out).
pub const TTLKV_BACKUP_COMPACT: u32 = 1;

/// The keys of a `ttlkv_slice` array, checked like any byte-string argument.
unsafe fn key_slices<'a>(keys: *const ttlkv_slice, n: usize) -> Result<Vec<&'a [u8]>, ttlkv_status> {
    if n > MAX_KEYS_PER_CALL {
        return Err(fail(
            TTLKV_BATCH_TOO_LARGE,
            format_args!("{n} keys is over the limit of {MAX_KEYS_PER_CALL}"),
        ));
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    if keys.is_null() {
        return Err(invalid(format_args!("keys is NULL with {n} keys")));
    }
    let keys = std::slice::from_raw_parts(keys, n);
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            super::cast::input(k.ptr, k.len).ok_or_else(|| {
                invalid(format_args!(
                    "key {i}: a NULL pointer with a non-zero length (NULL is allowed only with length 0)"
                ))
            })
        })
        .collect()
}

/// Gives the live entry `key` of `ns` a new deadline, now + `ttl_ms` (TTLKV_TTL_NEVER: never
/// expires), without rewriting its value; its version does not change.
///
/// Returns TTLKV_OK; TTLKV_NOT_FOUND (no live entry); TTLKV_INVALID_ARGUMENT;
/// TTLKV_NAMESPACE_INVALID; TTLKV_KEY_TOO_LONG; TTLKV_TTL_INVALID; TTLKV_CLOSED; TTLKV_FULL;
/// TTLKV_IO; TTLKV_NO_SPACE; TTLKV_CORRUPTED; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_touch(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    key: *const u8,
    key_len: usize,
    ttl_ms: u64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_touch", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let key = try_input!(key, key_len, "key");
        if try_core!(store.touch_ms(ns, key, ttl_ms)) {
            TTLKV_OK
        } else {
            TTLKV_NOT_FOUND
        }
    })
}

/// Writes `key` only if it has no live entry (one that expired but is not yet removed counts
/// as absent), atomically across threads and processes.
///
/// Returns TTLKV_OK (written); TTLKV_CONFLICT (a live entry exists; nothing written); the
/// errors of `ttlkv_put()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_add(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    ttl_ms: u64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_add", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let key = try_input!(key, key_len, "key");
        let value = try_input!(value, value_len, "value");
        if try_core!(store.add_ms(ns, key, value, ttl_ms)) {
            TTLKV_OK
        } else {
            TTLKV_CONFLICT
        }
    })
}

/// Adds `delta` to the counter `key` atomically; on TTLKV_OK `*out` is the new value.
/// Counters are ASCII decimal signed 64-bit integers ("42", "-7"), readable by every binding.
/// An existing counter keeps its deadline. A missing key is created with the value `delta`
/// and the TTL `create_ttl_ms` when `flags` has TTLKV_INCR_CREATE, else TTLKV_NOT_FOUND
/// (`create_ttl_ms` is then ignored). For a decrement, pass a negative delta.
///
/// Returns TTLKV_OK; TTLKV_NOT_FOUND; TTLKV_NOT_A_COUNTER and TTLKV_OVERFLOW (nothing
/// written); TTLKV_INVALID_ARGUMENT (`s` or `out` NULL, unknown flags); TTLKV_TTL_INVALID;
/// the errors of `ttlkv_put()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_incr(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    key: *const u8,
    key_len: usize,
    delta: i64,
    flags: u32,
    create_ttl_ms: u64,
    out: *mut i64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_incr", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let key = try_input!(key, key_len, "key");
        try_out!(out, "out");
        if flags & !TTLKV_INCR_CREATE != 0 {
            return invalid(format_args!(
                "flags {flags:#x} has bits other than TTLKV_INCR_CREATE"
            ));
        }
        let create = (flags & TTLKV_INCR_CREATE != 0).then_some(create_ttl_ms);
        match try_core!(store.incr_ms(ns, key, delta, create)) {
            Some(n) => {
                *out = n;
                TTLKV_OK
            }
            None => TTLKV_NOT_FOUND,
        }
    })
}

/// Removes the live entry `key` and gives its value, atomically (of two callers taking one
/// key, one gets it). On TTLKV_OK, `*out` holds the value, to release with `ttlkv_buf_free()`.
///
/// Returns TTLKV_OK; TTLKV_NOT_FOUND; the errors of `ttlkv_delete()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_take(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    key: *const u8,
    key_len: usize,
    out: *mut ttlkv_buf,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_take", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let key = try_input!(key, key_len, "key");
        try_out!(out, "out");
        ttlkv_buf::give(out, try_core!(store.take(ns, key)))
    })
}

/// `ttlkv_get()` that also gives the entry's version: on TTLKV_OK, `*out` holds the value and
/// `*version` a number (never 0, never repeated for the key) that changes with every write of
/// the value (put, add, incr, put_if_version; not touch). Pass it to `ttlkv_put_if_version()`.
///
/// Returns the statuses of `ttlkv_get()` (`version` NULL is TTLKV_INVALID_ARGUMENT).
#[no_mangle]
pub unsafe extern "C" fn ttlkv_get_versioned(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    key: *const u8,
    key_len: usize,
    out: *mut ttlkv_buf,
    version: *mut u64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_get_versioned", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let key = try_input!(key, key_len, "key");
        try_out!(out, "out");
        try_out!(version, "version");
        let found = try_core!(store.get_versioned(ns, key)).map(|(v, ver)| {
            *version = ver;
            v
        });
        ttlkv_buf::give(out, found)
    })
}

/// Compare-and-set: writes `key` only if its live entry has version `expected` (from
/// `ttlkv_get_versioned()`), or, with TTLKV_VERSION_ABSENT, only if it has no live entry. On
/// TTLKV_OK, `*new_version` is the written entry's version.
///
/// Returns TTLKV_OK; TTLKV_CONFLICT (another version, or none where one was expected: nothing
/// written); the errors of `ttlkv_put()` (`new_version` NULL is TTLKV_INVALID_ARGUMENT).
#[no_mangle]
pub unsafe extern "C" fn ttlkv_put_if_version(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    ttl_ms: u64,
    expected: u64,
    new_version: *mut u64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_put_if_version", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let key = try_input!(key, key_len, "key");
        let value = try_input!(value, value_len, "value");
        try_out!(new_version, "new_version");
        let expected = (expected != TTLKV_VERSION_ABSENT).then_some(expected);
        match try_core!(store.put_if_version_ms(ns, key, value, ttl_ms, expected)) {
            Some(v) => {
                *new_version = v;
                TTLKV_OK
            }
            None => TTLKV_CONFLICT,
        }
    })
}

/// Looks up `n` keys of `ns` in one snapshot. On TTLKV_OK, `*out` is a list of `n` items in
/// the order of `keys`: `ttlkv_key_list_get()` gives the key, `ttlkv_key_list_value()` its
/// value or TTLKV_NOT_FOUND for a key without a live entry. Release it with
/// `ttlkv_key_list_free()`.
///
/// Returns TTLKV_OK; TTLKV_BATCH_TOO_LARGE (more than TTLKV_MAX_KEYS_PER_CALL keys);
/// the errors of `ttlkv_get()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_get_many(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    keys: *const ttlkv_slice,
    n: usize,
    out: *mut *mut ttlkv_key_list,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_get_many", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        try_out!(out, "out");
        let keys = match key_slices(keys, n) {
            Ok(k) => k,
            Err(st) => return st,
        };
        let values = try_core!(store.get_many(ns, &keys));
        let items = keys.iter().zip(values).map(|(k, v)| (k.to_vec(), v)).collect();
        *out = ttlkv_key_list::to_mut_ptr(KeyList::Found(items));
        TTLKV_OK
    })
}

/// `ttlkv_get_many_into()`: the length reported for a key without a live entry.
pub const TTLKV_LEN_NOT_FOUND: u64 = u64::MAX;

/// `ttlkv_get_many()` into the caller's memory, without allocating: the values of the `n`
/// keys, from one snapshot, one after another in `buf` (`cap` bytes), in the order of `keys`.
/// On TTLKV_OK, `lens[i]` (an array of `n`) is the length of key `i`'s value, or
/// TTLKV_LEN_NOT_FOUND for a key without a live entry, and `*needed` the bytes used. On
/// TTLKV_BUFFER_TOO_SMALL only `*needed` is written: the bytes the values need (call again
/// with that much; the values may have changed meanwhile).
///
/// Returns TTLKV_OK; TTLKV_BUFFER_TOO_SMALL; TTLKV_BATCH_TOO_LARGE; TTLKV_INVALID_ARGUMENT
/// (`lens` or `needed` NULL, `buf` NULL with a non-zero `cap`); the errors of `ttlkv_get()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_get_many_into(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    keys: *const ttlkv_slice,
    n: usize,
    buf: *mut u8,
    cap: usize,
    lens: *mut u64,
    needed: *mut usize,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_get_many_into", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        try_out!(needed, "needed");
        if n > 0 {
            try_out!(lens, "lens");
        }
        if buf.is_null() && cap != 0 {
            return invalid(format_args!("buf is NULL with cap {cap}"));
        }
        let keys = match key_slices(keys, n) {
            Ok(k) => k,
            Err(st) => return st,
        };
        // Lengths go to a scratch list first: the caller's are written only on TTLKV_OK.
        let mut found: Vec<u64> = Vec::with_capacity(n);
        let mut used = 0usize;
        try_core!(store.get_many_with(ns, &keys, |_, v| match v {
            Some(v) => {
                if used + v.len() <= cap {
                    // SAFETY: buf holds cap bytes (checked non-NULL when cap > 0).
                    std::ptr::copy_nonoverlapping(v.as_ptr(), buf.add(used), v.len());
                }
                used += v.len();
                found.push(v.len() as u64);
            }
            None => found.push(TTLKV_LEN_NOT_FOUND),
        }));
        *needed = used;
        if used > cap {
            return TTLKV_BUFFER_TOO_SMALL;
        }
        if n > 0 {
            std::ptr::copy_nonoverlapping(found.as_ptr(), lens, n);
        }
        TTLKV_OK
    })
}

/// Removes `n` keys of `ns` in one transaction; on TTLKV_OK `*removed` is how many live
/// entries went.
///
/// Returns TTLKV_OK; TTLKV_BATCH_TOO_LARGE; the errors of `ttlkv_delete()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_delete_many(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    keys: *const ttlkv_slice,
    n: usize,
    removed: *mut u64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_delete_many", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        try_out!(removed, "removed");
        let keys = match key_slices(keys, n) {
            Ok(k) => k,
            Err(st) => return st,
        };
        *removed = try_core!(store.delete_many(ns, &keys));
        TTLKV_OK
    })
}

/// Removes every entry of `ns`, in bounded transactions (readers and writers go on between
/// them); on TTLKV_OK `*removed` is how many live entries went.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT; TTLKV_NAMESPACE_INVALID; TTLKV_CLOSED; TTLKV_IO;
/// TTLKV_NO_SPACE; TTLKV_CORRUPTED; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_clear(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    removed: *mut u64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_clear", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        try_out!(removed, "removed");
        *removed = try_core!(store.clear(ns));
        TTLKV_OK
    })
}

/// The number of live entries of `ns` (one snapshot; reads every entry of the namespace).
///
/// Returns the statuses of `ttlkv_keys()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_count(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    out: *mut u64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_count", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        try_out!(out, "out");
        *out = try_core!(store.count(ns));
        TTLKV_OK
    })
}

/// Every namespace with a live entry, in byte order; on TTLKV_OK `*out` is a list of names
/// (read with `ttlkv_key_list_get()`).
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT; TTLKV_CLOSED; TTLKV_CORRUPTED;
/// TTLKV_READERS_FULL; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_namespaces(
    s: *mut ttlkv_store,
    out: *mut *mut ttlkv_key_list,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_namespaces", {
        let store = try_handle!(s, "store");
        try_out!(out, "out");
        *out = ttlkv_key_list::to_mut_ptr(KeyList::Keys(try_core!(store.namespaces())));
        TTLKV_OK
    })
}

/// One page of the live entries of `ns` whose keys start with `prefix`, in key order: at most
/// `limit` (1 to TTLKV_MAX_KEYS_PER_CALL) of them, from one snapshot. The first page has
/// `after` NULL; the next passes the last key of the previous page as `after` (entries
/// strictly after it). Unlike other arguments, `after` NULL means "no cursor", and a non-NULL
/// pointer with length 0 the empty key. A page shorter than `limit` is the last. On TTLKV_OK,
/// `*out` is a list of keys and values.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`limit` out of range); the errors of
/// `ttlkv_entries()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_scan(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    prefix: *const u8,
    prefix_len: usize,
    after: *const u8,
    after_len: usize,
    limit: usize,
    out: *mut *mut ttlkv_key_list,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_scan", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let prefix = try_input!(prefix, prefix_len, "prefix");
        let after = if after.is_null() {
            if after_len != 0 {
                return invalid(format_args!("after is NULL with length {after_len}"));
            }
            None
        } else {
            Some(std::slice::from_raw_parts(after, after_len))
        };
        try_out!(out, "out");
        let page = try_core!(store.scan(ns, prefix, after, limit));
        *out = ttlkv_key_list::to_mut_ptr(KeyList::Entries(page));
        TTLKV_OK
    })
}

/// Bounds the bytes of the store's B-tree (TTLKV_STAT_TREE_BYTES) at `max_bytes` (0: no
/// bound; else at least TTLKV_MIN_MAX_BYTES), for every process using the store: the bound is
/// kept in the store. `eviction` is TTLKV_EVICTION_SOONEST_DEADLINE (a write that would pass
/// the bound first evicts entries, soonest deadline first, never one the write itself makes)
/// or TTLKV_EVICTION_NONE (such a write fails with TTLKV_FULL).
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (bound or eviction out of range); TTLKV_CLOSED;
/// the storage errors of `ttlkv_put()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_set_max_bytes(
    s: *mut ttlkv_store,
    max_bytes: u64,
    eviction: u32,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_set_max_bytes", {
        let store = try_handle!(s, "store");
        let eviction = match eviction {
            TTLKV_EVICTION_SOONEST_DEADLINE => Eviction::SoonestDeadline,
            TTLKV_EVICTION_NONE => Eviction::None,
            e => return invalid(format_args!("{e} is not a TTLKV_EVICTION_* constant")),
        };
        try_core!(store.set_max_bytes((max_bytes > 0).then_some(max_bytes), eviction));
        TTLKV_OK
    })
}

/// The store's size bound: on TTLKV_OK, `*max_bytes` (0: none) and `*eviction` (a
/// TTLKV_EVICTION_* constant).
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT; TTLKV_CLOSED; TTLKV_CORRUPTED; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_max_bytes(
    s: *mut ttlkv_store,
    max_bytes: *mut u64,
    eviction: *mut u32,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_max_bytes", {
        let store = try_handle!(s, "store");
        try_out!(max_bytes, "max_bytes");
        try_out!(eviction, "eviction");
        let (bound, e) = try_core!(store.max_bytes());
        *max_bytes = bound.unwrap_or(0);
        *eviction = match e {
            Eviction::SoonestDeadline => TTLKV_EVICTION_SOONEST_DEADLINE,
            Eviction::None => TTLKV_EVICTION_NONE,
        };
        TTLKV_OK
    })
}

/// Where the damaged store went when the open that made this process's environment of the
/// directory reset it (TTLKV_ON_CORRUPTION_RESET; every handle on that environment reports
/// the same): on TTLKV_OK, `*out` holds the path (UTF-8 where the file
/// system's name is, not NUL-terminated), to release with `ttlkv_buf_free()`.
///
/// Returns TTLKV_OK; TTLKV_NOT_FOUND (the open reset nothing); TTLKV_INVALID_ARGUMENT;
/// TTLKV_CLOSED; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_corruption_reset(s: *mut ttlkv_store, out: *mut ttlkv_buf) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_corruption_reset", {
        let store = try_handle!(s, "store");
        try_out!(out, "out");
        let path = try_core!(store.corruption_reset());
        ttlkv_buf::give(out, path.map(|p| p.into_os_string().into_encoded_bytes()))
    })
}

/// Copies the store into the directory `dest` (NUL-terminated UTF-8; created with mode 0700
/// when absent, else it must be empty) from one snapshot while readers and writers go on. The
/// copy opens as a store with every entry, deadline and setting, and a store id (so an
/// origin, see `ttlkv_origin()`) of its own. With TTLKV_BACKUP_COMPACT in
/// `flags` free pages are left out, so the copy is only as large as the data — the way to
/// shrink a store's file.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`dest` NULL, unknown flags); TTLKV_PATH_INVALID
/// (not UTF-8, a file, or a directory that is not empty); TTLKV_PERMISSION; TTLKV_NO_SPACE;
/// TTLKV_IO; TTLKV_CLOSED; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_backup(s: *mut ttlkv_store, dest: *const c_char, flags: u32) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_backup", {
        let store = try_handle!(s, "store");
        if dest.is_null() {
            return invalid(format_args!("dest is NULL"));
        }
        if flags & !TTLKV_BACKUP_COMPACT != 0 {
            return invalid(format_args!(
                "flags {flags:#x} has bits other than TTLKV_BACKUP_COMPACT"
            ));
        }
        let dest = match CStr::from_ptr(dest).to_str() {
            Ok(p) => p,
            Err(e) => return fail(TTLKV_PATH_INVALID, format_args!("the path is not UTF-8: {e}")),
        };
        try_core!(store.backup(dest, flags & TTLKV_BACKUP_COMPACT != 0));
        TTLKV_OK
    })
}
