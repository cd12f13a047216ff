//! The only module that touches LMDB: the environment, its databases (data and `meta`), the
//! transactions the store runs in, map growth, and the pool of reusable read transactions.
//!
//! Nothing of lmdb-rkv leaves this file, so the binding could be swapped without touching the
//! rest. Cursors and iterators never outlive the scope that opened them (mozilla/lmdb-rs#79).

use std::ffi::CStr;
use std::os::raw::c_uint;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use lmdb::{Cursor, Database, DatabaseFlags, Environment, EnvironmentFlags, Transaction, WriteFlags};
use lmdb_sys as ffi;
use parking_lot::{Mutex, RwLock};

use crate::error::{Error, ErrorKind, Result};

/// The on-disk format this build reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;

const DB_META: &str = "meta";

/// True for the record of the named `meta` database, which shares the main database with
/// the data.
pub(crate) fn is_database_record(key: &[u8]) -> bool {
    key == DB_META.as_bytes()
}

/// Idle read transactions kept for reuse; more than this are aborted (each holds a reader slot).
const READ_POOL_CAP: usize = 64;

/// How the environment is opened.
#[derive(Clone, Debug)]
pub(crate) struct EnvOptions {
    pub map_size: usize,
    pub max_map_size: usize,
    pub max_readers: u32,
    /// Commit without fsync (the `periodic` durability mode; a flusher syncs).
    pub no_sync: bool,
    /// Write through a writable map (MDB_WRITEMAP): a commit then copies no pages, which makes
    /// puts several times faster; the map's size is reserved on disk (see `Env::reserve`).
    pub write_map: bool,
}

/// What the files say about the store when it is opened.
#[derive(Clone, Debug)]
pub(crate) struct StoreMeta {
    pub store_id: [u8; 16],
}

/// An open LMDB environment with ttlkv's databases.
pub(crate) struct Env {
    // Declared before `env` so that pooled transactions are aborted before the env closes.
    read_pool: Mutex<Vec<RawTxn>>,
    env: Environment,
    /// LMDB's main database: entries and their deadline index (see codec.rs).
    data: Database,
    /// Every transaction holds this shared; growing the map holds it exclusively, because LMDB
    /// forbids resizing while this process has a transaction open.
    gate: RwLock<()>,
    max_map_size: usize,
    max_key_size: usize,
    dir: std::path::PathBuf,
    /// MDB_WRITEMAP is on (the `periodic` mode), and how much of the file is reserved on disk.
    write_map: bool,
    reserved: AtomicUsize,
    pub(crate) meta_info: StoreMeta,
}

/// A reset read-only transaction, owned by the pool.
struct RawTxn(*mut ffi::MDB_txn);

// SAFETY: the environment is opened with MDB_NOTLS, so a read transaction is not tied to the
// thread that created it; the pool hands each one to a single user at a time.
unsafe impl Send for RawTxn {}

impl Drop for RawTxn {
    fn drop(&mut self) {
        // SAFETY: the pointer came from mdb_txn_begin and is aborted exactly once.
        unsafe { ffi::mdb_txn_abort(self.0) }
    }
}

fn lmdb_error(context: &str, e: lmdb::Error) -> Error {
    let kind = match e {
        lmdb::Error::MapFull => ErrorKind::Full,
        lmdb::Error::Corrupted | lmdb::Error::PageNotFound | lmdb::Error::Panic => ErrorKind::Corrupted,
        lmdb::Error::Invalid | lmdb::Error::VersionMismatch | lmdb::Error::Incompatible => {
            ErrorKind::Incompatible
        }
        lmdb::Error::ReadersFull => ErrorKind::ReadersFull,
        lmdb::Error::Other(errno) => ErrorKind::from_errno(errno),
        _ => ErrorKind::Storage,
    };
    let errno = match e {
        lmdb::Error::Other(n) => format!(" (errno {n})"),
        _ => String::new(),
    };
    Error::new(kind, format!("{context}: {e}{errno}"))
}

fn code_error(context: &str, rc: i32) -> Error {
    lmdb_error(context, lmdb::Error::from_err_code(rc))
}

