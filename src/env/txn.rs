//! The transactions: a [`ReadTxn`] holds the reads every LMDB transaction has (get, scans, the
//! tree's size), a [`WriteTxn`] derefs to one and adds the writes. Every transaction is a raw
//! lmdb-sys handle; every key and value it hands out is bounds-checked against the map.

use std::ptr;

use lmdb_sys as ffi;

use super::{code_error, write_error, Env};
use crate::error::Result;

/// A view of the store inside one LMDB transaction, valid inside [`Env::read`] (and, through
/// a [`WriteTxn`], inside [`Env::write`]): the reads every transaction has.
pub(crate) struct ReadTxn<'e> {
    pub(super) txn: *mut ffi::MDB_txn,
    pub(super) env: &'e Env,
    /// Whether records may lie outside the map: pages a write transaction copied to the heap
    /// (without a writable map). Only a write sees those.
    pub(super) heap_ok: bool,
}

pub(super) fn val(bytes: &[u8]) -> ffi::MDB_val {
    ffi::MDB_val {
        mv_size: bytes.len(),
        mv_data: bytes.as_ptr() as *mut libc::c_void,
    }
}

impl ReadTxn<'_> {
    /// The value stored under `key`, borrowed from the map for the transaction's life.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<&[u8]>> {
        self.get_in(self.env.data.dbi(), key)
    }

    #[inline]
    pub(super) fn get_in(&self, dbi: ffi::MDB_dbi, key: &[u8]) -> Result<Option<&[u8]>> {
        let mut k = val(key);
        let mut v = val(&[]);
        // SAFETY: txn is live for &self; the dbi belongs to this environment.
        match unsafe { ffi::mdb_get(self.txn, dbi, &mut k, &mut v) } {
            0 => self.env.checked(&v, self.heap_ok).map(Some),
            ffi::MDB_NOTFOUND => Ok(None),
            rc => Err(code_error("reading", rc)),
        }
    }

    /// Bytes of the pages the data's B-tree uses (branch, leaf and overflow pages of the main
    /// database; not the free list): O(1), from LMDB's own counts in the transaction.
    pub(crate) fn tree_bytes(&self) -> Result<u64> {
        let st = self.stat()?;
        let pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
        Ok((pages * self.env.psize) as u64)
    }

    /// How many records LMDB's own count says the data's B-tree holds (kept in the meta page,
    /// so a tree whose pages did not all reach the disk disagrees with its records).
    pub(crate) fn record_count(&self) -> Result<u64> {
        Ok(self.stat()?.ms_entries as u64)
    }

    /// Reads the whole free list (for verify): an error when its pages are damaged.
    pub(crate) fn check_free_list(&self) -> Result<usize> {
        free_pages(self.txn)
    }

    fn stat(&self) -> Result<ffi::MDB_stat> {
        // SAFETY: MDB_stat is plain data that mdb_stat fills; txn is live.
        unsafe {
            let mut st: ffi::MDB_stat = std::mem::zeroed();
            let rc = ffi::mdb_stat(self.txn, self.env.data.dbi(), &mut st);
            if rc != 0 {
                return Err(code_error("reading the tree's counts", rc));
            }
            Ok(st)
        }
    }

    /// Calls `f(key, value)` for each record whose key is `>= start`, in key order, until `f`
    /// returns false or the database ends. A damaged record ends the scan with an error.
    pub(crate) fn scan_from(&self, start: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        let mut bad = None;
        self.scan_checked(start, |k, v| match (k, v) {
            (Ok(k), Ok(v)) => f(k, v),
            (Err(e), _) | (_, Err(e)) => {
                bad = Some(e);
                false
            }
        })?;
        bad.map_or(Ok(()), Err)
    }

    /// [`ReadTxn::scan_from`] that hands damaged keys and values to `f` as errors and goes on
    /// (for verify).
    pub(crate) fn scan_checked(
        &self,
        start: &[u8],
        mut f: impl FnMut(Result<&[u8]>, Result<&[u8]>) -> bool,
    ) -> Result<()> {
        let mut cursor: *mut ffi::MDB_cursor = ptr::null_mut();
        // SAFETY: txn is live; the cursor is closed before returning.
        let rc = unsafe { ffi::mdb_cursor_open(self.txn, self.env.data.dbi(), &mut cursor) };
        if rc != 0 {
            return Err(code_error("opening a cursor", rc));
        }
        let mut k = val(start);
        let mut v = val(&[]);
        let mut op = if start.is_empty() {
            ffi::MDB_FIRST
        } else {
            ffi::MDB_SET_RANGE
        };
        let result = loop {
            // SAFETY: cursor is open; k and v are valid MDB_vals.
            match unsafe { ffi::mdb_cursor_get(cursor, &mut k, &mut v, op) } {
                0 => {
                    if !f(
                        self.env.checked(&k, self.heap_ok),
                        self.env.checked(&v, self.heap_ok),
                    ) {
                        break Ok(());
                    }
                }
                ffi::MDB_NOTFOUND => break Ok(()),
                rc => break Err(code_error("scanning", rc)),
            }
            op = ffi::MDB_NEXT;
        };
        // SAFETY: opened above, closed once.
        unsafe { ffi::mdb_cursor_close(cursor) };
        result
    }
}

