//! Replication on a store handle: the origin, the replicating switch, records with their
//! order, merge, and the digests of anti-entropy. Each converts its C arguments and calls the
//! one `Store` method of the same name (`store/replica.rs` explains the order and the
//! protocol).

use super::cast::{try_ref, BoxCastPtr, Castable, OwnershipBox};
use super::status::ttlkv_status::{self, *};
use super::status::{fail, invalid};
use super::store::ttlkv_store;
use crate::{ReplicaRecord, MAX_BATCH_RECORDS};

/// `ttlkv_replica_record.flags`: the record is a tombstone (a delete on a replicating store; it reads
/// as absent everywhere, and its value is empty).
pub const TTLKV_REPLICA_TOMBSTONE: u32 = 1;

/// The most buckets `ttlkv_digest()` takes.
pub const TTLKV_MAX_DIGEST_BUCKETS: u32 = 65536;
const _: () = assert!(TTLKV_MAX_DIGEST_BUCKETS == crate::MAX_DIGEST_BUCKETS);

/// One record with its order: an entry or a tombstone as `ttlkv_records()` and
/// `ttlkv_versions()` give it and `ttlkv_merge()` takes it. Byte strings follow the rules of
/// every byte-string argument (NULL with length 0 is empty). In a list, the pointers are owned
/// by the list.
#[repr(C)]
pub struct ttlkv_replica_record {
    /// The namespace.
    pub ns: *const u8,
    /// Its length.
    pub ns_len: usize,
    /// The key.
    pub key: *const u8,
    /// Its length.
    pub key_len: usize,
    /// The value (empty for a tombstone, and in the lists of `ttlkv_versions()`).
    pub value: *const u8,
    /// Its length.
    pub value_len: usize,
    /// The deadline, ms since the Unix epoch (TTLKV_DEADLINE_NEVER for never).
    pub deadline: u64,
    /// The version (a hybrid logical clock: wall-clock ms in the high bits).
    pub version: u64,
    /// The store that wrote it (its `ttlkv_origin()`).
    pub origin: u64,
    /// TTLKV_REPLICA_TOMBSTONE or 0.
    pub flags: u32,
}

/// A list of records from `ttlkv_records()` or `ttlkv_versions()`. Opaque and immutable;
/// released with `ttlkv_replica_list_free()`, and every pointer read from it stays valid until
/// then.
pub struct ttlkv_replica_list {
    _private: [u8; 0],
}

impl Castable for ttlkv_replica_list {
    type Ownership = OwnershipBox;
    type RustType = Vec<ReplicaRecord>;
}

/// This store's origin: the tie-break between records of the same version from two stores
/// (the first 8 bytes of its id, big-endian).
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`s` or `out` NULL); TTLKV_CLOSED; TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_origin(s: *mut ttlkv_store, out: *mut u64) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_origin", {
        let store = try_handle!(s, "store");
        try_out!(out, "out");
        *out = try_core!(store.origin());
        TTLKV_OK
    })
}

/// Makes the store replicating (`enabled` non-zero) or not, for every process, persistently:
/// a delete (also `ttlkv_take()`, `ttlkv_delete_many()`) then leaves a tombstone that reads
/// as absent everywhere and expires only after every write it must beat (its version's time
/// plus the largest TTL its namespace was written with plus a minute; a namespace written
/// with TTLKV_TTL_NEVER keeps its tombstones forever), and a touch takes a new version.
///
/// Returns TTLKV_OK; the errors of `ttlkv_put()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_set_replicated(s: *mut ttlkv_store, enabled: i32) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_set_replicated", {
        let store = try_handle!(s, "store");
        try_core!(store.set_replicated(enabled != 0));
        TTLKV_OK
    })
}

/// Whether the store replicates: `*out` is 1 or 0.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`s` or `out` NULL); the errors of `ttlkv_get()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_replicated(s: *mut ttlkv_store, out: *mut i32) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_replicated", {
        let store = try_handle!(s, "store");
        try_out!(out, "out");
        *out = i32::from(try_core!(store.replicated()));
        TTLKV_OK
    })
}

