//! The store handle: open, close, free, and every operation on entries.

use std::ffi::{c_char, CStr};

use super::cast::{try_ref, BoxCastPtr, Castable, OwnershipBox};
use super::key_list::{ttlkv_key_list, KeyList};
use super::status::ttlkv_status::{self, *};
use super::status::{fail, invalid};
use crate::{Stats, Store, MAX_BATCH_RECORDS};
use std::sync::OnceLock;

/// An open store: a handle on one store directory. Opaque.
///
/// Made by `ttlkv_open()`, released by `ttlkv_free()`. Every function taking a
/// `ttlkv_store *` may be called from any thread at the same time as any other, on the same
/// handle or on different ones, except `ttlkv_free()`, which must be the last call on the
/// handle (no call on it may be running or follow). Handles opened on the same directory in
/// one process share one environment (LMDB allows only one per process), whatever path names
/// the directory (a renamed or bind-mounted one included); closing one leaves the others
/// working. Several processes may open the same directory at once, each with its own options.
/// After fork(), a handle of the parent is closed in the child: every call on it returns
/// TTLKV_CLOSED (`ttlkv_free()` on it releases only memory); the child opens its own.
pub struct ttlkv_store {
    _private: [u8; 0],
}

impl Castable for ttlkv_store {
    type Ownership = OwnershipBox;
    type RustType = Store;
}

/// A value returned by `ttlkv_get()`: `len` bytes at `data`, owned by the caller until it
/// passes the buffer to `ttlkv_buf_free()` (with `data` and `len` unchanged). `data` is never
/// NULL in a buffer filled by `ttlkv_get()`, even when `len` is 0.
#[repr(C)]
pub struct ttlkv_buf {
    /// The bytes.
    pub data: *mut u8,
    /// How many bytes.
    pub len: usize,
}

impl ttlkv_buf {
    pub(crate) fn from_vec(v: Vec<u8>) -> ttlkv_buf {
        // `to_vec` made the vector with capacity == length, so this does not reallocate.
        let boxed = v.into_boxed_slice();
        let len = boxed.len();
        ttlkv_buf {
            data: Box::into_raw(boxed).cast(),
            len,
        }
    }

    /// Hands a found value to the caller's `out`: TTLKV_OK, or TTLKV_NOT_FOUND with `out`
    /// untouched.
    ///
    /// SAFETY: `out` is a valid, non-NULL output pointer.
    pub(crate) unsafe fn give(out: *mut ttlkv_buf, value: Option<Vec<u8>>) -> ttlkv_status {
        match value {
            Some(v) => {
                *out = ttlkv_buf::from_vec(v);
                TTLKV_OK
            }
            None => TTLKV_NOT_FOUND,
        }
    }
}

/// One record of `ttlkv_put_many()`: a namespace, a key, a value (each a pointer and a length,
/// with the same rules as the arguments of `ttlkv_put()`) and a TTL in milliseconds.
#[repr(C)]
pub struct ttlkv_record {
    /// The namespace (1 to 255 bytes).
    pub ns: *const u8,
    /// Its length.
    pub ns_len: usize,
    /// The key (any bytes; NULL with length 0 is the empty key).
    pub key: *const u8,
    /// Its length.
    pub key_len: usize,
    /// The value (NULL with length 0 is the empty value).
    pub value: *const u8,
    /// Its length.
    pub value_len: usize,
    /// Time to live in milliseconds (not 0); TTLKV_TTL_NEVER for never.
    pub ttl_ms: u64,
}