/// Internal marker: the map is full below its maximum, grow it and run the transaction again.
fn is_map_full(e: &Error) -> bool {
    e.kind() == ErrorKind::Full && e.message().starts_with(MAP_FULL_MARK)
}
const MAP_FULL_MARK: &str = "map full";

fn map_full() -> Error {
    Error::new(ErrorKind::Full, MAP_FULL_MARK)
}

fn write_error(context: &str, e: lmdb::Error) -> Error {
    match e {
        lmdb::Error::MapFull => map_full(),
        e => lmdb_error(context, e),
    }
}

/// Allocates disk blocks for the first `size` bytes of the data file (see `Env::reserve`).
fn reserve_file(env: &Environment, dir: &Path, size: usize) -> Result<()> {
    let mut fd: ffi::mdb_filehandle_t = -1;
    // SAFETY: env is open; fd is a valid out pointer.
    let rc = unsafe { ffi::mdb_env_get_fd(env.env(), &mut fd) };
    if rc != 0 {
        return Err(code_error("finding the data file", rc));
    }
    // SAFETY: fd is the environment's open data file.
    let rc = unsafe { libc::posix_fallocate(fd, 0, size as libc::off_t) };
    if rc != 0 {
        return Err(Error::new(
            ErrorKind::from_errno(rc),
            format!(
                "reserving {size} bytes on disk for the map of {}: {} (errno {rc})",
                dir.display(),
                std::io::Error::from_raw_os_error(rc)
            ),
        ));
    }
    Ok(())
}

/// The LMDB version linked in, e.g. `"LMDB 0.9.24: (July 24, 2019)"`.
pub(crate) fn lmdb_version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        // SAFETY: mdb_version returns a pointer to a static NUL-terminated string.
        unsafe {
            let p = ffi::mdb_version(ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    })
}

fn random_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    // SAFETY: getrandom writes at most id.len() bytes into the buffer.
    let n = unsafe { libc::getrandom(id.as_mut_ptr().cast(), id.len(), 0) };
    if n != id.len() as isize {
        // Fall back to time and pid: the id must be unique, not secret.
        let t = crate::clock::system_now_ms().to_be_bytes();
        id[..8].copy_from_slice(&t);
        id[8..12].copy_from_slice(&std::process::id().to_be_bytes());
    }
    id
}

impl Env {
    /// Opens (creating when absent) the store in `dir`, which must exist.
    pub(crate) fn open(dir: &Path, opts: &EnvOptions) -> Result<Env> {
        if opts.write_map {
            // A writable map grows the data file to the map's size at open: check first, with
            // an ordinary open, that the file is ours, so another program's file is never touched.
            let check = Self::open_env(dir, opts, false)?;
            Self::open_databases(&check, dir)?;
        }
        let env = Self::open_env(dir, opts, opts.write_map)?;
        let mut reserved = 0;
        if opts.write_map {
            let size = env
                .info()
                .map_err(|e| lmdb_error("reading the map size", e))?
                .map_size();
            reserve_file(&env, dir, size)?;
            reserved = size;
        }
        // SAFETY: env is a valid open environment.
        let max_key_size = unsafe { ffi::mdb_env_get_maxkeysize(env.env()) } as usize;
        let (data, meta_info) = Self::open_databases(&env, dir)?;
        Ok(Env {
            read_pool: Mutex::new(Vec::new()),
            env,
            data,
            gate: RwLock::new(()),
            max_map_size: opts.max_map_size.max(opts.map_size),
            max_key_size,
            dir: dir.to_path_buf(),
            write_map: opts.write_map,
            reserved: AtomicUsize::new(reserved),
            meta_info,
        })
    }

    fn open_env(dir: &Path, opts: &EnvOptions, write_map: bool) -> Result<Environment> {
        let mut flags = EnvironmentFlags::NO_TLS | EnvironmentFlags::NO_READAHEAD;
        if opts.no_sync {
            flags |= EnvironmentFlags::NO_SYNC;
        }
        if write_map {
            flags |= EnvironmentFlags::WRITE_MAP;
        }
        Environment::new()
            .set_flags(flags)
            .set_max_dbs(4)
            .set_max_readers(opts.max_readers)
            .set_map_size(opts.map_size)
            .open_with_permissions(dir, 0o600)
            .map_err(|e| match e {
                lmdb::Error::Invalid | lmdb::Error::VersionMismatch => Error::new(
                    ErrorKind::Incompatible,
                    format!(
                        "{}: not an LMDB environment of a supported version ({e})",
                        dir.display()
                    ),
                ),
                e => lmdb_error(&format!("opening {}", dir.display()), e),
            })
    }