/// A write transaction, valid inside [`Env::write`]: the reads of a [`ReadTxn`] (through
/// `Deref`, seeing the transaction's own writes) and the writes. Dropped uncommitted, it aborts.
pub(crate) struct WriteTxn<'e>(pub(super) ReadTxn<'e>);

impl<'e> std::ops::Deref for WriteTxn<'e> {
    type Target = ReadTxn<'e>;
    fn deref(&self) -> &ReadTxn<'e> {
        &self.0
    }
}

impl Drop for WriteTxn<'_> {
    fn drop(&mut self) {
        if !self.0.txn.is_null() {
            // SAFETY: a live write transaction, ended exactly once (commit nulls the pointer).
            unsafe { ffi::mdb_txn_abort(self.0.txn) }
        }
    }
}

impl WriteTxn<'_> {
    /// The transaction's id: it grows by one with every committed write of the store, in any
    /// process, and survives restarts (LMDB keeps it in its meta pages).
    #[inline]
    pub(crate) fn id(&self) -> u64 {
        // SAFETY: txn is live.
        unsafe { ffi::mdb_txn_id(self.txn) as u64 }
    }

    #[inline]
    pub(crate) fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_in(self.env.data.dbi(), key, value)
    }

    pub(super) fn put_in(&mut self, dbi: ffi::MDB_dbi, key: &[u8], value: &[u8]) -> Result<()> {
        let (mut k, mut v) = (val(key), val(value));
        // SAFETY: txn is a live write transaction of this environment; LMDB copies both.
        match unsafe { ffi::mdb_put(self.txn, dbi, &mut k, &mut v, 0) } {
            0 => Ok(()),
            rc => Err(write_error("writing", lmdb::Error::from_err_code(rc))),
        }
    }

    /// Stores a value of `len` bytes written in place by `fill` (no intermediate copy).
    #[inline]
    pub(crate) fn put_with(&mut self, key: &[u8], len: usize, fill: impl FnOnce(&mut [u8])) -> Result<()> {
        let mut k = val(key);
        let mut v = ffi::MDB_val {
            mv_size: len,
            mv_data: ptr::null_mut(),
        };
        // SAFETY: as put; MDB_RESERVE hands back `len` writable bytes that stay valid until the
        // next write of this transaction, and `fill` runs before any.
        match unsafe { ffi::mdb_put(self.txn, self.env.data.dbi(), &mut k, &mut v, ffi::MDB_RESERVE) } {
            // SAFETY: see above; the bytes are this transaction's own dirty page.
            0 => fill(unsafe { std::slice::from_raw_parts_mut(v.mv_data as *mut u8, len) }),
            rc => return Err(write_error("writing", lmdb::Error::from_err_code(rc))),
        }
        Ok(())
    }

    /// Looks `key` up and writes it through the same cursor: one descent of the tree where a
    /// lookup and a put take two. `plan` sees the stored value (if any) and returns the new
    /// value's length with what `fill` needs to write it in place, or `None` to write nothing.
    /// Returns what `plan` returned.
    pub(crate) fn upsert<P>(
        &mut self,
        key: &[u8],
        plan: impl FnOnce(Option<&[u8]>) -> Result<Option<(usize, P)>>,
        fill: impl FnOnce(&P, &mut [u8]),
    ) -> Result<Option<P>> {
        struct Cursor(*mut ffi::MDB_cursor);
        impl Drop for Cursor {
            fn drop(&mut self) {
                // SAFETY: opened below, closed once, before the transaction ends.
                unsafe { ffi::mdb_cursor_close(self.0) }
            }
        }
        let mut raw: *mut ffi::MDB_cursor = ptr::null_mut();
        // SAFETY: txn is a live write transaction of this environment.
        let rc = unsafe { ffi::mdb_cursor_open(self.txn, self.env.data.dbi(), &mut raw) };
        if rc != 0 {
            return Err(code_error("opening a cursor", rc));
        }
        let cursor = Cursor(raw);
        // MDB_SET_RANGE, not MDB_SET: a miss leaves the cursor on the leaf where the key goes,
        // so the put below searches that page alone (LMDB's mdb_cursor_set checks the page a
        // positioned cursor is on before it descends).
        let (mut k, mut v) = (val(key), val(&[]));
        // SAFETY: cursor is open; k and v are valid MDB_vals.
        let old = match unsafe { ffi::mdb_cursor_get(cursor.0, &mut k, &mut v, ffi::MDB_SET_RANGE) } {
            0 if self.env.checked(&k, self.heap_ok)? == key => Some(self.env.checked(&v, self.heap_ok)?),
            0 | ffi::MDB_NOTFOUND => None,
            rc => return Err(code_error("reading", rc)),
        };
        // `plan` cannot keep `old`: the put below may move the page it lies on.
        let Some((len, p)) = plan(old)? else {
            return Ok(None);
        };
        let mut k = val(key);
        let mut v = ffi::MDB_val {
            mv_size: len,
            mv_data: ptr::null_mut(),
        };
        // SAFETY: as put_with, through the open cursor of this transaction.
        match unsafe { ffi::mdb_cursor_put(cursor.0, &mut k, &mut v, ffi::MDB_RESERVE) } {
            // SAFETY: see put_with.
            0 => fill(&p, unsafe {
                std::slice::from_raw_parts_mut(v.mv_data as *mut u8, len)
            }),
            rc => return Err(write_error("writing", lmdb::Error::from_err_code(rc))),
        }
        Ok(Some(p))
    }

    /// Removes `key`; returns whether it was there.
    #[inline]
    pub(crate) fn del(&mut self, key: &[u8]) -> Result<bool> {
        let mut k = val(key);
        // SAFETY: txn is a live write transaction of this environment.
        match unsafe { ffi::mdb_del(self.txn, self.env.data.dbi(), &mut k, ptr::null_mut()) } {
            0 => Ok(true),
            ffi::MDB_NOTFOUND => Ok(false),
            rc => Err(write_error("deleting", lmdb::Error::from_err_code(rc))),
        }
    }

    /// Creates the named database `name` (only while the store is being made: LMDB allows a
    /// new named database in one transaction at a time). Errors are LMDB's codes.
    pub(super) fn create_db(&mut self, name: &str) -> std::result::Result<ffi::MDB_dbi, i32> {
        let name = std::ffi::CString::new(name).map_err(|_| ffi::MDB_INVALID)?;
        let mut dbi: ffi::MDB_dbi = 0;
        // SAFETY: txn is a live write transaction; name is NUL-terminated.
        match unsafe { ffi::mdb_dbi_open(self.txn, name.as_ptr(), ffi::MDB_CREATE, &mut dbi) } {
            0 => Ok(dbi),
            rc => Err(rc),
        }
    }

    pub(super) fn commit(mut self) -> Result<()> {
        let txn = std::mem::replace(&mut self.0.txn, ptr::null_mut());
        // SAFETY: live; mdb_txn_commit frees it whatever the outcome, so Drop must not abort it.
        match unsafe { ffi::mdb_txn_commit(txn) } {
            0 => Ok(()),
            rc => Err(write_error("committing", lmdb::Error::from_err_code(rc))),
        }
    }
}

