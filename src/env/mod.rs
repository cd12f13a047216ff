//! The only module that touches LMDB: the environment, its databases (data and `meta`), the
//! transactions the store runs in, map growth, and the pool of reusable read transactions.
//!
//! Nothing of LMDB leaves this folder, so the binding could be swapped without touching the
//! rest. Here: the environment, map growth, the read pool, backup copies and the flush mark;
//! `txn.rs`: the transactions — every one, read or write, a raw lmdb-sys handle behind
//! [`ReadTxn`] (the reads both kinds share) and [`WriteTxn`] (which adds the writes), so each
//! LMDB call has one wrapper; `files.rs`: the checks of the directory and its files, and the
//! cross-process locks; `layout.rs`: what is read from LMDB's private structures. lmdb-rkv
//! only opens the environment and names its databases. Cursors never outlive the call that
//! opened them.
//!
//! Several processes share one store, each with its own options. These rules keep them safe
//! (DESIGN.md, "Multi-process rules"); each is enforced here and nowhere else:
//!
//! - **The data file is never shorter than any process's map.** With MDB_WRITEMAP, LMDB
//!   truncates `data.mdb` to the caller's map size at open and at every resize, which would cut
//!   pages out from under other processes (SIGBUS, lost commits). So every map this process
//!   sets is at least the file's length, and before mapping N bytes the process extends the
//!   file to N bytes itself — reserving the blocks (posix_fallocate) when it writes through the
//!   map, a sparse extension otherwise. Extending and remapping happen under the *resize lock*
//!   (below), so no two processes race on the file's length; no writer ever extends the file
//!   past what every process has mapped, so LMDB's own truncation can only grow it.
//! - **A read never waits for a writer.** Every ttlkv writer takes the cross-process *writer
//!   lock* before LMDB's writer mutex, and takes the in-process gate only once it holds both,
//!   so a writer never waits on another process while holding anything a reader needs. A
//!   reader that must adopt a map grown by another process only *tries* the locks it needs
//!   and otherwise retries; it never queues behind a write transaction.
//! - **Deletes always find pages.** A write that only removes (deletes, expiry) may use the
//!   whole map; a write that adds may not extend the file into the last `headroom` bytes
//!   below `max_map_size`, so a store full of expired entries can always be emptied.
//! - **Reader slots are returned.** The pool of idle read transactions (each holds a slot in
//!   the table every process shares) is small, and emptied when the process stops reading.
//! - **No read leaves the map.** LMDB has no checksums: every key and value it hands back is
//!   checked to lie inside the map (and inside its page, unless on overflow pages), so a
//!   damaged length is a `Corrupted` error, not a SIGBUS.
//!
//! The two cross-process locks are open-file-description locks on bytes 0 and 1 of `data.mdb`
//! (LMDB itself locks only `lock.mdb`): the kernel releases them when a holder dies, and a
//! forked child closes its copy of the descriptor at once (see fork.rs), so a child that
//! outlives a killed parent cannot keep them held.

use std::ffi::CStr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lmdb::{Database, Environment, EnvironmentFlags};
use lmdb_sys as ffi;
use parking_lot::{Mutex, RwLock};

use crate::error::{Error, ErrorKind, Result};

mod files;
mod layout;
mod mark;
mod txn;

use files::{check_directory, DataFile, FileLock};
use layout::{map_base, next_pgno};
pub(crate) use mark::roll_back_to_flush;
use mark::{meta_last_pgno, meta_txnid, read_mark, write_mark, Mark, Meta, META_LEN};
use txn::free_pages;
pub(crate) use txn::{ReadTxn, WriteTxn};

/// The on-disk format this build reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;

const DB_META: &str = "meta";
const DATA_FILE: &str = "data.mdb";
const LOCK_FILE: &str = "lock.mdb";
/// Beside the store: the last transaction id known to be on disk, the kernel boot id of the
/// flush that put it there and, in periodic mode, that snapshot's meta page (see mark.rs).
const FLUSH_MARK: &str = "flush.mark";
/// Pins (mark.rs) take one reader slot per process: only where the table has room for them.
const MIN_READERS_TO_PIN: u32 = 32;
/// While a pin is held LMDB reuses no page freed since, so every commit takes new pages (a
/// put copies its path, about four pages), and only the next flush lets later commits reuse
/// them. So a flush comes at once, not at the end of the interval, after this many commits
/// since the pinned one, or once the file grew this much past the pinned snapshot (a few
/// large commits): the pages in use then stay within a few times what that many commits copy.
const PINNED_COMMITS_MAX: u64 = 1024;
const PINNED_CHURN_MAX: usize = 32 << 20;

/// True for the record of the named `meta` database, which shares the main database with
/// the data.
pub(crate) fn is_database_record(key: &[u8]) -> bool {
    key == DB_META.as_bytes()
}

/// The bytes of `data.mdb` that carry the two cross-process locks.
const WRITER_BYTE: i64 = 0;
const RESIZE_BYTE: i64 = 1;
/// Held by every ttlkv open from its first look at the files until it has checked them (and
/// rolled back or verified the store after a crash of the machine): opens do not overlap.
const OPEN_BYTE: i64 = 2;
/// Held while a process reads and rewrites the flush mark, so that marks never go backwards.
const MARK_BYTE: i64 = 3;

/// LMDB's page header: a value stored on overflow pages starts this far into its first page.
const PAGE_HEADER: usize = 16;

/// How long a read keeps retrying while it cannot get a reader slot (other processes give
/// idle slots back within about 1.5 s) or cannot yet adopt a map another process grew.
const READ_WAIT_FOR_SLOT: Duration = Duration::from_secs(3);
const READ_WAIT_FOR_MAP: Duration = Duration::from_secs(10);

/// How the environment is opened.
#[derive(Clone, Debug)]
pub(crate) struct EnvOptions {
    pub map_size: usize,
    pub max_map_size: usize,
    pub max_readers: u32,
    /// Commit without fsync (the `periodic` durability mode; a flusher syncs).
    pub no_sync: bool,
    /// Write through a writable map (MDB_WRITEMAP): a commit then copies no pages, which makes
    /// puts several times faster; the map's size is reserved on disk.
    pub write_map: bool,
    /// Skip the ownership and mode checks of the directory and its files (symbolic links and
    /// hard links are refused regardless).
    pub allow_shared_dir: bool,
    /// The kernel's boot id (`None` where there is none); a test may give its own.
    pub boot_id: Option<String>,
    /// Flushes pin their snapshot and mark its meta page (periodic `crash_safe`; mark.rs).
    pub pin_flushes: bool,
    /// Benchmark hook: a sleep after each commit, under the writer lock (a slower fsync).
    pub commit_delay: Duration,
}