/// Opens the store in directory `path` (a NUL-terminated UTF-8 string), creating the
/// directory (mode 0700) and the store (files mode 0600) when absent. `opts` may be NULL for
/// the defaults; it is only read, and may be freed as soon as this returns. Entries that
/// expired while the store was closed are removed by a background thread soon after.
/// The first open of a directory in a process decides its options; later opens of the same
/// directory share its environment and ignore theirs.
///
/// On TTLKV_OK, `*out` is a new handle to release with `ttlkv_free()`.
/// An existing directory must belong to the calling user and be writable by no one else, and
/// `data.mdb` and `lock.mdb`, where present, must be regular files of that user with one link
/// each: anything else is refused untouched (see `ttlkv_options_set_allow_shared_dir()`).
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`path` or `out` NULL, or the options do not
/// agree, e.g. map size above max map size); TTLKV_PATH_INVALID (not UTF-8, empty, a file,
/// or a store file that is a link or not a regular file); TTLKV_INCOMPATIBLE;
/// TTLKV_CORRUPTED; TTLKV_PERMISSION (including a directory other users could tamper with);
/// TTLKV_NO_SPACE; TTLKV_IO; TTLKV_READERS_FULL; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_open(
    path: *const c_char,
    opts: *const super::options::ttlkv_options,
    out: *mut *mut ttlkv_store,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_open", {
        if path.is_null() {
            return invalid(format_args!("path is NULL"));
        }
        try_out!(out, "out");
        let path = match CStr::from_ptr(path).to_str() {
            Ok(p) => p,
            Err(e) => return fail(TTLKV_PATH_INVALID, format_args!("the path is not UTF-8: {e}")),
        };
        let options = match try_ref(opts) {
            Some(b) => try_core!(b.build()),
            None => crate::Options::default(),
        };
        let store = try_core!(Store::open(path, options));
        *out = ttlkv_store::to_mut_ptr(store);
        TTLKV_OK
    })
}

/// Closes the handle. Idempotent: closing a closed handle returns TTLKV_OK again. Waits for
/// calls in flight on this handle to finish; afterwards every call on the handle except
/// `ttlkv_close()` and `ttlkv_free()` returns TTLKV_CLOSED. The environment (and its expiry
/// thread) closes with the last handle on it in this process. The handle itself stays
/// allocated until `ttlkv_free()`.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`s` NULL); TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_close(s: *mut ttlkv_store) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_close", {
        let store = try_handle!(s, "store");
        store.close();
        TTLKV_OK
    })
}

/// Releases the handle, closing it first if needed. NULL is allowed (nothing happens).
/// Must be the last call on the handle, and must not be called twice.
///
/// Never blocks for long, so it is safe in a destructor of a garbage-collected runtime: when
/// the handle is still open, closing it (which may wait for a commit and for the expiry
/// thread to stop) happens on a background thread of ttlkv, and the environment may stay
/// open for a few milliseconds after this returns. Call `ttlkv_close()` first when the store
/// must be closed when the call returns (before reopening it with other options, say).
#[no_mangle]
pub unsafe extern "C" fn ttlkv_free(s: *mut ttlkv_store) {
    ffi_panic_boundary!("ttlkv_free", {
        if let Some(store) = ttlkv_store::to_box(s) {
            super::closer::release(*store);
        }
    })
}

/// Inserts or overwrites `key` in namespace `ns`: the value and the deadline (now + `ttl_ms`
/// milliseconds, or never for TTLKV_TTL_NEVER) both replace the old ones. In
/// TTLKV_DURABILITY_SYNC mode the entry is on disk when this returns.
///
/// Inputs are `(pointer, length)` pairs borrowed for the call only; NULL with length 0 is the
/// empty string (an empty key or value is allowed; an empty namespace is not).
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`s` NULL, or a NULL pointer with a non-zero
/// length); TTLKV_NAMESPACE_INVALID; TTLKV_KEY_TOO_LONG; TTLKV_VALUE_TOO_LARGE;
/// TTLKV_TTL_INVALID (`ttl_ms` 0); TTLKV_CLOSED; TTLKV_FULL; TTLKV_NO_SPACE; TTLKV_IO;
/// TTLKV_PERMISSION; TTLKV_CORRUPTED; TTLKV_READERS_FULL; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_put(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    ttl_ms: u64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_put", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let key = try_input!(key, key_len, "key");
        let value = try_input!(value, value_len, "value");
        try_core!(store.put_ms(ns, key, value, ttl_ms));
        TTLKV_OK
    })
}