    /// With a writable map, a write to a page of the file that has no disk block behind it
    /// would kill the process with SIGBUS when the disk is full. So the whole map is reserved
    /// on disk (posix_fallocate) before any write can reach it: a full disk is then an error
    /// when the map grows, never a signal.
    fn reserve(&self, size: usize) -> Result<()> {
        if !self.write_map || self.reserved.load(Ordering::Acquire) >= size {
            return Ok(());
        }
        reserve_file(&self.env, &self.dir, size)?;
        self.reserved.fetch_max(size, Ordering::AcqRel);
        Ok(())
    }

    /// Checks that the environment is a ttlkv store of a known format (or empty, and then makes
    /// it one), and opens the data and `meta` databases.
    fn open_databases(env: &Environment, dir: &Path) -> Result<(Database, StoreMeta)> {
        let where_ = dir.display().to_string();
        let mut txn = env
            .begin_rw_txn()
            .map_err(|e| lmdb_error(&format!("opening {where_}"), e))?;
        // Entries and the deadline index live in LMDB's main database, beside the record of the
        // named database "meta": a read then needs no lookup of a named database's root (which
        // LMDB repeats in every transaction), and a put dirties one tree, not two. No data key
        // can equal "meta": an entry key starting with byte L is at least L + 1 bytes long, and
        // "meta" starts with 'm' (109) and is 4 bytes long; index keys start with 0.
        let main = unsafe { txn.open_db(None) }.map_err(|e| lmdb_error("opening the main database", e))?;
        let created = {
            let cursor = txn
                .open_ro_cursor(main)
                .map_err(|e| lmdb_error("reading the main database", e))?;
            match cursor.get(None, None, ffi::MDB_FIRST) {
                Err(lmdb::Error::NotFound) => true,
                Ok(_) => false,
                Err(e) => return Err(lmdb_error("reading the main database", e)),
            }
        };
        let foreign = |why: String| {
            Error::new(
                ErrorKind::Incompatible,
                format!("{where_} is not a ttlkv store: {why}"),
            )
        };
        let open = |txn: &lmdb::RwTransaction, name: &str| {
            // SAFETY: no other transaction of this environment exists yet.
            let r = if created {
                unsafe { txn.create_db(Some(name), DatabaseFlags::empty()) }
            } else {
                unsafe { txn.open_db(Some(name)) }
            };
            r.map_err(|e| match e {
                lmdb::Error::Incompatible => foreign(format!("{name:?} in its LMDB file is not a database")),
                lmdb::Error::NotFound => foreign(format!("its LMDB file has no {name:?} database")),
                e => lmdb_error(&format!("opening database {name}"), e),
            })
        };
        let meta = open(&txn, DB_META)?;
        let store_id = if created {
            let id = random_id();
            txn.put(
                meta,
                &"format",
                &FORMAT_VERSION.to_be_bytes(),
                WriteFlags::empty(),
            )
            .map_err(|e| write_error("creating the store", e))?;
            txn.put(meta, &"store_id", &id, WriteFlags::empty())
                .map_err(|e| write_error("creating the store", e))?;
            id
        } else {
            let format = match txn.get(meta, &"format") {
                Ok(v) if v.len() == 4 => u32::from_be_bytes(v.try_into().unwrap()),
                Ok(_) | Err(lmdb::Error::NotFound) => {
                    return Err(Error::new(
                        ErrorKind::Corrupted,
                        format!("{where_}: the store has no valid format record"),
                    ))
                }
                Err(e) => return Err(lmdb_error("reading the format", e)),
            };
            if format != FORMAT_VERSION {
                return Err(Error::new(
                    ErrorKind::Incompatible,
                    format!(
                        "{where_} has format version {format}; this build of ttlkv reads version {FORMAT_VERSION}"
                    ),
                ));
            }
            match txn.get(meta, &"store_id") {
                Ok(v) if v.len() == 16 => v.try_into().unwrap(),
                _ => {
                    return Err(Error::new(
                        ErrorKind::Corrupted,
                        format!("{where_}: the store has no valid store id"),
                    ))
                }
            }
        };
        txn.commit().map_err(|e| write_error("opening the store", e))?;
        Ok((main, StoreMeta { store_id }))
    }