/// Whether process `pid` is alive (as LMDB's reader check decides it: a signal 0 reaches it,
/// or it exists under another user).
fn alive(pid: u32) -> bool {
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(p, 0) == 0 || *libc::__errno_location() == libc::EPERM }
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), or `None` where the kernel has none.
pub(crate) fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_string())
}

/// What a write transaction does to the store's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteKind {
    /// It may add data: it must not extend the file into the headroom kept for deletes.
    Fills,
    /// It only removes (deletes, expiry): it may use the whole map.
    Frees,
}

/// What the files say about the store when it is opened.
#[derive(Clone, Debug)]
pub(crate) struct StoreMeta {
    pub store_id: [u8; 16],
}

/// The bytes below `max_map_size` that only deletes and expiry may use.
pub(crate) fn headroom_for(max_map_size: usize) -> usize {
    (max_map_size / 16)
        .clamp(32 << 10, 64 << 20)
        .min(max_map_size / 2)
}

/// An open LMDB environment with ttlkv's databases.
pub(crate) struct Env {
    // Declared before `env` so that pooled transactions are aborted before the env closes.
    read_pool: Mutex<Pool>,
    /// The snapshot of the last flush, held so that its pages stay as they are on disk (see
    /// mark.rs); periodic mode only.
    pin: Mutex<Option<RawTxn>>,
    env: Environment,
    /// LMDB's main database: entries and their deadline index (see codec.rs).
    data: Database,
    /// Every transaction holds this shared; a remap holds it exclusively, because LMDB
    /// forbids resizing while this process has a transaction open.
    gate: RwLock<()>,
    /// In-process half of the writer lock (the file lock is per open file, not per thread).
    writer: Mutex<()>,
    /// In-process half of the resize lock.
    resize: Mutex<()>,
    /// A flush of a writable map (msync) reads the map's address: a remap waits for it, but
    /// never while holding the gate, so readers never wait for a flush.
    flush: RwLock<()>,
    file: DataFile,
    /// Where the map is, for bounds checks; changed only under the exclusive gate.
    map_addr: AtomicUsize,
    map_len: AtomicUsize,
    /// The bytes of the map reads may touch: the map, once the file is known to cover it.
    readable: AtomicUsize,
    psize: usize,
    /// `next_pgno` was proven to read the right field (see check_txn_layout).
    layout_checked: std::sync::atomic::AtomicBool,
    max_map_size: usize,
    /// The page a filling write may not extend the file beyond.
    fill_limit_pages: usize,
    max_key_size: usize,
    pool_cap: usize,
    dir: PathBuf,
    boot_id: Option<String>,
    /// The flush mark, opened (created) with the store: later writes never create a file, so
    /// a store whose directory was removed while open writes into the removed file only.
    mark: Option<std::fs::File>,
    write_map: bool,
    /// Periodic mode with room in the reader table: flushes pin their snapshot and keep its
    /// meta page in the mark.
    pins: bool,
    /// Every commit is fsynced (sync mode).
    sync_commits: bool,
    commit_delay: Duration,
    /// The last txnid a flush of this process marked with a pin (u64::MAX: none yet).
    pinned_at: std::sync::atomic::AtomicU64,
    /// The first page past the pinned snapshot's, and whether commits since copied so many
    /// pages past it that a flush is due now (see [`PINNED_CHURN_MAX`]).
    pin_end: AtomicUsize,
    flush_due: std::sync::atomic::AtomicBool,
    /// The id of this process's last commit that wrote something (0: none yet); see
    /// [`Env::committed`].
    last_commit: std::sync::atomic::AtomicU64,
    pub(crate) meta_info: StoreMeta,
}

/// The open lock of a store's directory (see [`OPEN_BYTE`]), held while an open checks it.
pub(crate) struct OpenGuard {
    _lock: FileLock,
    _file: DataFile,
}

impl OpenGuard {
    /// Waits for any other open of `dir` (in any process) to finish its checks.
    pub(crate) fn take(dir: &Path, allow_shared_dir: bool) -> Result<OpenGuard> {
        check_directory(dir, allow_shared_dir)?;
        let file = DataFile::open(dir.join(DATA_FILE))?;
        let lock = file
            .lock(OPEN_BYTE, true)?
            .expect("a waiting lock is always taken");
        Ok(OpenGuard {
            _lock: lock,
            _file: file,
        })
    }
}

/// Idle read transactions, and whether any was used since the last look.
struct Pool {
    txns: Vec<RawTxn>,
    used: bool,
}

/// A reset read-only transaction, owned by the pool.
struct RawTxn(*mut ffi::MDB_txn);

// SAFETY: the environment is opened with MDB_NOTLS, so a read transaction is not tied to the
// thread that created it; the pool hands each one to a single user at a time.
unsafe impl Send for RawTxn {}