/// Writes `count` records in one transaction: all of them or none. At most
/// TTLKV_MAX_BATCH_RECORDS records and TTLKV_MAX_BATCH_BYTES bytes of keys and values.
/// `records` NULL with `count` 0 is an empty batch (TTLKV_OK, nothing written). When one
/// record is wrong, nothing is written and the detail names the record's index.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`s` NULL, `records` NULL with `count` > 0, or a
/// record with a NULL pointer and a non-zero length); TTLKV_BATCH_TOO_LARGE; and every status
/// of `ttlkv_put()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_put_many(
    s: *mut ttlkv_store,
    records: *const ttlkv_record,
    count: usize,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_put_many", {
        let store = try_handle!(s, "store");
        if count > MAX_BATCH_RECORDS {
            if store.is_closed() {
                return fail(TTLKV_CLOSED, format_args!("the store handle was closed"));
            }
            return fail(
                TTLKV_BATCH_TOO_LARGE,
                format_args!("a batch of {count} records is over the limit of {MAX_BATCH_RECORDS}"),
            );
        }
        let records: &[ttlkv_record] = if count == 0 {
            &[]
        } else if records.is_null() {
            return invalid(format_args!("records is NULL with count {count}"));
        } else {
            // `count` is at most MAX_BATCH_RECORDS, so the slice's size is far below isize::MAX.
            std::slice::from_raw_parts(records, count)
        };
        let mut ops = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let (Some(ns), Some(key), Some(value)) = (
                super::cast::input(r.ns, r.ns_len),
                super::cast::input(r.key, r.key_len),
                super::cast::input(r.value, r.value_len),
            ) else {
                return invalid(format_args!(
                    "record {i}: a NULL pointer with a non-zero length (NULL is allowed only with length 0)"
                ));
            };
            ops.push((ns, key, value, r.ttl_ms));
        }
        try_core!(store.put_many_ms(&ops));
        TTLKV_OK
    })
}

/// Looks up `key` in namespace `ns`. On TTLKV_OK, `*out` holds a copy of the value, which
/// the caller releases with `ttlkv_buf_free()`. An entry whose deadline has passed is not
/// found, whether or not the background thread has removed it yet. `*out` is written only on
/// TTLKV_OK.
///
/// Returns TTLKV_OK; TTLKV_NOT_FOUND; TTLKV_INVALID_ARGUMENT (`s` or `out` NULL, or a NULL
/// pointer with a non-zero length); TTLKV_NAMESPACE_INVALID; TTLKV_KEY_TOO_LONG;
/// TTLKV_CLOSED; TTLKV_CORRUPTED; TTLKV_READERS_FULL; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_get(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    key: *const u8,
    key_len: usize,
    out: *mut ttlkv_buf,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_get", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let key = try_input!(key, key_len, "key");
        try_out!(out, "out");
        ttlkv_buf::give(out, try_core!(store.get(ns, key)))
    })
}

/// Looks up `key` in namespace `ns` and copies the value into the caller's buffer `buf` of
/// `cap` bytes, without allocating. On TTLKV_OK, `*len` is the value's length and the first
/// `*len` bytes of `buf` hold it. On TTLKV_BUFFER_TOO_SMALL, `*len` is the length needed and
/// `buf` is unchanged: call again with a buffer that large (the value may have changed in
/// between). `buf` may be NULL when `cap` is 0, which asks for the length only.
///
/// Returns TTLKV_OK; TTLKV_NOT_FOUND; TTLKV_BUFFER_TOO_SMALL; TTLKV_INVALID_ARGUMENT (`s` or
/// `len` NULL, `buf` NULL with `cap` > 0, or a NULL pointer with a non-zero length);
/// TTLKV_NAMESPACE_INVALID; TTLKV_KEY_TOO_LONG; TTLKV_CLOSED; TTLKV_CORRUPTED;
/// TTLKV_READERS_FULL; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_get_into(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_get_into", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let key = try_input!(key, key_len, "key");
        try_out!(len, "len");
        if buf.is_null() && cap > 0 {
            return invalid(format_args!(
                "buf is NULL with cap {cap} (NULL is allowed only with cap 0)"
            ));
        }
        let copied = store.get_with(ns, key, |v| {
            if v.len() > cap {
                return Err(v.len());
            }
            if !v.is_empty() {
                // SAFETY: `buf` holds `cap` >= v.len() writable bytes (the caller's contract);
                // the store's pages never overlap the caller's buffer.
                std::ptr::copy_nonoverlapping(v.as_ptr(), buf, v.len());
            }
            Ok(v.len())
        });
        match try_core!(copied) {
            Some(Ok(n)) => {
                *len = n;
                TTLKV_OK
            }
            Some(Err(needed)) => {
                *len = needed;
                fail(
                    TTLKV_BUFFER_TOO_SMALL,
                    format_args!("the value is {needed} bytes; the buffer holds {cap}"),
                )
            }
            None => TTLKV_NOT_FOUND,
        }
    })
}

/// Releases a value returned by `ttlkv_get()` and resets `*buf` to `{NULL, 0}`. NULL, and a
/// buffer whose `data` is NULL, are allowed (nothing happens), so calling it again on the
/// same reset buffer is harmless.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_buf_free(buf: *mut ttlkv_buf) {
    ffi_panic_boundary!("ttlkv_buf_free", {
        if let Some(b) = buf.as_mut() {
            if !b.data.is_null() {
                // SAFETY: `data`/`len` came from `ttlkv_buf::from_vec` (the caller's contract).
                drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(b.data, b.len)));
            }
            b.data = std::ptr::null_mut();
            b.len = 0;
        }
    })
}

