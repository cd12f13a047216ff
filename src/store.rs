//! The store: the thread-safe core that every binding wraps.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::clock::Clock;
use crate::codec::{
    is_index_key, split_entry_key, split_index_key, EntryKey, Header, IndexKey, ENTRY_KEY_CAP, HEADER_LEN,
    INDEX_OVERHEAD, INDEX_PREFIX, NEVER,
};
use crate::commit::{Committer, Work};
use crate::env::{Env, EnvOptions, WriteKind, WriteTxn};
use crate::error::{Error, ErrorKind, Result};
use crate::expiry;

/// The longest namespace, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 255;
/// The largest value, in bytes (1 GiB). LMDB itself fails at 2 GiB.
pub const MAX_VALUE_LEN: usize = 1 << 30;
/// The most records one `put_many` takes: it is one transaction, and transactions stay bounded.
pub const MAX_BATCH_RECORDS: usize = 100_000;
/// The most bytes (keys and values) one `put_many` takes.
pub const MAX_BATCH_BYTES: usize = 1 << 30;
/// A TTL that never expires.
pub const TTL_NEVER: Duration = Duration::MAX;
/// The deadline reported for an entry that never expires.
pub const DEADLINE_NEVER: u64 = NEVER;

/// When a put is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// A put has reached the disk when it returns. Concurrent writers share one commit.
    #[default]
    Sync,
    /// Commits skip fsync; a background flush runs every `interval`. A process crash loses
    /// nothing (the OS has the pages); a power loss can lose the last interval.
    Periodic {
        /// Time between flushes.
        interval: Duration,
    },
}

/// How a store is opened. The first open of a directory in a process decides; later opens of
/// the same directory share its environment and their options are ignored.
#[derive(Clone, Debug)]
pub struct Options {
    /// Initial size of the memory map in bytes; it grows on demand (default 16 MiB).
    pub map_size: usize,
    /// The map never grows beyond this; puts then fail with [`ErrorKind::Full`] (default 64 GiB).
    pub max_map_size: usize,
    /// Durability of puts (default [`Durability::Sync`]).
    pub durability: Durability,
    /// LMDB reader slots, shared by every process using the store (default 1024).
    pub max_readers: u32,
    /// Entries the expiry thread removes per write transaction (default 10,000).
    pub expiry_batch: usize,
    /// `periodic` mode only: write through a writable memory map (LMDB's MDB_WRITEMAP). Puts
    /// get several times faster (a commit copies no pages), the map's size is reserved on disk
    /// as it grows, and the price is that a power loss or OS crash between flushes can leave
    /// the store corrupted rather than just missing the last interval (LMDB keeps its
    /// atomicity guarantee across such crashes only without a writable map). A process crash
    /// is safe either way. Default false.
    pub write_map: bool,
    /// Accept a store directory that other users could tamper with: one owned by another user,
    /// or writable by group or others (default false: such a directory is refused, because its
    /// other users could replace `lock.mdb` or `data.mdb` with a link to one of your files).
    /// Links in place of the store's files are refused either way.
    pub allow_shared_dir: bool,
    /// The source of "now" (default the system clock; tests use a [`crate::ManualClock`]).
    pub clock: Clock,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            map_size: 16 << 20,
            max_map_size: 64 << 30,
            durability: Durability::Sync,
            max_readers: 1024,
            expiry_batch: 10_000,
            write_map: false,
            allow_shared_dir: false,
            clock: Clock::System,
        }
    }
}

impl Options {
    /// Sets the initial map size.
    pub fn map_size(mut self, bytes: usize) -> Options {
        self.map_size = bytes;
        self
    }
    /// Sets the maximum map size.
    pub fn max_map_size(mut self, bytes: usize) -> Options {
        self.max_map_size = bytes;
        self
    }
    /// Sets the durability mode.
    pub fn durability(mut self, durability: Durability) -> Options {
        self.durability = durability;
        self
    }
    /// Sets the number of reader slots.
    pub fn max_readers(mut self, n: u32) -> Options {
        self.max_readers = n;
        self
    }
    /// Sets the expiry batch size.
    pub fn expiry_batch(mut self, n: usize) -> Options {
        self.expiry_batch = n;
        self
    }
    /// Turns the writable map of `periodic` mode on or off (see [`Options::write_map`]).
    pub fn write_map(mut self, on: bool) -> Options {
        self.write_map = on;
        self
    }
    /// Accepts a directory shared with other users (see [`Options::allow_shared_dir`]).
    pub fn allow_shared_dir(mut self, on: bool) -> Options {
        self.allow_shared_dir = on;
        self
    }
    /// Sets the clock.
    pub fn clock(mut self, clock: Clock) -> Options {
        self.clock = clock;
        self
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::new(ErrorKind::InvalidArgument, m));
        if self.map_size < 16 << 10 {
            return bad(format!(
                "map_size {} is below the minimum of 16384 bytes",
                self.map_size
            ));
        }
        if self.max_map_size < self.map_size {
            return bad(format!(
                "max_map_size {} is smaller than map_size {}",
                self.max_map_size, self.map_size
            ));
        }
        if self.max_map_size > isize::MAX as usize {
            return bad(format!(
                "max_map_size {} is larger than the address space",
                self.max_map_size
            ));
        }
        if self.max_readers == 0 || self.max_readers > 1 << 20 {
            return bad(format!("max_readers {} is not in 1..=1048576", self.max_readers));
        }
        if self.expiry_batch == 0 {
            return bad("expiry_batch must be at least 1".into());
        }
        if self.write_map && self.durability == Durability::Sync {
            return bad("write_map needs periodic durability (with sync, LMDB would msync the whole map on every commit)".into());
        }
        if let Durability::Periodic { interval } = self.durability {
            if interval.is_zero() || interval > Duration::from_secs(86_400) {
                return bad(format!("sync interval {interval:?} is not in 1 ms..=1 day"));
            }
        }
        Ok(())
    }
}