impl Drop for RawTxn {
    fn drop(&mut self) {
        // SAFETY: the pointer came from mdb_txn_begin and is aborted exactly once; aborting
        // frees its reader slot.
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

fn damaged(what: String) -> Error {
    Error::new(ErrorKind::Corrupted, what)
}

fn round_up(n: usize, page: usize) -> usize {
    n.div_ceil(page).saturating_mul(page)
}

fn os_page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
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

/// Gives the copy in `dest` (a directory no process has opened yet: the backup just made it)
/// a store id of its own. A backup is a store of its own: were it to keep the original's id, it
/// would share the original's origin (the id's first 8 bytes), which replication's tie-break
/// between stores takes to be unique. Opened without a lock file, which the backup never had.
fn give_new_id(dest: &Path) -> Result<()> {
    let len = std::fs::metadata(dest.join(DATA_FILE))
        .map_err(|e| Error::io("reading the copy's size", &e))?
        .len() as usize;
    let env = Environment::new()
        .set_flags(EnvironmentFlags::NO_LOCK)
        .set_max_dbs(4)
        // Room for the pages this write copies: a compacted copy has no free pages.
        .set_map_size(len + (16 << 20))
        .open(dest)
        .map_err(|e| lmdb_error("opening the copy", e))?;
    let meta = env
        .open_db(Some(DB_META))
        .map_err(|e| lmdb_error("opening the copy's meta database", e))?;
    let mut txn = env
        .begin_rw_txn()
        .map_err(|e| lmdb_error("writing the copy's id", e))?;
    txn.put(meta, &b"store_id", &random_id(), lmdb::WriteFlags::empty())
        .map_err(|e| lmdb_error("writing the copy's id", e))?;
    lmdb::Transaction::commit(txn).map_err(|e| lmdb_error("writing the copy's id", e))
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
        check_directory(dir, opts.allow_shared_dir)?;
        // First an ordinary open, which never changes the file on its own: the file is checked
        // to be a ttlkv store (or empty) before anything extends it, and a writable map, which
        // grows the file at open, comes only after.
        let (mut env, found) = Env::open_once(dir, opts, false)?;
        env.meta_info = match found {
            Some(meta) => meta,
            None => env.create_databases()?,
        };
        if opts.write_map {
            let meta = env.meta_info.clone();
            drop(env);
            let (again, _) = Env::open_once(dir, opts, true)?;
            env = again;
            env.meta_info = meta;
        }
        Ok(env)
    }

    /// Opens the environment under the resize lock, and finds what the file holds: a ttlkv
    /// store (its meta), or nothing yet (`None`). Anything else is refused with the file as it
    /// was. Only then is the file extended to the map.
    fn open_once(dir: &Path, opts: &EnvOptions, write_map: bool) -> Result<(Env, Option<StoreMeta>)> {
        let file = DataFile::open(dir.join(DATA_FILE))?;
        let resize = file.lock(RESIZE_BYTE, true)?;
        let before = file.len()?;
        let page = os_page_size();
        let map = round_up(opts.map_size.max(before), page);
        let env = Self::open_env(dir, opts, map, write_map)?;
        // LMDB opened the file by name: make sure it is the one we checked and lock.
        let mut fd: ffi::mdb_filehandle_t = -1;
        // SAFETY: env is open; fd is a valid out pointer.
        let rc = unsafe { ffi::mdb_env_get_fd(env.env(), &mut fd) };
        if rc != 0 {
            return Err(code_error("finding the data file", rc));
        }
        // SAFETY: fd is LMDB's open data file; fstat only reads it.
        let lmdb_identity = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(fd, &mut st) != 0 {
                return Err(Error::io(
                    "reading the data file",
                    &std::io::Error::last_os_error(),
                ));
            }
            (st.st_dev, st.st_ino)
        };
        if lmdb_identity != file.identity()? {
            return Err(Error::new(
                ErrorKind::PathInvalid,
                format!("{} was replaced while it was being opened", file.path.display()),
            ));
        }
        let psize = env.stat().map(|s| s.page_size() as usize).unwrap_or(page);
        let info = env_info(&env)?;
        let used = (info.me_last_pgno + 1) * psize;
        if before > 0 && used > before {
            return Err(damaged(format!(
                "{}/{DATA_FILE} is {before} bytes long, but its last committed page ends at byte {used}: the file was truncated or damaged",
                dir.display()
            )));
        }
        // SAFETY: env is a valid open environment.
        let max_key_size = unsafe { ffi::mdb_env_get_maxkeysize(env.env()) } as usize;
        let data = env
            .open_db(None)
            .map_err(|e| lmdb_error("opening the main database", e))?;
        let max_map_size = round_up(opts.max_map_size.max(opts.map_size), psize);
        let headroom = headroom_for(max_map_size);
        let e = Env {
            read_pool: Mutex::new(Pool {
                txns: Vec::new(),
                used: false,
            }),
            pin: Mutex::new(None),
            env,
            data,
            gate: RwLock::new(()),
            writer: Mutex::new(()),
            resize: Mutex::new(()),
            flush: RwLock::new(()),
            file,
            map_addr: AtomicUsize::new(0),
            map_len: AtomicUsize::new(0),
            readable: AtomicUsize::new(0),
            psize,
            layout_checked: std::sync::atomic::AtomicBool::new(false),
            max_map_size,
            fill_limit_pages: (max_map_size - headroom) / psize,
            max_key_size,
            pool_cap: (opts.max_readers as usize / 16).clamp(1, 8),
            dir: dir.to_path_buf(),
            boot_id: opts.boot_id.clone(),
            mark: std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(dir.join(FLUSH_MARK))
                .ok(),
            write_map,
            pins: opts.no_sync && opts.pin_flushes && info.me_maxreaders >= MIN_READERS_TO_PIN,
            commit_delay: opts.commit_delay,
            sync_commits: !opts.no_sync,
            pinned_at: std::sync::atomic::AtomicU64::new(u64::MAX),
            pin_end: AtomicUsize::new(usize::MAX),
            flush_due: std::sync::atomic::AtomicBool::new(false),
            last_commit: std::sync::atomic::AtomicU64::new(0),
            meta_info: StoreMeta { store_id: [0; 16] },
        };
        e.note_map()?;
        let found = e.inspect()?;
        e.file.extend(info.me_mapsize, write_map)?;
        e.note_map()?;
        drop(resize);
        Ok((e, found))
    }

    fn open_env(dir: &Path, opts: &EnvOptions, map: usize, write_map: bool) -> Result<Environment> {
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
            .set_map_size(map)
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

    /// Records where the map is, for the bounds checks of every read. Called at open and
    /// after each remap, with no transaction of this process open.
    fn note_map(&self) -> Result<()> {
        let info = self.info()?;
        let mut fd: ffi::mdb_filehandle_t = -1;
        // SAFETY: env is open; fd is a valid out pointer.
        unsafe { ffi::mdb_env_get_fd(self.env.env(), &mut fd) };
        // SAFETY: env is open.
        let Some(base) = (unsafe { map_base(self.env.env(), self.psize, info.me_mapsize, fd) }) else {
            return Err(Error::new(
                ErrorKind::Incompatible,
                format!(
                    "the LMDB linked in ({}) does not lay out its environment as the one ttlkv was built for",
                    lmdb_version()
                ),
            ));
        };
        self.map_addr.store(base, Ordering::Relaxed);
        self.map_len.store(info.me_mapsize, Ordering::Relaxed);
        let covered = self.file.len()?.min(info.me_mapsize);
        self.readable.store(covered, Ordering::Relaxed);
        Ok(())
    }

    /// Proves, in the first write transaction, that [`next_pgno`] reads the field it means
    /// to: under the writer lock nothing commits, so the transaction starts right after the
    /// last committed page.
    #[cold]
    fn check_txn_layout(&self, txn: *mut ffi::MDB_txn) -> Result<()> {
        // SAFETY: txn is a live write transaction.
        let next = unsafe { next_pgno(txn) };
        if next == self.info()?.me_last_pgno + 1 {
            self.layout_checked.store(true, Ordering::Relaxed);
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Incompatible,
            format!(
                "the LMDB linked in ({}) does not lay out its transactions as the one ttlkv was built for",
                lmdb_version()
            ),
        ))
    }