/// Removes `key` from namespace `ns`.
///
/// Returns TTLKV_OK when a live entry was removed; TTLKV_NOT_FOUND when there was none (an
/// expired entry still stored is removed too, and reported as TTLKV_NOT_FOUND);
/// TTLKV_INVALID_ARGUMENT (`s` NULL, or a NULL pointer with a non-zero length);
/// TTLKV_NAMESPACE_INVALID; TTLKV_KEY_TOO_LONG; TTLKV_CLOSED; TTLKV_FULL; TTLKV_NO_SPACE;
/// TTLKV_IO; TTLKV_PERMISSION; TTLKV_CORRUPTED; TTLKV_READERS_FULL; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_delete(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    key: *const u8,
    key_len: usize,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_delete", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let key = try_input!(key, key_len, "key");
        if try_core!(store.delete(ns, key)) {
            TTLKV_OK
        } else {
            TTLKV_NOT_FOUND
        }
    })
}

/// The deadline of a live entry, in milliseconds since the Unix epoch (wall clock), or
/// TTLKV_DEADLINE_NEVER for an entry that never expires. `*deadline_ms` is written only on
/// TTLKV_OK.
///
/// Returns TTLKV_OK; TTLKV_NOT_FOUND; TTLKV_INVALID_ARGUMENT (`s` or `deadline_ms` NULL, or
/// a NULL pointer with a non-zero length); TTLKV_NAMESPACE_INVALID; TTLKV_KEY_TOO_LONG;
/// TTLKV_CLOSED; TTLKV_CORRUPTED; TTLKV_READERS_FULL; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_deadline(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    key: *const u8,
    key_len: usize,
    deadline_ms: *mut u64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_deadline", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        let key = try_input!(key, key_len, "key");
        try_out!(deadline_ms, "deadline_ms");
        match try_core!(store.deadline(ns, key)) {
            Some(d) => {
                *deadline_ms = d;
                TTLKV_OK
            }
            None => TTLKV_NOT_FOUND,
        }
    })
}

/// Every live key of namespace `ns`, in key order (bytewise), without the namespace. On
/// TTLKV_OK, `*out` is a new list (possibly empty) to release with `ttlkv_key_list_free()`.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`s` or `out` NULL, or `ns` NULL with a non-zero
/// length); TTLKV_NAMESPACE_INVALID; TTLKV_CLOSED; TTLKV_CORRUPTED; TTLKV_READERS_FULL;
/// TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_keys(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    out: *mut *mut ttlkv_key_list,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_keys", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        try_out!(out, "out");
        let keys = try_core!(store.keys(ns));
        *out = ttlkv_key_list::to_mut_ptr(KeyList::Keys(keys));
        TTLKV_OK
    })
}

/// Every live key of namespace `ns` and its value, in key order, from one consistent
/// snapshot. On TTLKV_OK, `*out` is a new list to release with `ttlkv_key_list_free()`; read
/// keys with `ttlkv_key_list_get()` and values with `ttlkv_key_list_value()`.
///
/// Returns the same statuses as `ttlkv_keys()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_entries(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    out: *mut *mut ttlkv_key_list,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_entries", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        try_out!(out, "out");
        let entries = try_core!(store.entries(ns));
        *out = ttlkv_key_list::to_mut_ptr(KeyList::Entries(entries));
        TTLKV_OK
    })
}

/// Removes every entry whose deadline has passed now, in bounded transactions, without
/// waiting for the background expiry thread (which does the same on its own). On TTLKV_OK,
/// `*removed` is how many entries this call removed.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`s` or `removed` NULL); TTLKV_CLOSED;
/// TTLKV_FULL; TTLKV_NO_SPACE; TTLKV_IO; TTLKV_PERMISSION; TTLKV_CORRUPTED;
/// TTLKV_READERS_FULL; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_purge_expired(s: *mut ttlkv_store, removed: *mut u64) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_purge_expired", {
        let store = try_handle!(s, "store");
        try_out!(removed, "removed");
        *removed = try_core!(store.purge_expired());
        TTLKV_OK
    })
}

