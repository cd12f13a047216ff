//! What ttlkv reads from LMDB's private structures, because LMDB 0.9 has no call for it: the
//! next page of a transaction and the address of the map. Each read is proven against what the
//! public calls say before it is trusted (see the functions), so another LMDB layout is refused,
//! never misread.

use lmdb_sys as ffi;

use super::PAGE_HEADER;

/// The first page a transaction has not allocated (LMDB's `mt_next_pgno`).
///
/// LMDB 0.9 has no call for it, and it is what tells a write that *extends* the file from one
/// that reuses free pages. It is the third word of `struct MDB_txn` in the LMDB that
/// lmdb-rkv-sys bundles (pinned in Cargo.toml); `Env::check_txn_layout` proves the offset in
/// each environment's first write against `mdb_env_info`, so another layout is refused, never
/// misread.
///
/// SAFETY: `txn` is a live transaction of this LMDB build.
pub(super) unsafe fn next_pgno(txn: *mut ffi::MDB_txn) -> usize {
    *(txn as *const usize).add(2)
}

/// Where this process's map of the data file starts (LMDB's `me_map`).
///
/// LMDB 0.9 has no call for it (`mdb_env_info` reports the fixed-map address, 0 here), and the
/// bounds check of every read needs it. It is the eighth word of `struct MDB_env` in the
/// bundled LMDB; the answer is used only when the fields around it agree with what the public
/// calls say — the page size, the map size, the data file's descriptor, and the two meta
/// page pointers, which LMDB sets to the first and second page of the map — so another layout
/// is refused at open, never misread.
///
/// SAFETY: `env` is a live, open environment of this LMDB build (its struct is over 120
/// bytes, so every word read here is inside it).
pub(super) unsafe fn map_base(
    env: *mut ffi::MDB_env,
    psize: usize,
    map_size: usize,
    fd: i32,
) -> Option<usize> {
    let words = env as *const usize;
    let half = env as *const u32;
    let map = *words.add(7);
    let agrees = *(env as *const i32) == fd
        && *half.add(4) as usize == psize
        && *words.add(9) == map + PAGE_HEADER
        && *words.add(10) == map + psize + PAGE_HEADER
        && *words.add(14) == map_size;
    agrees.then_some(map)
}