/// One record of [`Store::put_many_ms`]: `(namespace, key, value, ttl_ms)`.
pub type RecordMs<'a> = (&'a [u8], &'a [u8], &'a [u8], u64);

/// One record of [`Store::put_many`].
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// The namespace (1–255 bytes).
    pub namespace: &'a [u8],
    /// The key (any bytes, empty allowed).
    pub key: &'a [u8],
    /// The value (up to 1 GiB).
    pub value: &'a [u8],
    /// The time to live; [`TTL_NEVER`] for never.
    pub ttl: Duration,
}

/// Counters of a store's background work.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries removed by the expiry thread (or [`Store::purge_expired`]) in this process.
    pub expired_removed: u64,
    /// Write transactions the expiry work committed.
    pub expiry_batches: u64,
    /// Iterations of the expiry thread that panicked (caught; the thread went on).
    pub expiry_panics: u64,
    /// Iterations of the expiry thread that failed with an error.
    pub expiry_errors: u64,
    /// The last panic or error of the expiry thread.
    pub last_expiry_error: Option<String>,
    /// Reader slots of dead processes reclaimed.
    pub readers_reclaimed: u64,
    /// Write transactions committed for puts and deletes (group commit: one for many writers).
    pub write_commits: u64,
    /// Puts and deletes (calls) those transactions carried.
    pub write_calls: u64,
    /// Current size of the memory map.
    pub map_size: u64,
    /// Bytes of the map in use.
    pub used_bytes: u64,
    /// Idle read transactions this process keeps for reuse, each holding one of the reader
    /// slots every process shares; given back when the process stops reading.
    pub pooled_readers: u64,
}

/// The outcome of [`Store::verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries stored (live or not yet removed).
    pub entries: u64,
    /// Entries with a finite deadline.
    pub expiring: u64,
    /// Records in the deadline index.
    pub index_records: u64,
    /// What disagrees (empty when the store is consistent); at most 100 lines.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// True when entries and index agree.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub expired_removed: AtomicU64,
    pub expiry_batches: AtomicU64,
    pub expiry_panics: AtomicU64,
    pub expiry_errors: AtomicU64,
    pub readers_reclaimed: AtomicU64,
    pub write_commits: AtomicU64,
    pub write_calls: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// What one open environment shares between its handles and its expiry thread.
pub(crate) struct Core {
    pub env: Env,
    pub clock: Clock,
    pub durability: Durability,
    pub expiry_batch: usize,
    /// The batch the expiry work uses now: halved when a batch finds no room (a store full at
    /// its maximum), grown back as batches succeed.
    expiry_batch_now: std::sync::atomic::AtomicUsize,
    pub counters: Counters,
    committer: Committer,
    hlc: AtomicU64,
    high_water: AtomicU64,
    /// The deadline the expiry thread will wake for; writers lower it (never raise it).
    pub next_wake: AtomicU64,
    pub wake_tx: Sender<()>,
    pub shutdown: AtomicBool,
    pub inject_panic: AtomicBool,
}