/// The stored, unexpired record (entry or tombstone) of each of the `n` keys (each
/// `keys[i].ns` and `.key`; the other fields are ignored), from one snapshot, in the order
/// asked; keys without one are left out. On TTLKV_OK, `*out` is a list to release with
/// `ttlkv_replica_list_free()`.
///
/// Returns TTLKV_OK; TTLKV_BATCH_TOO_LARGE (more than TTLKV_MAX_KEYS_PER_CALL keys);
/// TTLKV_INVALID_ARGUMENT (`out` NULL, `keys` NULL with `n` > 0); the errors of `ttlkv_get()`
/// for each key (TTLKV_NAMESPACE_INVALID, TTLKV_KEY_TOO_LONG, ...).
#[no_mangle]
pub unsafe extern "C" fn ttlkv_records(
    s: *mut ttlkv_store,
    keys: *const ttlkv_replica_record,
    n: usize,
    out: *mut *mut ttlkv_replica_list,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_records", {
        let store = try_handle!(s, "store");
        try_out!(out, "out");
        let items = match records_in(keys, n) {
            Ok(r) => r,
            Err(st) => return st,
        };
        let pairs: Vec<(&[u8], &[u8])> = items.iter().map(|r| (r.0, r.1)).collect();
        let found = try_core!(store.records(&pairs));
        *out = ttlkv_replica_list::to_mut_ptr(found);
        TTLKV_OK
    })
}

/// Merges `n` records of other stores in one transaction: each is written unless the stored
/// record of its key is newer or the same by `(version, origin)`, or its deadline has passed;
/// the process's clock advances to the highest version seen. On TTLKV_OK, `*applied` (may be
/// NULL) is how many were written. One bad record (a bad namespace, key or value, a tombstone
/// with a value) fails the whole call and writes nothing.
///
/// Returns TTLKV_OK; TTLKV_BATCH_TOO_LARGE (over TTLKV_MAX_BATCH_RECORDS records or
/// TTLKV_MAX_BATCH_BYTES bytes); the errors of `ttlkv_put()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_merge(
    s: *mut ttlkv_store,
    records: *const ttlkv_replica_record,
    n: usize,
    applied: *mut u64,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_merge", {
        let store = try_handle!(s, "store");
        let items = match records_in(records, n) {
            Ok(r) => r,
            Err(st) => return st,
        };
        let owned: Vec<ReplicaRecord> = items
            .iter()
            .map(|&(ns, key, value, r)| ReplicaRecord {
                namespace: ns.to_vec(),
                key: key.to_vec(),
                value: value.to_vec(),
                deadline: r.deadline,
                version: r.version,
                origin: r.origin,
                tombstone: r.flags & TTLKV_REPLICA_TOMBSTONE != 0,
            })
            .collect();
        let n = try_core!(store.merge(&owned));
        if !applied.is_null() {
            *applied = n;
        }
        TTLKV_OK
    })
}

/// Anti-entropy's digest: into `out` (an array of exactly `buckets` numbers), per bucket, the
/// XOR of a hash of `(namespace, key, version, origin)` over the records (entries and
/// tombstones) whose deadline is after both now and `cutoff` (ms since the epoch). Two stores holding the
/// same records have the same digest. One snapshot; it reads every record.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`out` NULL, `buckets` not in
/// 1..=TTLKV_MAX_DIGEST_BUCKETS, `out_len` not `buckets`); the errors of `ttlkv_get()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_digest(
    s: *mut ttlkv_store,
    buckets: u32,
    cutoff: u64,
    out: *mut u64,
    out_len: usize,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_digest", {
        let store = try_handle!(s, "store");
        try_out!(out, "out");
        if out_len != buckets as usize {
            return invalid(format_args!("out has {out_len} numbers for {buckets} buckets"));
        }
        let d = try_core!(store.digest(buckets, cutoff));
        std::ptr::copy_nonoverlapping(d.as_ptr(), out, d.len());
        TTLKV_OK
    })
}

/// The records of the `n` buckets `which` (of `buckets`, as `ttlkv_digest()` counts them)
/// whose deadline is after both now and `cutoff`, without their values, in key order. On TTLKV_OK, `*out`
/// is a list to release with `ttlkv_replica_list_free()`.
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`out` NULL, `which` NULL with `n` > 0, a bucket
/// not below `buckets`, `buckets` out of range); the errors of `ttlkv_get()`.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_versions(
    s: *mut ttlkv_store,
    buckets: u32,
    which: *const u32,
    n: usize,
    cutoff: u64,
    out: *mut *mut ttlkv_replica_list,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_versions", {
        of_buckets(s, buckets, which, n, cutoff, out, false)
    })
}