    /// The longest key (in bytes) LMDB takes in this build.
    pub(crate) fn max_key_size(&self) -> usize {
        self.max_key_size
    }

    /// Current size of the memory map.
    pub(crate) fn map_size(&self) -> usize {
        self.info().map(|i| i.me_mapsize).unwrap_or(0)
    }

    fn info(&self) -> Result<ffi::MDB_envinfo> {
        // SAFETY: MDB_envinfo is plain data; mdb_env_info fills it in.
        unsafe {
            let mut info: ffi::MDB_envinfo = std::mem::zeroed();
            let rc = ffi::mdb_env_info(self.env.env(), &mut info);
            if rc != 0 {
                return Err(code_error("reading environment info", rc));
            }
            Ok(info)
        }
    }

    /// Bytes of the map in use (pages up to the last one written).
    pub(crate) fn used_bytes(&self) -> usize {
        let page = self.env.stat().map(|s| s.page_size() as usize).unwrap_or(4096);
        self.info().map(|i| (i.me_last_pgno + 1) * page).unwrap_or(0)
    }

    /// Flushes committed data to disk (the `periodic` flusher, and close).
    pub(crate) fn sync(&self) -> Result<()> {
        self.env.sync(true).map_err(|e| lmdb_error("flushing to disk", e))
    }

    /// Frees reader slots left by processes that died; returns how many.
    pub(crate) fn reader_check(&self) -> Result<usize> {
        let mut dead: libc::c_int = 0;
        // SAFETY: env is open; dead is a valid out pointer.
        let rc = unsafe { ffi::mdb_reader_check(self.env.env(), &mut dead) };
        if rc != 0 {
            return Err(code_error("checking reader slots", rc));
        }
        Ok(dead.max(0) as usize)
    }

    /// Adopts a map grown by another process (LMDB reported `MDB_MAP_RESIZED`).
    fn adopt_map_size(&self) -> Result<()> {
        let _excl = self.gate.write();
        self.env
            .set_map_size(0)
            .map_err(|e| lmdb_error("adopting the map size", e))?;
        // Writes check the reservation before they start; a failure here surfaces there.
        let _ = self.reserve(self.map_size());
        Ok(())
    }

    /// Grows the map after a transaction found it full at `seen` bytes.
    fn grow(&self, seen: usize) -> Result<()> {
        let _excl = self.gate.write();
        let current = self.map_size();
        if current > seen {
            return Ok(()); // another thread grew it meanwhile
        }
        if current >= self.max_map_size {
            return Err(Error::new(
                ErrorKind::Full,
                format!(
                    "the store is full: its map reached the maximum of {} bytes (raise max_map_size, or delete entries)",
                    self.max_map_size
                ),
            ));
        }
        // Double small maps, then grow by 1 GiB steps so a large map does not jump by gigabytes.
        let step = current.clamp(1 << 20, 1 << 30);
        let next = current.saturating_add(step).min(self.max_map_size);
        self.env
            .set_map_size(next)
            .map_err(|e| lmdb_error("growing the map", e))?;
        if let Err(e) = self.reserve(next) {
            // Back to the size that is reserved, so no write can reach an unreserved page.
            let _ = self.env.set_map_size(current);
            return Err(e);
        }
        Ok(())
    }