impl Core {
    /// The store's "now": the clock's reading, but never earlier than one this process already
    /// used. After the wall clock steps backward the store's time stands still until the clock
    /// catches up, so an entry once seen expired is never live again.
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        let c = self.clock.now_ms();
        let seen = self.high_water.load(Ordering::Relaxed);
        if c > seen {
            self.high_water.fetch_max(c, Ordering::Relaxed);
            c
        } else {
            seen
        }
    }

    /// A hybrid logical clock: wall-clock ms in the high 48 bits, a counter in the low 16,
    /// never going backwards within this process.
    fn next_version(&self, now: u64) -> u64 {
        let candidate = now << 16;
        let prev = self
            .hlc
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(candidate.max(p + 1))
            })
            .unwrap_or(0);
        candidate.max(prev + 1)
    }

    /// Writes one record (the caller validated it) inside `txn`.
    pub(crate) fn apply_put(
        &self,
        txn: &mut WriteTxn<'_>,
        ns: &[u8],
        key: &[u8],
        value: &[u8],
        deadline: u64,
        now: u64,
    ) -> Result<()> {
        let ek = EntryKey::new(ns, key);
        if let Some(old) = txn.get(ek.as_bytes())? {
            if let Some((h, _)) = Header::decode(old) {
                if h.deadline != NEVER {
                    txn.del(IndexKey::new(h.deadline, ek.as_bytes()).as_bytes())?;
                }
            }
        }
        let header = Header {
            deadline,
            version: self.next_version(now),
            flags: 0,
        };
        txn.put_with(ek.as_bytes(), HEADER_LEN + value.len(), |buf| {
            header.encode_into(buf);
            buf[HEADER_LEN..].copy_from_slice(value);
        })?;
        if deadline != NEVER {
            txn.put(IndexKey::new(deadline, ek.as_bytes()).as_bytes(), &[])?;
        }
        Ok(())
    }

    /// Removes one entry inside `txn`; true if a live one was there.
    pub(crate) fn apply_delete(
        &self,
        txn: &mut WriteTxn<'_>,
        ns: &[u8],
        key: &[u8],
        now: u64,
    ) -> Result<bool> {
        let ek = EntryKey::new(ns, key);
        let live = match txn.get(ek.as_bytes())? {
            None => return Ok(false),
            Some(old) => match Header::decode(old) {
                Some((h, _)) => {
                    if h.deadline != NEVER {
                        txn.del(IndexKey::new(h.deadline, ek.as_bytes()).as_bytes())?;
                    }
                    h.is_live(now)
                }
                None => false,
            },
        };
        txn.del(ek.as_bytes())?;
        Ok(live)
    }

    /// Tells the expiry thread about a deadline earlier than the one it sleeps for.
    pub(crate) fn note_deadline(&self, deadline: u64) {
        if deadline < self.next_wake.load(Ordering::SeqCst) {
            self.next_wake.fetch_min(deadline, Ordering::SeqCst);
            let _ = self.wake_tx.try_send(());
        }
    }

    /// Removes up to one batch of entries due at `now`; returns how many it removed and
    /// whether that was a whole batch (more may be due).
    ///
    /// A batch that finds no room (a store full at its maximum: deleting copies pages) is
    /// halved and tried again, down to one entry, which the headroom kept for deletes always
    /// fits; later batches grow back.
    pub(crate) fn remove_due_batch(&self, now: u64) -> Result<(usize, bool)> {
        // Look first without the writer lock: most wake-ups of a quiet store find nothing due.
        let first_due = self.env.read_unpooled(|txn| {
            let mut due = false;
            txn.scan_from(&[INDEX_PREFIX], |k, _| {
                // A malformed index record counts as due: removing it is the repair.
                due = is_index_key(k) && split_index_key(k).map(|(d, _)| d <= now).unwrap_or(true);
                false
            })?;
            Ok(due)
        })?;
        if !first_due {
            return Ok((0, false));
        }
        loop {
            let batch = self
                .expiry_batch_now
                .load(Ordering::Relaxed)
                .clamp(1, self.expiry_batch);
            match self.remove_due(now, batch) {
                Ok(removed) => {
                    if batch < self.expiry_batch {
                        self.expiry_batch_now
                            .store((batch * 2).min(self.expiry_batch), Ordering::Relaxed);
                    }
                    self.counters.expiry_batches.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .expired_removed
                        .fetch_add(removed as u64, Ordering::Relaxed);
                    return Ok((removed, removed == batch));
                }
                Err(e) if e.kind() == ErrorKind::Full && batch > 1 => {
                    self.expiry_batch_now.store(batch / 2, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn remove_due(&self, now: u64, batch: usize) -> Result<usize> {
        self.env.write(WriteKind::Frees, |txn| {
            let mut due: Vec<Vec<u8>> = Vec::new();
            txn.scan_from(&[INDEX_PREFIX], |k, _| match split_index_key(k) {
                _ if !is_index_key(k) => false,
                Some((d, _)) if d > now => false,
                _ => {
                    due.push(k.to_vec());
                    due.len() < batch
                }
            })?;
            for k in &due {
                txn.del(k)?;
                let Some((deadline, ek)) = split_index_key(k) else {
                    continue; // a damaged index record: dropping it is the repair
                };
                // Remove the entry only if this index record is really its deadline.
                let matches = match txn.get(ek)? {
                    Some(v) => Header::decode(v)
                        .map(|(h, _)| h.deadline == deadline)
                        .unwrap_or(true),
                    None => false,
                };
                if matches {
                    txn.del(ek)?;
                }
            }
            Ok(due.len())
        })
    }

    /// The earliest deadline in the index, if any.
    pub(crate) fn earliest_deadline(&self) -> Result<Option<u64>> {
        self.env.read_unpooled(|txn| {
            let mut first = None;
            txn.scan_from(&[INDEX_PREFIX], |k, _| {
                first = split_index_key(k).map(|(d, _)| d);
                false
            })?;
            Ok(first)
        })
    }
}

/// An open environment: the core, its expiry thread, and its registry slot.
pub(crate) struct Shared {
    core: Arc<Core>,
    thread: Mutex<Option<JoinHandle<()>>>,
    slot: Arc<Slot>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.core.shutdown.store(true, Ordering::SeqCst);
        let _ = self.core.wake_tx.try_send(());
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
        if matches!(self.core.durability, Durability::Periodic { .. }) {
            let _ = self.core.env.sync();
        }
    }
}

/// A directory's identity: its device and inode, whatever path names it. LMDB must not have two
/// environments on one set of files in a process (closing the second drops the process's locks
/// on `lock.mdb`, and the next process to open would reinitialise it under the first).
type Identity = (u64, u64);

/// The one environment of a directory in this process. Opening and closing it happen under its
/// lock, which is the directory's alone: no lock shared by all stores is held across an open,
/// a join or an fsync.
#[derive(Default)]
pub(crate) struct Slot {
    shared: Mutex<Weak<Shared>>,
}

/// Environments open in this process, by directory identity. A forked child starts with an
/// empty one (see fork.rs): the parent's environments are not its to use.
static REGISTRY: crate::fork::PerProcess<Mutex<std::collections::HashMap<Identity, Arc<Slot>>>> =
    crate::fork::PerProcess::new();

fn registry() -> &'static Mutex<std::collections::HashMap<Identity, Arc<Slot>>> {
    REGISTRY.get(|| Mutex::new(std::collections::HashMap::new()))
}

fn open_shared(path: &Path, identity: Identity, opts: &Options) -> Result<Arc<Shared>> {
    let slot = {
        let mut reg = registry().lock();
        // A slot only the registry holds has no environment and no opener: forget it.
        reg.retain(|_, s| Arc::strong_count(s) > 1);
        reg.entry(identity).or_default().clone()
    };
    let mut current = slot.shared.lock();
    if let Some(shared) = current.upgrade() {
        return Ok(shared);
    }
    let env = Env::open(
        path,
        &EnvOptions {
            map_size: opts.map_size,
            max_map_size: opts.max_map_size,
            max_readers: opts.max_readers,
            no_sync: matches!(opts.durability, Durability::Periodic { .. }),
            write_map: opts.write_map,
            allow_shared_dir: opts.allow_shared_dir,
        },
    )?;
    let reclaimed = env.reader_check().unwrap_or(0) as u64;
    let (wake_tx, wake_rx): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(1);
    let now = opts.clock.now_ms();
    let core = Arc::new(Core {
        env,
        clock: opts.clock.clone(),
        durability: opts.durability,
        expiry_batch: opts.expiry_batch,
        expiry_batch_now: std::sync::atomic::AtomicUsize::new(opts.expiry_batch),
        counters: Counters::default(),
        committer: Committer::new(),
        hlc: AtomicU64::new(now << 16),
        high_water: AtomicU64::new(now),
        next_wake: AtomicU64::new(0),
        wake_tx,
        shutdown: AtomicBool::new(false),
        inject_panic: AtomicBool::new(false),
    });
    core.counters
        .readers_reclaimed
        .store(reclaimed, Ordering::Relaxed);
    let thread = expiry::spawn(core.clone(), wake_rx, path)?;
    let shared = Arc::new(Shared {
        core,
        thread: Mutex::new(Some(thread)),
        slot: slot.clone(),
    });
    *current = Arc::downgrade(&shared);
    Ok(shared)
}

/// Drops a handle's reference; the last one closes the environment, under the directory's
/// slot lock so that no open of the same directory can start a second environment meanwhile.
fn release(shared: Arc<Shared>, generation: u64) {
    if generation != crate::fork::generation() {
        // Inherited across fork(): the parent's environment, locks and threads are not ours to
        // close (closing would clear the parent's reader slots). Leak this reference.
        std::mem::forget(shared);
        return;
    }
    let slot = shared.slot.clone();
    let _guard = slot.shared.lock();
    drop(shared);
}

struct Handle {
    shared: RwLock<Option<Arc<Shared>>>,
    path: PathBuf,
    /// The fork generation the handle was opened in (see fork.rs).
    generation: u64,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(s) = self.shared.get_mut().take() {
            release(s, self.generation);
        }
    }
}

/// A persistent key-value store in which every entry has a time-to-live.
///
/// `Store` is `Clone + Send + Sync`: clones are the same handle (closing one closes them all).
/// Opening the same directory again gives a separate handle on the same environment: closing
/// it leaves the others working.
#[derive(Clone)]
pub struct Store {
    handle: Arc<Handle>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.handle.path)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Converts a TTL to milliseconds: never zero for a non-zero TTL, [`NEVER`] for [`TTL_NEVER`].
fn ttl_ms(ttl: Duration) -> Result<u64> {
    if ttl == TTL_NEVER {
        return Ok(NEVER);
    }
    if ttl.is_zero() {
        return Err(Error::new(
            ErrorKind::TtlInvalid,
            "a TTL of 0 is not allowed (use the never-expiring TTL for entries that must not expire)",
        ));
    }
    let ms = ttl.as_millis();
    let ms = if Duration::from_millis(ms as u64) < ttl {
        ms + 1
    } else {
        ms
    };
    Ok(u64::try_from(ms).unwrap_or(NEVER))
}

/// `now + ttl`, saturating below [`NEVER`] (which only the never-expiring TTL gets).
pub(crate) fn deadline_for(now: u64, ttl_ms: u64) -> Result<u64> {
    if ttl_ms == NEVER {
        return Ok(NEVER);
    }
    if ttl_ms == 0 {
        return Err(Error::new(ErrorKind::TtlInvalid, "a TTL of 0 is not allowed"));
    }
    Ok(now.saturating_add(ttl_ms).min(NEVER - 1))
}

fn validate_namespace(ns: &[u8]) -> Result<()> {
    if ns.is_empty() || ns.len() > MAX_NAMESPACE_LEN {
        return Err(Error::new(
            ErrorKind::NamespaceInvalid,
            format!("a namespace is 1 to {MAX_NAMESPACE_LEN} bytes, not {}", ns.len()),
        ));
    }
    Ok(())
}

impl Store {
    /// Opens the store in directory `path`, creating the directory (mode 0700) and the store
    /// (files 0600) when absent. An existing directory keeps its mode.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Store> {
        options.validate()?;
        let path = path.as_ref();
        if path.as_os_str().is_empty() {
            return Err(Error::new(ErrorKind::PathInvalid, "the store path is empty"));
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::PathInvalid,
                    format!("{} is a file; a store is a directory", path.display()),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(path)
                    .map_err(|e| Error::io(&format!("creating {}", path.display()), &e))?;
            }
            Err(e) => return Err(Error::io(&format!("opening {}", path.display()), &e)),
        }
        let canonical = path
            .canonicalize()
            .map_err(|e| Error::io(&format!("resolving {}", path.display()), &e))?;
        let identity = {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(&canonical)
                .map_err(|e| Error::io(&format!("reading {}", canonical.display()), &e))?;
            (m.dev(), m.ino())
        };
        let generation = crate::fork::generation_at_open();
        let shared = open_shared(&canonical, identity, &options)?;
        Ok(Store {
            handle: Arc::new(Handle {
                shared: RwLock::new(Some(shared)),
                path: canonical,
                generation,
            }),
        })
    }

    /// The canonical path of the store's directory.
    pub fn path(&self) -> &Path {
        &self.handle.path
    }

    /// True once [`Store::close`] was called on this handle, and in a process forked after
    /// the handle was opened (a store belongs to the process that opened it).
    pub fn is_closed(&self) -> bool {
        self.forked() || self.handle.shared.read().is_none()
    }

    #[inline]
    fn forked(&self) -> bool {
        self.handle.generation != crate::fork::generation()
    }

    /// Closes this handle; idempotent. The environment (and its expiry thread, which is
    /// joined) closes with the last handle. Every later call on this handle fails with
    /// [`ErrorKind::Closed`]. Waits for calls in flight on this handle to finish.
    pub fn close(&self) {
        if self.forked() {
            // The lock may be held by a parent thread that does not exist here: do not wait.
            if let Some(mut g) = self.handle.shared.try_write() {
                if let Some(s) = g.take() {
                    release(s, self.handle.generation);
                }
            }
            return;
        }
        let taken = self.handle.shared.write().take();
        if let Some(s) = taken {
            release(s, self.handle.generation);
        }
    }

    #[inline]
    fn core(&self) -> Result<CoreGuard<'_>> {
        if self.forked() {
            return Err(Error::new(
                ErrorKind::Closed,
                "the store was opened before fork(): a store belongs to the process that opened it; open it again in this process",
            ));
        }
        let g = self.handle.shared.read();
        if g.is_none() {
            return Err(Error::closed());
        }
        Ok(CoreGuard(g))
    }

    /// A namespace with a default TTL, as Pow's config carries one.
    pub fn namespace(&self, name: impl AsRef<[u8]>, default_ttl: Duration) -> Result<Namespace> {
        let name = name.as_ref();
        validate_namespace(name)?;
        ttl_ms(default_ttl)?;
        Ok(Namespace {
            store: self.clone(),
            name: name.to_vec(),
            ttl: default_ttl,
        })
    }

    /// Inserts or overwrites `key` in `ns`: the value and the deadline (now + `ttl`) both
    /// replace the old ones.
    pub fn put(&self, ns: &[u8], key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        self.put_ms(ns, key, value, ttl_ms(ttl)?)
    }

    /// [`Store::put`] with the TTL in milliseconds ([`DEADLINE_NEVER`] for never).
    pub fn put_ms(&self, ns: &[u8], key: &[u8], value: &[u8], ttl_ms: u64) -> Result<()> {
        let g = self.core()?;
        let core = g.core();
        check_record(core, ns, key, value)?;
        let deadline = deadline_for(core.now_ms(), ttl_ms)?;
        core.committer
            .submit(
                core,
                Work::Put(&[crate::commit::PutOp {
                    ns,
                    key,
                    value,
                    deadline,
                }]),
            )
            .map(|_| ())
    }

    /// Writes every record in one transaction: all or none.
    pub fn put_many(&self, records: &[Record<'_>]) -> Result<()> {
        let ops: Vec<RecordMs<'_>> = records
            .iter()
            .map(|r| Ok((r.namespace, r.key, r.value, ttl_ms(r.ttl)?)))
            .collect::<Result<_>>()?;
        self.put_many_ms(&ops)
    }

    /// [`Store::put_many`] with `(namespace, key, value, ttl_ms)` records.
    pub fn put_many_ms(&self, records: &[RecordMs<'_>]) -> Result<()> {
        let g = self.core()?;
        let core = g.core();
        if records.len() > MAX_BATCH_RECORDS {
            return Err(Error::new(
                ErrorKind::BatchTooLarge,
                format!(
                    "a batch of {} records is over the limit of {MAX_BATCH_RECORDS}",
                    records.len()
                ),
            ));
        }
        let bytes: usize = records.iter().map(|r| r.1.len() + r.2.len()).sum();
        if bytes > MAX_BATCH_BYTES {
            return Err(Error::new(
                ErrorKind::BatchTooLarge,
                format!("a batch of {bytes} bytes is over the limit of {MAX_BATCH_BYTES}"),
            ));
        }
        let now = core.now_ms();
        let mut ops = Vec::with_capacity(records.len());
        for (i, &(ns, key, value, ttl)) in records.iter().enumerate() {
            let at = |e: Error| Error::new(e.kind(), format!("record {i}: {}", e.message()));
            check_record(core, ns, key, value).map_err(at)?;
            let deadline = deadline_for(now, ttl).map_err(at)?;
            ops.push(crate::commit::PutOp {
                ns,
                key,
                value,
                deadline,
            });
        }
        if ops.is_empty() {
            return Ok(());
        }
        core.committer.submit(core, Work::Put(&ops)).map(|_| ())
    }

    /// The value of `key`, or `None` when absent or expired (whether or not the expiry thread
    /// has removed it yet).
    pub fn get(&self, ns: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_with(ns, key, |v| v.to_vec())
    }

    /// Calls `f` with the value borrowed from the store (no copy), and returns what it returns.
    pub fn get_with<R>(&self, ns: &[u8], key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        let g = self.core()?;
        let core = g.core();
        check_key(core, ns, key)?;
        let now = core.now_ms();
        let ek = EntryKey::new(ns, key);
        core.env.read(|txn| match txn.get(ek.as_bytes())? {
            None => Ok(None),
            Some(v) => {
                let (h, value) = Header::decode(v).ok_or_else(damaged_entry)?;
                Ok(h.is_live(now).then(|| f(value)))
            }
        })
    }

    /// The deadline of a live entry, in milliseconds since the Unix epoch
    /// ([`DEADLINE_NEVER`] for a never-expiring one), or `None`.
    pub fn deadline(&self, ns: &[u8], key: &[u8]) -> Result<Option<u64>> {
        let g = self.core()?;
        let core = g.core();
        check_key(core, ns, key)?;
        let now = core.now_ms();
        let ek = EntryKey::new(ns, key);
        core.env.read(|txn| match txn.get(ek.as_bytes())? {
            None => Ok(None),
            Some(v) => {
                let (h, _) = Header::decode(v).ok_or_else(damaged_entry)?;
                Ok(h.is_live(now).then_some(h.deadline))
            }
        })
    }

    /// Removes `key`; true if a live entry was removed.
    pub fn delete(&self, ns: &[u8], key: &[u8]) -> Result<bool> {
        let g = self.core()?;
        let core = g.core();
        check_key(core, ns, key)?;
        core.committer.submit(core, Work::Delete { ns, key })
    }

    /// Every live key of `ns`, in key order, without the namespace.
    pub fn keys(&self, ns: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        self.scan(ns, |k, _| out.push(k.to_vec()))?;
        Ok(out)
    }

    /// Every live `(key, value)` of `ns`, in key order, from one consistent snapshot.
    pub fn entries(&self, ns: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        self.scan(ns, |k, v| out.push((k.to_vec(), v.to_vec())))?;
        Ok(out)
    }

    fn scan(&self, ns: &[u8], mut f: impl FnMut(&[u8], &[u8])) -> Result<()> {
        let g = self.core()?;
        let core = g.core();
        validate_namespace(ns)?;
        let now = core.now_ms();
        let prefix = crate::codec::namespace_prefix(ns);
        core.env.read(|txn| {
            let mut damaged = false;
            txn.scan_from(&prefix, |k, v| {
                if !k.starts_with(&prefix) {
                    return false;
                }
                match Header::decode(v) {
                    Some((h, value)) if h.is_live(now) => f(&k[prefix.len()..], value),
                    Some(_) => {}
                    None => damaged = true,
                }
                true
            })?;
            if damaged {
                return Err(damaged_entry());
            }
            Ok(())
        })
    }

    /// Removes every entry due now, in bounded batches, without waiting for the expiry thread;
    /// returns how many it removed.
    pub fn purge_expired(&self) -> Result<u64> {
        let g = self.core()?;
        let core = g.core();
        let now = core.now_ms();
        let mut total = 0u64;
        loop {
            let (n, more) = core.remove_due_batch(now)?;
            total += n as u64;
            if !more {
                return Ok(total);
            }
        }
    }

    /// Checks that entries and the deadline index agree, in one snapshot.
    pub fn verify(&self) -> Result<VerifyReport> {
        let g = self.core()?;
        let core = g.core();
        let max_key = core.env.max_key_size();
        core.env.read(|txn| {
            let mut r = VerifyReport::default();
            let problem = |r: &mut VerifyReport, p: String| {
                if r.problems.len() < 100 {
                    r.problems.push(p);
                }
            };
            if let Some(p) = core.env.file_problem()? {
                problem(&mut r, p);
            }
            let mut missing = Vec::new();
            let mut index = Vec::new();
            let mut damaged = Vec::new();
            txn.scan_checked(&[], |k, v| {
                // Every key and value is bounds-checked as it is read: damage is reported and
                // the scan goes on.
                let (k, v) = match (k, v) {
                    (Ok(k), Ok(v)) => (k, v),
                    (Ok(k), Err(e)) => {
                        damaged.push(format!("record {k:?}: {}", e.message()));
                        return true;
                    }
                    (Err(e), _) => {
                        damaged.push(format!("a key: {}", e.message()));
                        return true;
                    }
                };
                if is_index_key(k) {
                    index.push(k.to_vec());
                    return true;
                }
                if crate::env::is_database_record(k) {
                    return true;
                }
                r.entries += 1;
                if split_entry_key(k).is_none() || k.len() + INDEX_OVERHEAD > max_key {
                    problem(&mut r, format!("entry key {k:?} is malformed"));
                }
                match Header::decode(v) {
                    None => problem(&mut r, format!("entry {k:?} has a value shorter than its header")),
                    Some((h, _)) if h.deadline != NEVER => {
                        r.expiring += 1;
                        missing.push(IndexKey::new(h.deadline, k).as_bytes().to_vec());
                    }
                    Some(_) => {}
                }
                true
            })?;
            for d in damaged {
                problem(&mut r, d);
            }
            for ik in &missing {
                if txn.get(ik)?.is_none() {
                    problem(
                        &mut r,
                        format!("entry {:?} has no index record", &ik[INDEX_OVERHEAD..]),
                    );
                }
            }
            r.index_records = index.len() as u64;
            for k in &index {
                match split_index_key(k) {
                    None => problem(&mut r, format!("index record {k:?} is malformed")),
                    Some((d, ek)) => match txn.get(ek)?.and_then(Header::decode) {
                        Some((h, _)) if h.deadline == d => {}
                        _ => problem(
                            &mut r,
                            format!("index record {k:?} points at no entry with that deadline"),
                        ),
                    },
                }
            }
            Ok(r)
        })
    }

    /// Counters of the background work, and the map's size.
    pub fn stats(&self) -> Result<Stats> {
        let g = self.core()?;
        let core = g.core();
        let c = &core.counters;
        let stats = Stats {
            expired_removed: c.expired_removed.load(Ordering::Relaxed),
            expiry_batches: c.expiry_batches.load(Ordering::Relaxed),
            expiry_panics: c.expiry_panics.load(Ordering::Relaxed),
            expiry_errors: c.expiry_errors.load(Ordering::Relaxed),
            last_expiry_error: c.last_error.lock().clone(),
            readers_reclaimed: c.readers_reclaimed.load(Ordering::Relaxed),
            write_commits: c.write_commits.load(Ordering::Relaxed),
            write_calls: c.write_calls.load(Ordering::Relaxed),
            map_size: core.env.map_size() as u64,
            used_bytes: core.env.used_bytes() as u64,
            pooled_readers: core.env.pooled_readers() as u64,
        };
        Ok(stats)
    }

    /// The random 128-bit id made when the store was created.
    pub fn store_id(&self) -> Result<[u8; 16]> {
        Ok(self.core()?.core().env.meta_info.store_id)
    }

    /// The longest key `ns` takes (it depends on the namespace's length).
    pub fn max_key_len(&self, ns: &[u8]) -> Result<usize> {
        let g = self.core()?;
        validate_namespace(ns)?;
        Ok(max_key_len(g.core(), ns))
    }

    /// Flushes committed data to disk now (useful in `periodic` mode before a planned stop).
    pub fn sync(&self) -> Result<()> {
        self.core()?.core().env.sync()
    }

    /// Test hook: the next iteration of the expiry thread panics (it must survive).
    #[doc(hidden)]
    pub fn debug_inject_expiry_panic(&self) -> Result<()> {
        let g = self.core()?;
        g.core().inject_panic.store(true, Ordering::SeqCst);
        let _ = g.core().wake_tx.try_send(());
        Ok(())
    }
}

struct CoreGuard<'a>(RwLockReadGuard<'a, Option<Arc<Shared>>>);