    /// What the file holds: `None` for an empty environment, the meta of a ttlkv store of this
    /// format, or an error for anything else. Only reads.
    fn inspect(&self) -> Result<Option<StoreMeta>> {
        let where_ = self.dir.display().to_string();
        let empty = self.read(|txn| {
            let mut empty = true;
            // Any record, even a damaged one (that is an entry's problem, found when read).
            txn.scan_checked(&[], |_, _| {
                empty = false;
                false
            })?;
            Ok(empty)
        })?;
        if empty {
            return Ok(None);
        }
        let meta = self
            .env
            .open_db(Some(DB_META))
            .map_err(|e| self.meta_db_error(e))?;
        self.read(|txn| {
            let format = match txn.get_in(meta.dbi(), b"format")? {
                Some(v) if v.len() == 4 => u32::from_be_bytes(v.try_into().unwrap()),
                _ => {
                    return Err(damaged(format!("{where_}: the store has no valid format record")));
                }
            };
            if format != FORMAT_VERSION {
                return Err(Error::new(
                    ErrorKind::Incompatible,
                    format!(
                        "{where_} has format version {format}; this build of ttlkv reads version {FORMAT_VERSION}"
                    ),
                ));
            }
            match txn.get_in(meta.dbi(), b"store_id")? {
                Some(v) if v.len() == 16 => Ok(Some(StoreMeta {
                    store_id: v.try_into().unwrap(),
                })),
                _ => Err(damaged(format!("{where_}: the store has no valid store id"))),
            }
        })
    }

    fn meta_db_error(&self, e: lmdb::Error) -> Error {
        let foreign = |why: String| {
            Error::new(
                ErrorKind::Incompatible,
                format!("{} is not a ttlkv store: {why}", self.dir.display()),
            )
        };
        match e {
            lmdb::Error::Incompatible => foreign(format!("{DB_META:?} in its LMDB file is not a database")),
            lmdb::Error::NotFound => foreign(format!("its LMDB file has no {DB_META:?} database")),
            e => lmdb_error(&format!("opening database {DB_META}"), e),
        }
    }

    /// Makes an empty environment a ttlkv store (unless another process just did), and returns
    /// its meta.
    fn create_databases(&self) -> Result<StoreMeta> {
        // Entries and the deadline index live in LMDB's main database, beside the record of the
        // named database "meta": a read then needs no lookup of a named database's root (which
        // LMDB repeats in every transaction), and a put dirties one tree, not two. No data key
        // can equal "meta": an entry key starting with byte L is at least L + 1 bytes long, and
        // "meta" starts with 'm' (109) and is 4 bytes long; index keys start with 0.
        self.write(WriteKind::Fills, |w| {
            let mut still_empty = true;
            w.scan_from(&[], |_, _| {
                still_empty = false;
                false
            })?;
            if still_empty {
                let meta = w
                    .create_db(DB_META)
                    .map_err(|rc| self.meta_db_error(lmdb::Error::from_err_code(rc)))?;
                w.put_in(meta, b"format", &FORMAT_VERSION.to_be_bytes())?;
                w.put_in(meta, b"store_id", &random_id())?;
            }
            Ok(())
        })?;
        self.inspect()?
            .ok_or_else(|| damaged(format!("{}: the store could not be created", self.dir.display())))
    }

    /// The longest key (in bytes) LMDB takes in this build.
    pub(crate) fn max_key_size(&self) -> usize {
        self.max_key_size
    }

    /// Current size of this process's memory map.
    pub(crate) fn map_size(&self) -> usize {
        self.map_len.load(Ordering::Relaxed)
    }

    fn info(&self) -> Result<ffi::MDB_envinfo> {
        env_info(&self.env)
    }

    /// Bytes of the map in use (pages up to the last one written).
    pub(crate) fn used_bytes(&self) -> usize {
        // LMDB reads its meta pages through the map: no remap may run meanwhile.
        let _gate = self.gate.read();
        self.info()
            .map(|i| (i.me_last_pgno + 1) * self.psize)
            .unwrap_or(0)
    }

    /// Damage of the file as a whole (for verify): a data file shorter than its pages.
    pub(crate) fn file_problem(&self) -> Result<Option<String>> {
        let len = self.file.len()?;
        let used = self.used_bytes();
        Ok((len < used).then(|| format!("{DATA_FILE} is {len} bytes long but its pages reach byte {used}")))
    }