/// Pages on LMDB's free list (its database 0: one record per freeing transaction, each a
/// count followed by that many page numbers).
pub(super) fn free_pages(txn: *mut ffi::MDB_txn) -> Result<usize> {
    const FREE_DBI: ffi::MDB_dbi = 0;
    let mut cursor: *mut ffi::MDB_cursor = ptr::null_mut();
    // SAFETY: txn is live; the cursor is closed before returning.
    let rc = unsafe { ffi::mdb_cursor_open(txn, FREE_DBI, &mut cursor) };
    if rc != 0 {
        return Err(code_error("reading the free list", rc));
    }
    let (mut k, mut v) = (val(&[]), val(&[]));
    let mut total = 0usize;
    let mut op = ffi::MDB_FIRST;
    let result = loop {
        // SAFETY: cursor is open.
        match unsafe { ffi::mdb_cursor_get(cursor, &mut k, &mut v, op) } {
            0 if v.mv_size >= std::mem::size_of::<usize>() => {
                // SAFETY: at least one word; LMDB stores it unaligned-safe for a read.
                total += unsafe { std::ptr::read_unaligned(v.mv_data as *const usize) };
            }
            0 => {}
            ffi::MDB_NOTFOUND => break Ok(total),
            rc => break Err(code_error("reading the free list", rc)),
        }
        op = ffi::MDB_NEXT;
    };
    // SAFETY: opened above, closed once.
    unsafe { ffi::mdb_cursor_close(cursor) };
    result
}