impl CoreGuard<'_> {
    #[inline]
    fn core(&self) -> &Core {
        // The guard is only made when the option is Some.
        &self.0.as_ref().expect("checked in Store::core").core
    }
}

fn damaged_entry() -> Error {
    Error::new(
        ErrorKind::Corrupted,
        "an entry's value is shorter than its header",
    )
}

fn max_key_len(core: &Core, ns: &[u8]) -> usize {
    // The index key is the longest: prefix (1) + deadline (8) + ns_len (1) + ns + key.
    core.env.max_key_size().min(ENTRY_KEY_CAP - 1) - INDEX_OVERHEAD - 1 - ns.len()
}

#[inline]
fn check_key(core: &Core, ns: &[u8], key: &[u8]) -> Result<()> {
    validate_namespace(ns)?;
    let max = max_key_len(core, ns);
    if key.len() > max {
        return Err(Error::new(
            ErrorKind::KeyTooLong,
            format!(
                "a key of {} bytes is too long: in a namespace of {} bytes keys are at most {max} bytes",
                key.len(),
                ns.len()
            ),
        ));
    }
    Ok(())
}

#[inline]
fn check_record(core: &Core, ns: &[u8], key: &[u8], value: &[u8]) -> Result<()> {
    check_key(core, ns, key)?;
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::new(
            ErrorKind::ValueTooLarge,
            format!(
                "a value of {} bytes is over the limit of {MAX_VALUE_LEN} bytes (1 GiB)",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// A namespace of a store with a default TTL (Pow's `namespace` and `ttl` config).
#[derive(Clone, Debug)]
pub struct Namespace {
    store: Store,
    name: Vec<u8>,
    ttl: Duration,
}

impl Namespace {
    /// The namespace's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }
    /// The default TTL of puts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
    /// The store this namespace belongs to.
    pub fn store(&self) -> &Store {
        &self.store
    }
    /// Puts with the namespace's default TTL.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.store.put(&self.name, key, value, self.ttl)
    }
    /// Puts with another TTL.
    pub fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        self.store.put(&self.name, key, value, ttl)
    }
    /// Puts every `(key, value)` with the default TTL in one transaction.
    pub fn put_many(&self, records: &[(&[u8], &[u8])]) -> Result<()> {
        let ttl = ttl_ms(self.ttl)?;
        let ops: Vec<_> = records
            .iter()
            .map(|&(k, v)| (&self.name[..], k, v, ttl))
            .collect();
        self.store.put_many_ms(&ops)
    }
    /// See [`Store::get`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.store.get(&self.name, key)
    }
    /// See [`Store::deadline`].
    pub fn deadline(&self, key: &[u8]) -> Result<Option<u64>> {
        self.store.deadline(&self.name, key)
    }
    /// See [`Store::delete`].
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        self.store.delete(&self.name, key)
    }
    /// See [`Store::keys`].
    pub fn keys(&self) -> Result<Vec<Vec<u8>>> {
        self.store.keys(&self.name)
    }
    /// See [`Store::entries`].
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.store.entries(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_sub_millisecond_up_and_rejects_zero() {
        assert_eq!(ttl_ms(Duration::from_micros(1)).unwrap(), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1500)).unwrap(), 2);
        assert_eq!(ttl_ms(Duration::from_millis(7)).unwrap(), 7);
        assert_eq!(ttl_ms(TTL_NEVER).unwrap(), NEVER);
        assert_eq!(ttl_ms(Duration::ZERO).unwrap_err().kind(), ErrorKind::TtlInvalid);
        assert_eq!(deadline_for(10, NEVER - 1).unwrap(), NEVER - 1);
        assert_eq!(deadline_for(10, 5).unwrap(), 15);
    }
}