    /// Runs `f` in a read transaction (pooled, so no allocation or reader-slot search per call).
    pub(crate) fn read<R>(&self, f: impl FnOnce(&ReadTxn<'_>) -> Result<R>) -> Result<R> {
        let gate = self.gate.read();
        let pooled = self.read_pool.lock().pop();
        let txn = match pooled {
            // SAFETY: a reset transaction from our pool.
            Some(t) => match unsafe { ffi::mdb_txn_renew(t.0) } {
                0 => t,
                rc => {
                    drop(t);
                    drop(gate);
                    return self.read_retry(rc, f);
                }
            },
            None => {
                let mut raw = ptr::null_mut();
                // SAFETY: env is open; raw is a valid out pointer.
                let rc =
                    unsafe { ffi::mdb_txn_begin(self.env.env(), ptr::null_mut(), ffi::MDB_RDONLY, &mut raw) };
                if rc != 0 {
                    drop(gate);
                    return self.read_retry(rc, f);
                }
                RawTxn(raw)
            }
        };
        let r = f(&ReadTxn {
            txn: txn.0,
            env: self,
        });
        // SAFETY: the transaction is live; resetting releases its snapshot but keeps its slot.
        unsafe { ffi::mdb_txn_reset(txn.0) };
        let mut pool = self.read_pool.lock();
        if pool.len() < READ_POOL_CAP {
            pool.push(txn);
        }
        drop(pool);
        drop(gate);
        r
    }

    #[cold]
    fn read_retry<R>(&self, rc: i32, f: impl FnOnce(&ReadTxn<'_>) -> Result<R>) -> Result<R> {
        match rc {
            ffi::MDB_MAP_RESIZED => self.adopt_map_size()?,
            ffi::MDB_READERS_FULL => {
                // Slots of dead processes are the usual cause; reclaim them once.
                self.read_pool.lock().clear();
                if self.reader_check()? == 0 {
                    return Err(code_error("starting a read", rc));
                }
            }
            _ => return Err(code_error("starting a read", rc)),
        }
        let gate = self.gate.read();
        let mut raw = ptr::null_mut();
        // SAFETY: as in `read`.
        let rc = unsafe { ffi::mdb_txn_begin(self.env.env(), ptr::null_mut(), ffi::MDB_RDONLY, &mut raw) };
        if rc != 0 {
            return Err(code_error("starting a read", rc));
        }
        let txn = RawTxn(raw);
        let r = f(&ReadTxn {
            txn: txn.0,
            env: self,
        });
        drop(txn);
        drop(gate);
        r
    }

    /// Runs `f` in a write transaction and commits. When the map fills (in `f` or at commit)
    /// the transaction is aborted, the map grown and `f` run again from the start, so `f` must
    /// only depend on what it reads inside the transaction.
    pub(crate) fn write<R>(&self, mut f: impl FnMut(&mut WriteTxn<'_>) -> Result<R>) -> Result<R> {
        loop {
            let gate = self.gate.read();
            let seen = self.map_size();
            if self.write_map && self.reserved.load(Ordering::Acquire) < seen {
                self.reserve(seen)?; // the map was adopted from another process
            }
            let txn = match self.env.begin_rw_txn() {
                Ok(t) => t,
                Err(lmdb::Error::MapResized) => {
                    drop(gate);
                    self.adopt_map_size()?;
                    continue;
                }
                Err(e) => return Err(write_error("starting a write", e)),
            };
            let mut w = WriteTxn { txn, env: self };
            let outcome = match f(&mut w) {
                Ok(r) => w
                    .txn
                    .commit()
                    .map(|_| r)
                    .map_err(|e| write_error("committing", e)),
                Err(e) => {
                    drop(w); // aborts: LMDB refuses to resize while a write transaction is open
                    Err(e)
                }
            };
            drop(gate);
            match outcome {
                Err(e) if is_map_full(&e) => self.grow(seen)?,
                Err(e) if e.kind() == ErrorKind::Io => return Err(self.explain_io(e)),
                other => return other,
            }
        }
    }

    /// LMDB reports a short write as EIO, which is what a full file system gives it: tell the
    /// caller the disk is full when it is, so that "delete something" is the visible remedy.
    #[cold]
    fn explain_io(&self, e: Error) -> Error {
        let Ok(dir) = std::ffi::CString::new(self.dir.as_os_str().as_encoded_bytes()) else {
            return e;
        };
        // SAFETY: statvfs fills the struct; dir is a NUL-terminated path.
        let free = unsafe {
            let mut st: libc::statvfs = std::mem::zeroed();
            if libc::statvfs(dir.as_ptr(), &mut st) != 0 {
                return e;
            }
            st.f_bavail as u64 * st.f_frsize as u64
        };
        if free < 1 << 20 {
            Error::new(
                ErrorKind::NoSpace,
                format!(
                    "no space left on the file system of {} ({free} bytes free): {}",
                    self.dir.display(),
                    e.message()
                ),
            )
        } else {
            e
        }
    }
}

/// A read-only view of the store, valid inside [`Env::read`].
pub(crate) struct ReadTxn<'e> {
    txn: *mut ffi::MDB_txn,
    env: &'e Env,
}

fn val(bytes: &[u8]) -> ffi::MDB_val {
    ffi::MDB_val {
        mv_size: bytes.len(),
        mv_data: bytes.as_ptr() as *mut libc::c_void,
    }
}

/// SAFETY: the caller ties the slice to the transaction's lifetime.
unsafe fn slice<'a>(v: &ffi::MDB_val) -> &'a [u8] {
    if v.mv_size == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(v.mv_data as *const u8, v.mv_size)
    }
}

impl ReadTxn<'_> {
    /// The value stored under `key`, borrowed from the map for the transaction's life.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<&[u8]>> {
        let mut k = val(key);
        let mut v = val(&[]);
        // SAFETY: txn is live for &self; the dbi belongs to this environment.
        match unsafe { ffi::mdb_get(self.txn, self.env.data.dbi(), &mut k, &mut v) } {
            0 => Ok(Some(unsafe { slice(&v) })),
            ffi::MDB_NOTFOUND => Ok(None),
            rc => Err(code_error("reading", rc)),
        }
    }

    /// Calls `f(key, value)` for each record whose key is `>= start`, in key order, until `f`
    /// returns false or the database ends.
    pub(crate) fn scan_from(&self, start: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
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
                    if !f(unsafe { slice(&k) }, unsafe { slice(&v) }) {
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

/// A write transaction, valid inside [`Env::write`].
pub(crate) struct WriteTxn<'e> {
    txn: lmdb::RwTransaction<'e>,
    env: &'e Env,
}

impl WriteTxn<'_> {
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<&[u8]>> {
        match self.txn.get(self.env.data, &key) {
            Ok(v) => Ok(Some(v)),
            Err(lmdb::Error::NotFound) => Ok(None),
            Err(e) => Err(lmdb_error("reading", e)),
        }
    }

    #[inline]
    pub(crate) fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.txn
            .put(self.env.data, &key, &value, WriteFlags::empty())
            .map_err(|e| write_error("writing", e))
    }

    /// Stores a value of `len` bytes written in place by `fill` (no intermediate copy).
    #[inline]
    pub(crate) fn put_with(&mut self, key: &[u8], len: usize, fill: impl FnOnce(&mut [u8])) -> Result<()> {
        let buf = self
            .txn
            .reserve(self.env.data, &key, len, WriteFlags::empty())
            .map_err(|e| write_error("writing", e))?;
        fill(buf);
        Ok(())
    }

    /// Removes `key`; returns whether it was there.
    #[inline]
    pub(crate) fn del(&mut self, key: &[u8]) -> Result<bool> {
        match self.txn.del(self.env.data, &key, None) {
            Ok(()) => Ok(true),
            Err(lmdb::Error::NotFound) => Ok(false),
            Err(e) => Err(write_error("deleting", e)),
        }
    }

    /// Calls `f(key, value)` for each record whose key is `>= start`, in key order, until `f`
    /// returns false or the database ends.
    pub(crate) fn scan_from(&self, start: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> bool) -> Result<()> {
        let cursor = self
            .txn
            .open_ro_cursor(self.env.data)
            .map_err(|e| lmdb_error("opening a cursor", e))?;
        let (mut key, mut op): (Option<&[u8]>, c_uint) = if start.is_empty() {
            (None, ffi::MDB_FIRST)
        } else {
            (Some(start), ffi::MDB_SET_RANGE)
        };
        loop {
            match cursor.get(key.take(), None, op) {
                Ok((Some(k), v)) => {
                    if !f(k, v) {
                        return Ok(());
                    }
                }
                Ok((None, _)) => return Ok(()),
                Err(lmdb::Error::NotFound) => return Ok(()),
                Err(e) => return Err(lmdb_error("scanning", e)),
            }
            op = ffi::MDB_NEXT;
        }
    }
}