/// `ttlkv_versions()` with the values: what a store holding nothing in those buckets (a node
/// joining a cluster) takes whole, without comparing versions first.
///
/// Returns what `ttlkv_versions()` returns.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_bucket_records(
    s: *mut ttlkv_store,
    buckets: u32,
    which: *const u32,
    n: usize,
    cutoff: u64,
    out: *mut *mut ttlkv_replica_list,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_bucket_records", {
        of_buckets(s, buckets, which, n, cutoff, out, true)
    })
}

unsafe fn of_buckets(
    s: *mut ttlkv_store,
    buckets: u32,
    which: *const u32,
    n: usize,
    cutoff: u64,
    out: *mut *mut ttlkv_replica_list,
    values: bool,
) -> ttlkv_status {
    let store = try_handle!(s, "store");
    try_out!(out, "out");
    let which: &[u32] = if n == 0 {
        &[]
    } else if which.is_null() {
        return invalid(format_args!("which is NULL with {n} buckets"));
    } else {
        std::slice::from_raw_parts(which, n)
    };
    let found = if values {
        try_core!(store.bucket_records(buckets, which, cutoff))
    } else {
        try_core!(store.versions(buckets, which, cutoff))
    };
    *out = ttlkv_replica_list::to_mut_ptr(found);
    TTLKV_OK
}

/// The number of records of the list; 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_replica_list_len(l: *const ttlkv_replica_list) -> usize {
    ffi_panic_boundary!("ttlkv_replica_list_len", {
        match try_ref(l) {
            Some(list) => list.len(),
            None => 0,
        }
    })
}

/// The record at index `i` (0 to len - 1) into `*out`, its pointers owned by the list (never
/// NULL, even for empty strings).
///
/// Returns TTLKV_OK; TTLKV_INVALID_ARGUMENT (`l` or `out` NULL, `i` out of range); TTLKV_PANIC.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_replica_list_get(
    l: *const ttlkv_replica_list,
    i: usize,
    out: *mut ttlkv_replica_record,
) -> ttlkv_status {
    ffi_panic_boundary!("ttlkv_replica_list_get", {
        let list: &Vec<ReplicaRecord> = try_handle!(l, "list");
        try_out!(out, "out");
        let Some(r) = list.get(i) else {
            return invalid(format_args!(
                "index {i} is out of range (the list has {})",
                list.len()
            ));
        };
        *out = ttlkv_replica_record {
            ns: r.namespace.as_ptr(),
            ns_len: r.namespace.len(),
            key: r.key.as_ptr(),
            key_len: r.key.len(),
            value: r.value.as_ptr(),
            value_len: r.value.len(),
            deadline: r.deadline,
            version: r.version,
            origin: r.origin,
            flags: if r.tombstone { TTLKV_REPLICA_TOMBSTONE } else { 0 },
        };
        TTLKV_OK
    })
}

/// Releases a list and everything read from it. NULL is allowed (nothing happens). Must not be
/// called twice on the same list.
#[no_mangle]
pub unsafe extern "C" fn ttlkv_replica_list_free(l: *mut ttlkv_replica_list) {
    ffi_panic_boundary!("ttlkv_replica_list_free", {
        drop(ttlkv_replica_list::to_box(l));
    })
}

/// The byte strings of a `ttlkv_replica_record` array, checked like any byte-string argument.
type RecordIn<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a ttlkv_replica_record);

unsafe fn records_in<'a>(
    records: *const ttlkv_replica_record,
    n: usize,
) -> Result<Vec<RecordIn<'a>>, ttlkv_status> {
    // MAX_BATCH_RECORDS (merge) and MAX_KEYS_PER_CALL (records) are one number.
    if n > MAX_BATCH_RECORDS {
        return Err(fail(
            TTLKV_BATCH_TOO_LARGE,
            format_args!("{n} records is over the limit of {MAX_BATCH_RECORDS}"),
        ));
    }
    if n == 0 {
        return Ok(Vec::new());
    }
    if records.is_null() {
        return Err(invalid(format_args!("the records are NULL with n {n}")));
    }
    std::slice::from_raw_parts(records, n)
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let bad = |what: &str| {
                invalid(format_args!(
                    "record {i}: {what} is a NULL pointer with a non-zero length"
                ))
            };
            let ns = super::cast::input(r.ns, r.ns_len).ok_or_else(|| bad("ns"))?;
            let key = super::cast::input(r.key, r.key_len).ok_or_else(|| bad("key"))?;
            let value = super::cast::input(r.value, r.value_len).ok_or_else(|| bad("value"))?;
            Ok((ns, key, value, r))
        })
        .collect()
}