    /// Copies the store into directory `dest` (created, mode 0700, when absent; otherwise it
    /// must be empty) from one read snapshot, while readers and writers go on (LMDB's
    /// `mdb_env_copy2`); `compact` leaves out free pages and renumbers the rest, so the copy
    /// is as small as the data. Only `data.mdb` is written (0600); opening the copy makes its
    /// lock file.
    pub(crate) fn copy_to(&self, dest: &Path, compact: bool) -> Result<()> {
        let what = || format!("backing up to {}", dest.display());
        match std::fs::symlink_metadata(dest) {
            Ok(m) if !m.is_dir() => {
                return Err(Error::new(
                    ErrorKind::PathInvalid,
                    format!("{}: {} exists and is not a directory", what(), dest.display()),
                ))
            }
            Ok(_) => {
                let mut entries = std::fs::read_dir(dest).map_err(|e| Error::io(&what(), &e))?;
                if entries.next().is_some() {
                    return Err(Error::new(
                        ErrorKind::PathInvalid,
                        format!(
                            "{}: the directory is not empty (a backup goes into a new or empty directory)",
                            what()
                        ),
                    ));
                }
                check_directory(dest, false)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(dest)
                    .map_err(|e| Error::io(&what(), &e))?;
            }
            Err(e) => return Err(Error::io(&what(), &e)),
        }
        let c = std::ffi::CString::new(dest.as_os_str().as_encoded_bytes()).map_err(|_| {
            Error::new(
                ErrorKind::PathInvalid,
                format!("{}: the path has a NUL byte", what()),
            )
        })?;
        let flags = if compact { ffi::MDB_CP_COMPACT } else { 0 };
        let data = dest.join(DATA_FILE);
        let mut waiting_since = None;
        loop {
            let rc = {
                // The copy reads through this process's map: no remap meanwhile.
                let _gate = self.gate.read();
                // SAFETY: env is open; c is NUL-terminated.
                unsafe { ffi::mdb_env_copy2(self.env.env(), c.as_ptr(), flags) }
            };
            if rc == 0 {
                break;
            }
            let _ = std::fs::remove_file(&data);
            match rc {
                // Its read transaction could not start: adopt the map another process grew,
                // or wait for a reader slot, as any read does; then copy again.
                ffi::MDB_MAP_RESIZED | ffi::MDB_READERS_FULL => self
                    .read_failed(rc, &mut waiting_since)
                    .map_err(|e| Error::new(e.kind(), format!("{}: {}", what(), e.message())))?,
                rc => return Err(code_error(&what(), rc)),
            }
        }
        std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| Error::io(&what(), &e))?;
        give_new_id(dest).map_err(|e| {
            // A copy that kept the original's id is no backup to leave behind.
            let _ = std::fs::remove_file(&data);
            Error::new(e.kind(), format!("{}: {}", what(), e.message()))
        })
    }

    /// Flushes committed data to disk (the `periodic` flusher, the mark the expiry thread
    /// keeps, and close), then records in the flush mark that every transaction up to the
    /// last one committed before the flush is on disk, in this boot. In periodic mode the
    /// flush also pins its snapshot and keeps its meta page in the mark (mark.rs), so that
    /// open after a crash of the machine can return to exactly this flush.
    pub(crate) fn flush(&self) -> Result<()> {
        if !self.pins {
            let _map = self.write_map.then(|| self.flush.read());
            let before = self.last_txnid()?;
            self.env
                .sync(true)
                .map_err(|e| lmdb_error("flushing to disk", e))?;
            // Best effort, without an fsync of its own: a mark that does not reach the disk is
            // an older (or missing) mark, which only makes the next boot verify the store.
            self.write_flush_mark(before, None, false);
            return Ok(());
        }
        // The pin first, so that it is not newer than the snapshot whose meta is taken next
        // (an older pin protects every later snapshot too). Both before the flush lock: the
        // meta is read under the writer lock, and a writer growing the map takes the flush
        // lock while holding it.
        let pin = self.begin_pin();
        let captured = match &pin {
            Some(_) => self.capture_meta()?,
            None => None,
        };
        if let Some((t, _)) = captured {
            if self.pinned_at.load(Ordering::Relaxed) == t {
                return Ok(()); // nothing committed since this process's last flush
            }
        }
        let before = match &captured {
            Some((t, _)) => *t,
            None => self.last_txnid()?,
        };
        {
            let _map = self.write_map.then(|| self.flush.read());
            self.env
                .sync(true)
                .map_err(|e| lmdb_error("flushing to disk", e))?;
        }
        // The previous pin goes only once the new mark is on disk: until then the mark on disk
        // may still be the previous one, whose pages that pin protects.
        if self.write_flush_mark(before, captured.map(|(_, m)| m), true) {
            let mut held = self.pin.lock();
            *held = if captured.is_some() { pin } else { None };
            self.pinned_at
                .store(if held.is_some() { before } else { u64::MAX }, Ordering::Relaxed);
            let end = match (&*held, captured) {
                (Some(_), Some((_, m))) => meta_last_pgno(&m) as usize + 1,
                _ => usize::MAX,
            };
            self.pin_end.store(end, Ordering::Relaxed);
            self.flush_due.store(false, Ordering::Relaxed);
        }
        Ok(())
    }

    /// At open in periodic mode: pin the snapshot the mark names when nothing was committed
    /// since (a clean close), which costs no fsync; otherwise flush, so that from here on the
    /// mark names a snapshot this process pins (whoever marked the previous one may be gone).
    pub(crate) fn pin_at_open(&self) -> Result<()> {
        let pin = self.begin_pin();
        if let (Some(p), Some(m), Some(boot)) = (pin, Mark::read(&self.dir), &self.boot_id) {
            // The pin began before the mark and the last txnid were read: it is not newer
            // than the marked snapshot when that is still the last one.
            if m.boot == *boot && m.meta.is_some() && !m.rolling_back && m.txnid == self.last_txnid()? {
                *self.pin.lock() = Some(p);
                self.pinned_at.store(m.txnid, Ordering::Relaxed);
                if let Some(meta) = &m.meta {
                    self.pin_end
                        .store(meta_last_pgno(meta) as usize + 1, Ordering::Relaxed);
                }
                return Ok(());
            }
        }
        self.flush()
    }

    /// A read transaction on the newest snapshot, held as a pin; `None` when none can start
    /// now (no slot, a map to adopt): then the flush marks no meta page.
    fn begin_pin(&self) -> Option<RawTxn> {
        let _gate = self.gate.read();
        self.begin_fresh().ok()
    }

    /// The txnid and meta page of the last commit, read under the writer lock (no commit can
    /// change them meanwhile) and checked against what LMDB reports; `None` when they
    /// disagree (another LMDB layout: then no roll-back is ever offered).
    fn capture_meta(&self) -> Result<Option<(u64, Meta)>> {
        let _local = self.writer.lock();
        let _shared = self.file.lock(WRITER_BYTE, true)?;
        let _gate = self.gate.read();
        let info = self.info()?;
        let base = self.map_addr.load(Ordering::Relaxed);
        let last = info.me_last_txnid as u64;
        for slot in 0..2 {
            let mut m: Meta = [0; META_LEN];
            // SAFETY: the two meta pages are the first two pages of the map, which the file
            // always covers; under the writer lock nothing writes them.
            unsafe {
                ptr::copy_nonoverlapping(
                    (base + slot * self.psize + PAGE_HEADER) as *const u8,
                    m.as_mut_ptr(),
                    META_LEN,
                )
            };
            if meta_txnid(&m, self.psize) == Some(last)
                && meta_last_pgno(&m) == info.me_last_pgno as u64
                && (last & 1) as usize == slot
            {
                return Ok(Some((last, m)));
            }
        }
        Ok(None)
    }

    /// Whether the write transaction `id` committed and wrote something, and no other write
    /// of this process has committed since. A cache of what it left in the store is then valid
    /// in a later write transaction exactly when that one's id is `id + 1`: LMDB numbers a
    /// write transaction one past the last commit that wrote, of any process.
    pub(crate) fn committed(&self, id: u64) -> bool {
        id != 0 && self.last_commit.load(Ordering::Relaxed) == id
    }

    /// The id of the last committed write transaction, of any process.
    pub(crate) fn last_txnid(&self) -> Result<u64> {
        let _gate = self.gate.read();
        Ok(self.info()?.me_last_txnid as u64)
    }

    /// Writes the flush mark for `txnid` (with its meta page when pinned); with `durable`,
    /// waits for it to reach the disk. False when it was not written.
    fn write_flush_mark(&self, txnid: u64, meta: Option<Meta>, durable: bool) -> bool {
        let (Some(boot), Some(f)) = (&self.boot_id, &self.mark) else {
            return false;
        };
        let mark = Mark {
            boot: boot.clone(),
            txnid,
            pid: meta.is_some().then(std::process::id),
            meta,
            rolling_back: false,
        };
        if mark.meta.is_none() {
            // A live process's pinned mark says less about the disk but keeps its roll-back:
            // keep it (a sync writer removes it before it commits, see `write_once`).
            return match read_mark(f) {
                Some(on_disk)
                    if on_disk.boot == *boot && on_disk.meta.is_some() && on_disk.pid.is_some_and(alive) =>
                {
                    true
                }
                _ => write_mark(f, &mark, durable),
            };
        }
        let Ok(Some(_lock)) = self.file.lock(MARK_BYTE, true) else {
            return false;
        };
        // Another process's flush may have marked a newer snapshot meanwhile: keep its mark
        // (the pin this flush took is older than that snapshot, so it protects it too).
        match read_mark(f) {
            Some(on_disk) if on_disk.boot == *boot && on_disk.meta.is_some() && on_disk.txnid > txnid => true,
            _ => write_mark(f, &mark, durable),
        }
    }

    /// A mark with a meta page offers to roll back to a snapshot whose pages someone must
    /// keep: the pin of the process that marked it (the mark names it). When that pin goes,
    /// the mark is replaced, durably, by one without a meta page (same txnid: a crash then
    /// makes the next boot verify the store instead). A pin goes at a clean close (the closing
    /// process disarms, [`Env::close_mark`]) or with a process that died, whose reader slot
    /// stays in the table, and so keeps protecting the snapshot, until a reader check frees
    /// it: a process that does not pin itself disarms a dead process's mark before it checks
    /// (at open, and in [`Env::reader_check`]). A live marker's mark stays: its pin holds.
    fn disarm_mark(&self, only_if_marker_died: bool) -> Result<()> {
        let Some(f) = &self.mark else { return Ok(()) };
        let Some(on_disk) = read_mark(f) else {
            return Ok(());
        };
        if on_disk.meta.is_none() || (only_if_marker_died && on_disk.pid.is_some_and(alive)) {
            return Ok(());
        }
        let _lock = self.file.lock(MARK_BYTE, true)?;
        match read_mark(f) {
            Some(m) if m.meta.is_some() => {
                let plain = Mark {
                    meta: None,
                    pid: None,
                    ..m
                };
                if write_mark(f, &plain, true) {
                    Ok(())
                } else {
                    Err(Error::new(
                        ErrorKind::Io,
                        format!("rewriting the flush mark of {} failed", self.dir.display()),
                    ))
                }
            }
            _ => Ok(()),
        }
    }

    /// Whether the commits since the pinned flush copied enough pages that the next flush
    /// should come now (the expiry thread is woken for it).
    pub(crate) fn flush_due(&self) -> bool {
        self.flush_due.load(Ordering::Relaxed)
    }

    /// Whether flushes of this process pin their snapshot (periodic mode, room for pins).
    pub(crate) fn pins(&self) -> bool {
        self.pins
    }

    /// Whether the store may hold writes an OS crash or power loss reordered: the machine
    /// booted since the last flush this store knows of, and transactions were committed after
    /// that flush (or no flush was ever marked, or a roll-back to it was not verified). Then
    /// the store must be verified before use. A process crash on the same boot needs no check
    /// (the OS kept every written page). Reads one small file: the normal open stays O(1).
    pub(crate) fn may_hold_reordered_writes(&self) -> Result<bool> {
        let Some(boot) = &self.boot_id else {
            return Ok(false); // no boot id to compare (not Linux): nothing is known either way
        };
        let last = self.last_txnid()?;
        Ok(match Mark::read(&self.dir) {
            Some(m) => m.boot != *boot && (last > m.txnid || m.rolling_back),
            // No mark: an empty store has nothing to lose; any other was never marked flushed.
            None => last > 1,
        })
    }

    /// At a clean close after the last flush: a process that pinned gives up its mark's meta
    /// page with its pin (see [`Env::disarm_mark`]).
    pub(crate) fn close_mark(&self) -> Result<()> {
        if self.pins {
            self.disarm_mark(false)?;
        }
        Ok(())
    }

    /// Frees reader slots left by processes that died; returns how many.
    pub(crate) fn reader_check(&self) -> Result<usize> {
        if !self.pins {
            // A dead process's pin may be among the slots freed (see disarm_mark).
            self.disarm_mark(true)?;
        }
        let mut dead: libc::c_int = 0;
        // SAFETY: env is open; dead is a valid out pointer.
        let rc = unsafe { ffi::mdb_reader_check(self.env.env(), &mut dead) };
        if rc != 0 {
            return Err(code_error("checking reader slots", rc));
        }
        Ok(dead.max(0) as usize)
    }

    /// The reader table's taken slots, every process's: `(pid, thread, txnid)`, the txnid of
    /// the snapshot it reads or `None` for an idle (pooled) slot.
    pub(crate) fn readers(&self) -> Result<Vec<(u32, u64, Option<u64>)>> {
        unsafe extern "C" fn line(msg: *const libc::c_char, ctx: *mut libc::c_void) -> libc::c_int {
            // SAFETY: ctx is the Vec below; msg a NUL-terminated line LMDB formatted.
            let out = &mut *(ctx as *mut Vec<String>);
            out.push(CStr::from_ptr(msg).to_string_lossy().into_owned());
            0
        }
        let mut lines: Vec<String> = Vec::new();
        // SAFETY: env is open; the callback only appends to `lines`, which outlives the call.
        let rc = unsafe {
            ffi::mdb_reader_list(
                self.env.env(),
                Some(line),
                (&mut lines as *mut Vec<String>).cast(),
            )
        };
        if rc < 0 {
            return Err(code_error("listing reader slots", rc));
        }
        Ok(lines
            .iter()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let pid = f.next()?.parse().ok()?;
                let thread = u64::from_str_radix(f.next()?, 16).ok()?;
                let txnid = f.next()?.parse().ok();
                Some((pid, thread, txnid))
            })
            .collect())
    }

    /// Gives the pool's reader slots back when no read used it since the last call (the expiry
    /// thread calls this about once a second), so an idle process holds no slot.
    pub(crate) fn release_idle_readers(&self) {
        let mut pool = self.read_pool.lock();
        if !pool.used {
            pool.txns.clear();
        }
        pool.used = false;
    }

    /// Reader slots this process holds in its pool (for tests and stats).
    pub(crate) fn pooled_readers(&self) -> usize {
        self.read_pool.lock().txns.len()
    }

    /// Sets this process's map to at least `want` bytes, and never below the data file's
    /// length or the pages in use; first extends the file to the new size (see the module
    /// comment). With `wait` false it gives up at once (returning false) where it would wait.
    fn remap(&self, want: usize, wait: bool) -> Result<bool> {
        let _local = if wait {
            self.resize.lock()
        } else {
            match self.resize.try_lock() {
                Some(g) => g,
                None => return Ok(false),
            }
        };
        let Some(_shared) = self.file.lock(RESIZE_BYTE, wait)? else {
            return Ok(false);
        };
        let needed = (self.info()?.me_last_pgno + 1) * self.psize;
        let target = round_up(want.max(self.file.len()?).max(needed), self.psize);
        self.file.extend(target, self.write_map)?;
        let _flush = if wait {
            self.flush.write()
        } else {
            match self.flush.try_write() {
                Some(g) => g,
                None => return Ok(false),
            }
        };
        let _excl = if wait {
            self.gate.write()
        } else {
            match self.gate.try_write() {
                Some(g) => g,
                None => return Ok(false),
            }
        };
        if target > self.map_size() {
            // SAFETY: the exclusive gate: no transaction of this process is open. The file is
            // at least `target` long, so LMDB's truncation with a writable map only grows it.
            let rc = unsafe { ffi::mdb_env_set_mapsize(self.env.env(), target) };
            if rc != 0 {
                return Err(code_error("resizing the map", rc));
            }
            self.note_map()?;
        }
        Ok(true)
    }

    /// Grows the map after a transaction found it full at `seen` bytes. The caller holds the
    /// writer lock.
    fn grow(&self, seen: usize) -> Result<()> {
        let current = self.map_size();
        if current > seen {
            return Ok(()); // adopted from another process meanwhile
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
        self.remap(next, true).map(|_| ())
    }

    /// Runs `f` in a read transaction (pooled, so no allocation or reader-slot search per call).
    /// It never waits for a write transaction, of this process or another.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&ReadTxn<'_>) -> Result<R>) -> Result<R> {
        self.read_in(true, f)
    }

    /// [`Env::read`] for background work (the expiry thread's look at the index): it takes no
    /// pooled transaction and leaves none, so it does not keep an idle process's slot busy.
    pub(crate) fn read_unpooled<R>(&self, f: impl FnOnce(&ReadTxn<'_>) -> Result<R>) -> Result<R> {
        self.read_in(false, f)
    }

    fn read_in<R>(&self, pooled: bool, f: impl FnOnce(&ReadTxn<'_>) -> Result<R>) -> Result<R> {
        let mut f = Some(f);
        let mut waiting_since = None;
        loop {
            let gate = self.gate.read();
            let begun = if pooled {
                self.begin_read()
            } else {
                self.begin_fresh()
            };
            let txn = match begun {
                Ok(t) => t,
                Err(rc) => {
                    drop(gate);
                    self.read_failed(rc, &mut waiting_since)?;
                    continue;
                }
            };
            let f = f.take().expect("called once: every retry happens before f runs");
            let r = f(&ReadTxn {
                txn: txn.0,
                env: self,
                heap_ok: false,
            });
            if pooled {
                // SAFETY: the transaction is live; resetting releases its snapshot but keeps
                // its slot.
                unsafe { ffi::mdb_txn_reset(txn.0) };
                let mut pool = self.read_pool.lock();
                if pool.txns.len() < self.pool_cap {
                    pool.txns.push(txn);
                }
            } else {
                drop(txn); // aborts, freeing its slot
            }
            drop(gate);
            return r;
        }
    }

    #[inline]
    fn begin_read(&self) -> std::result::Result<RawTxn, i32> {
        let pooled = {
            let mut pool = self.read_pool.lock();
            pool.used = true;
            pool.txns.pop()
        };
        match pooled {
            // SAFETY: a reset transaction from our pool.
            Some(t) => match unsafe { ffi::mdb_txn_renew(t.0) } {
                0 => Ok(t),
                rc => Err(rc), // dropping t aborts it and frees its slot
            },
            None => self.begin_fresh(),
        }
    }

    fn begin_fresh(&self) -> std::result::Result<RawTxn, i32> {
        let mut raw = ptr::null_mut();
        // SAFETY: env is open; raw is a valid out pointer.
        match unsafe { ffi::mdb_txn_begin(self.env.env(), ptr::null_mut(), ffi::MDB_RDONLY, &mut raw) } {
            0 => Ok(RawTxn(raw)),
            rc => Err(rc),
        }
    }

    /// A read could not start: adopt a grown map, or wait (bounded) for a reader slot.
    #[cold]
    fn read_failed(&self, rc: i32, waiting_since: &mut Option<Instant>) -> Result<()> {
        let since = *waiting_since.get_or_insert_with(Instant::now);
        match rc {
            ffi::MDB_MAP_RESIZED => {
                if since.elapsed() > READ_WAIT_FOR_MAP {
                    return Err(code_error(
                        "starting a read (the map another process grew could not be adopted in time)",
                        rc,
                    ));
                }
                if !self.remap(self.map_size(), false)? {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            ffi::MDB_READERS_FULL => {
                // Our own idle slots first, then those of dead processes; live processes give
                // theirs back when idle, so wait a little for them.
                self.read_pool.lock().txns.clear();
                if self.reader_check()? == 0 {
                    if since.elapsed() > READ_WAIT_FOR_SLOT {
                        return Err(code_error("starting a read", rc));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            _ => return Err(code_error("starting a read", rc)),
        }
        Ok(())
    }

    /// Runs `f` in a write transaction and commits. When the map fills (in `f` or at commit)
    /// the transaction is aborted, the map grown and `f` run again from the start, so `f` must
    /// only depend on what it reads inside the transaction.
    pub(crate) fn write<R>(
        &self,
        kind: WriteKind,
        mut f: impl FnMut(&mut WriteTxn<'_>) -> Result<R>,
    ) -> Result<R> {
        let r = self.write_once(kind, &mut f);
        if self.flush_due() {
            // The commits since the pinned flush copied PINNED_CHURN_MAX of new pages: flush
            // now, in this writer, so that writes cannot outrun the disk (each flush lets LMDB
            // reuse what the commits before it freed).
            let _ = self.flush();
        }
        match r {
            // The pages this process's pin holds cannot be reused until the next flush: when
            // they are what the store (or the disk) lacks, flush now, moving the pin, and try
            // once more.
            Err(e)
                if matches!(e.kind(), ErrorKind::Full | ErrorKind::NoSpace)
                    && self.pins
                    && self.pinned_at.load(Ordering::Relaxed) != u64::MAX =>
            {
                if self.flush().is_ok() {
                    self.write_once(kind, &mut f)
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    fn write_once<R>(&self, kind: WriteKind, mut f: impl FnMut(&mut WriteTxn<'_>) -> Result<R>) -> Result<R> {
        // Writer locks first (in-process, then every process's), the gate only after: a writer
        // waiting for another process holds nothing a reader needs.
        let _local = self.writer.lock();
        let _shared = self.file.lock(WRITER_BYTE, true)?;
        if self.sync_commits {
            // An acknowledged sync write must never be rolled back: no mark may offer to go
            // back before it. One read of 512 bytes, beside the commit's fsync.
            self.disarm_mark(false)?;
        }
        loop {
            let gate = self.gate.read();
            let seen = self.map_size();
            let mut raw = ptr::null_mut();
            // SAFETY: env is open; raw is a valid out pointer.
            match unsafe { ffi::mdb_txn_begin(self.env.env(), ptr::null_mut(), 0, &mut raw) } {
                0 => {}
                ffi::MDB_MAP_RESIZED => {
                    drop(gate);
                    self.remap(seen, true)?;
                    continue;
                }
                rc => return Err(write_error("starting a write", lmdb::Error::from_err_code(rc))),
            }
            let mut w = WriteTxn(ReadTxn {
                txn: raw,
                env: self,
                heap_ok: true,
            });
            if !self.layout_checked.load(Ordering::Relaxed) {
                self.check_txn_layout(w.txn)?;
            }
            // SAFETY: txn is live.
            let start = unsafe { next_pgno(w.txn) };
            if kind == WriteKind::Fills && start > self.fill_limit_pages && !self.room_for_fills(start)? {
                drop(w);
                return Err(self.full_for_fills());
            }
            let outcome = match f(&mut w) {
                Ok(r) => {
                    // SAFETY: txn is live.
                    let end = unsafe { next_pgno(w.txn) };
                    if self.pins {
                        let past_pin = end.saturating_sub(self.pin_end.load(Ordering::Relaxed));
                        // SAFETY: txn is live.
                        let commits = unsafe { ffi::mdb_txn_id(w.txn) } as u64;
                        if past_pin.saturating_mul(self.psize) > PINNED_CHURN_MAX
                            || commits.saturating_sub(self.pinned_at.load(Ordering::Relaxed))
                                > PINNED_COMMITS_MAX
                        {
                            self.flush_due.store(true, Ordering::Relaxed);
                        }
                    }
                    if kind == WriteKind::Fills && end > start && end > self.fill_limit_pages {
                        drop(w);
                        Err(self.full_for_fills())
                    } else {
                        let id = w.id();
                        let done = w.commit().map(|_| r);
                        // A commit that wrote nothing leaves LMDB's last id, and the id free
                        // for the next writer of any process: only a commit that wrote counts.
                        if done.is_ok() && env_info(&self.env).is_ok_and(|i| i.me_last_txnid as u64 == id) {
                            self.last_commit.store(id, Ordering::Relaxed);
                        }
                        if !self.commit_delay.is_zero() {
                            std::thread::sleep(self.commit_delay);
                        }
                        done
                    }
                }
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

    /// Whether a filling write may start when the file's pages already reach into the headroom:
    /// only while the pages never allocated plus the free pages are more than the headroom.
    /// (A commit can allocate pages of its own — the free list it writes back — so pages can
    /// enter the headroom without any write extending the file inside its transaction.)
    #[cold]
    fn room_for_fills(&self, next: usize) -> Result<bool> {
        let max_pages = self.max_map_size.max(self.map_size()) / self.psize;
        let unallocated = max_pages.saturating_sub(next);
        let headroom = max_pages.saturating_sub(self.fill_limit_pages);
        // LMDB reads its free list only in a read transaction; under the writer lock that
        // snapshot is the one this write starts from. (The caller holds the gate.)
        let txn = self
            .begin_read()
            .map_err(|rc| code_error("reading the free list", rc))?;
        let free = free_pages(txn.0);
        // SAFETY: live; reset keeps the slot for the pool.
        unsafe { ffi::mdb_txn_reset(txn.0) };
        let mut pool = self.read_pool.lock();
        if pool.txns.len() < self.pool_cap {
            pool.txns.push(txn);
        }
        drop(pool);
        Ok(unallocated + free? > headroom)
    }

    #[cold]
    fn full_for_fills(&self) -> Error {
        Error::new(
            ErrorKind::Full,
            format!(
                "the store is full: puts may use {} of its maximum of {} bytes, the rest is kept so that deletes and expiry always find room (raise max_map_size, or delete entries)",
                self.fill_limit_pages * self.psize,
                self.max_map_size
            ),
        )
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

    /// `v` as a slice, once it is proven to lie inside the map — and inside its page, unless it
    /// starts where a value on overflow pages starts. Pointers outside the map are pages a
    /// write transaction copied to the heap (without a writable map): only a write sees those.
    #[inline]
    fn checked<'a>(&self, v: &ffi::MDB_val, outside_ok: bool) -> Result<&'a [u8]> {
        let len = v.mv_size;
        if len == 0 {
            return Ok(&[]);
        }
        let base = self.map_addr.load(Ordering::Relaxed);
        let size = self.readable.load(Ordering::Relaxed);
        let p = v.mv_data as usize;
        let off = p.wrapping_sub(base);
        if p < base || off >= size {
            if outside_ok {
                // SAFETY: a heap page of the live write transaction.
                return Ok(unsafe { std::slice::from_raw_parts(p as *const u8, len) });
            }
            return Err(damaged(
                "a record of the store lies outside its map (the store is damaged; run verify)".into(),
            ));
        }
        let in_page = off % self.psize;
        let fits = len <= size - off && (in_page == PAGE_HEADER || in_page + len <= self.psize);
        if !fits {
            return Err(damaged(format!(
                "a record claims {len} bytes at byte {off} of the store, past the end of its page or file (the store is damaged; run verify)"
            )));
        }
        // SAFETY: inside the map, which the file covers (module comment); valid for the txn.
        Ok(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
    }
}

fn env_info(env: &Environment) -> Result<ffi::MDB_envinfo> {
    // SAFETY: MDB_envinfo is plain data; mdb_env_info fills it in.
    unsafe {
        let mut info: ffi::MDB_envinfo = std::mem::zeroed();
        let rc = ffi::mdb_env_info(env.env(), &mut info);
        if rc != 0 {
            return Err(code_error("reading environment info", rc));
        }
        Ok(info)
    }
}