/// Checks, in one snapshot, that the entries and the deadline index agree. On TTLKV_OK,
/// `*problems` is the number of problems found (0 when the store is consistent; at most 100
/// are counted). When it is not 0, `ttlkv_last_error()` describes the first ones (one per
/// line), although the call returned TTLKV_OK.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`s` or `problems` NULL); TTLKV_CLOSED;
/// TTLKV_READERS_FULL; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_verify(s: *mut ttlkv_store, problems: *mut u64) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_verify", {
        let store = try_handle!(s, "store");
        try_out!(problems, "problems");
        let report = try_core!(store.verify());
        if !report.is_ok() {
            const SHOWN: usize = 10;
            let more = report.problems.len().saturating_sub(SHOWN);
            let mut text = format!(
                "{} problem(s) in {} entries and {} index records:",
                report.problems.len(),
                report.entries,
                report.index_records
            );
            for p in report.problems.iter().take(SHOWN) {
                text.push('\n');
                text.push_str(p);
            }
            if more > 0 {
                text.push_str(&format!("\n... and {more} more"));
            }
            fail(TTLKV_CORRUPTED, format_args!("{text}"));
        }
        *problems = report.problems.len() as u64;
        TTLKV_OK
    })
}

/// Flushes committed data to disk now (useful in TTLKV_DURABILITY_PERIODIC mode before a
/// planned stop; a no-op cost in TTLKV_DURABILITY_SYNC mode).
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`s` NULL); TTLKV_CLOSED; TTLKV_IO;
/// TTLKV_NO_SPACE; TTLKV_PERMISSION; TTLKV_STORAGE; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_flush(s: *mut ttlkv_store) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_flush", {
        let store = try_handle!(s, "store");
        try_core!(store.flush());
        TTLKV_OK
    })
}

/// The former name of `ttlkv_flush()`, kept so that programs built against ABI 1.0 still
/// link; it does exactly what `ttlkv_flush()` does. New code calls `ttlkv_flush()`: "sync"
/// names a durability mode (TTLKV_DURABILITY_SYNC), not this flush.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_sync(s: *mut ttlkv_store) -> ttlkv_status {
    ttlkv_flush(s)
}

/// The longest key namespace `ns` takes, in bytes (it depends on the namespace's length and
/// on LMDB's key size limit; about 490 bytes for a short namespace). On TTLKV_OK, `*out`
/// holds it.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`s` or `out` NULL, or `ns` NULL with a non-zero
/// length); TTLKV_NAMESPACE_INVALID; TTLKV_CLOSED; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_max_key_len(
    s: *mut ttlkv_store,
    ns: *const u8,
    ns_len: usize,
    out: *mut usize,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_max_key_len", {
        let store = try_handle!(s, "store");
        let ns = try_input!(ns, ns_len, "ns");
        try_out!(out, "out");
        *out = try_core!(store.max_key_len(ns));
        TTLKV_OK
    })
}

/// Reads one counter of the store's background work (see the TTLKV_STAT_* constants, and
/// `ttlkv_stat_name()` for each one's name). The counters are those of this process's
/// environment, shared by its handles on the directory. A getter by number rather than a
/// struct, so that new counters never change the ABI.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`s` or `out` NULL, or `which` is not a
/// TTLKV_STAT_* constant); TTLKV_CLOSED; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_stat(s: *mut ttlkv_store, which: u32, out: *mut u64) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_stat", {
        let store = try_handle!(s, "store");
        try_out!(out, "out");
        let Some((_, read)) = Stats::COUNTERS.get(which as usize) else {
            return invalid(format_args!("{which} is not a TTLKV_STAT_* constant"));
        };
        *out = read(&try_core!(store.stats()));
        TTLKV_OK
    })
}

/// The name of counter `which` ("expired_removed", "expiry_batches", ..., the words the
/// bindings' `stats()` use), or NULL when `which` is not a TTLKV_STAT_* constant: counting up
/// from 0 until NULL lists every counter this library has. Static text, never freed.
#[no_mangle]
pub extern "C" fn ttlkv_stat_name(which: u32) -> *const c_char {
    ffi_panic_boundary!("ttlkv_stat_name", {
        static NAMES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        let names = NAMES.get_or_init(|| {
            Stats::COUNTERS
                .iter()
                .map(|(n, _)| format!("{n}\0").into_bytes())
                .collect()
        });
        match names.get(which as usize) {
            Some(n) => n.as_ptr().cast(),
            None => std::ptr::null(),
        }
    })
}
