//! The engine: every write operation's logic, the state one open environment shares between
//! its handles and its expiry thread, and the reports it produces. It knows nothing of handles
//! or of C; `store` is its public face.

pub(crate) mod commit;
pub(crate) mod expiry;
mod ops;
pub(crate) mod registry;
mod verify;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use crate::clock::Clock;
use crate::codec::{is_index_key, split_index_key, Header, Settings, INDEX_PREFIX, NEVER, SETTINGS_KEY};
use crate::env::{Env, WriteKind, WriteTxn};
use crate::error::{ErrorKind, Result};
use crate::options::Durability;
use commit::{Committer, Weigh};

/// A version is `now_ms << VERSION_SHIFT | (transaction id mod 2^VERSION_SHIFT)`: ordered by
/// wall-clock time (what last-writer-wins between stores needs), and distinct for two
/// transactions in one millisecond (their ids differ by less than 2^22), in any process.
const VERSION_SHIFT: u32 = 22;

/// One validated record to write.
pub(crate) struct PutOp<'a> {
    pub ns: &'a [u8],
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub deadline: u64,
}

/// A writer's request, validated by the store layer. Each is atomic; the records of one `Put`
/// are atomic together. Adding a write operation is a variant here, its [`Outcome`], and its
/// function in `ops.rs` called from [`Core::apply`].
pub(crate) enum Work<'a> {
    Put(&'a [PutOp<'a>]),
    Delete {
        ns: &'a [u8],
        key: &'a [u8],
    },
    DeleteMany {
        ns: &'a [u8],
        keys: &'a [&'a [u8]],
    },
    Touch {
        ns: &'a [u8],
        key: &'a [u8],
        deadline: u64,
    },
    /// Put only if no live entry has the key.
    Add(PutOp<'a>),
    /// Put only if the live entry has this version (`None`: only if there is none).
    PutIfVersion {
        op: PutOp<'a>,
        expected: Option<u64>,
    },
    /// Add `delta`; a missing key is created with this deadline, or left missing (`None`).
    Incr {
        ns: &'a [u8],
        key: &'a [u8],
        delta: i64,
        create: Option<u64>,
    },
    Take {
        ns: &'a [u8],
        key: &'a [u8],
    },
    /// The store-wide size bound (0: none) and whether passing it evicts.
    SetBound {
        max_bytes: u64,
        evict: bool,
    },
    /// Whether deletes leave tombstones (the store replicates).
    SetReplicated(bool),
    /// Records of other stores (or this one's, sent back): each is written unless the stored
    /// entry is newer or equal by `(version, origin)`, or it has expired.
    Merge(&'a [MergeOp<'a>]),
}

/// One validated record to merge: a peer's entry or tombstone with its order.
pub(crate) struct MergeOp<'a> {
    pub ns: &'a [u8],
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub deadline: u64,
    pub version: u64,
    pub origin: u64,
    pub tombstone: bool,
}

/// What a [`Work`] gives back (the variant its operation documents).
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Put, delete, touch, add: whether it was done (a live entry removed, touched, added).
    Done(bool),
    /// DeleteMany: how many live entries went.
    Count(u64),
    /// Incr: the new value, or `None` for a missing key that was not to be created.
    Counter(Option<i64>),
    /// Take: the value of the live entry removed.
    Value(Option<Vec<u8>>),
    /// PutIfVersion: the new version, or `None` for a conflict.
    Version(Option<u64>),
}

impl Outcome {
    /// The answer of an operation documented to give [`Outcome::Done`].
    pub(crate) fn done(self) -> bool {
        matches!(self, Outcome::Done(true))
    }
}

impl Weigh for Work<'_> {
    type Output = Outcome;

    fn bytes(&self) -> usize {
        match self {
            Work::Put(ops) => ops.iter().map(|o| o.key.len() + o.value.len()).sum(),
            Work::Add(op) | Work::PutIfVersion { op, .. } => op.key.len() + op.value.len(),
            Work::DeleteMany { keys, .. } => keys.iter().map(|k| k.len()).sum(),
            Work::Merge(ops) => ops.iter().map(|o| o.key.len() + o.value.len()).sum(),
            _ => 0,
        }
    }

    fn records(&self) -> usize {
        match self {
            Work::Put(ops) => ops.len(),
            Work::DeleteMany { keys, .. } => keys.len(),
            Work::Merge(ops) => ops.len(),
            _ => 1,
        }
    }
}

impl Work<'_> {
    /// Whether the work may add data (and so may not use the room kept for deletes).
    fn fills(&self) -> bool {
        !matches!(
            self,
            Work::Delete { .. } | Work::DeleteMany { .. } | Work::Take { .. }
        )
    }

    /// The earliest deadline the work may write (for the expiry thread's wake-up).
    fn min_deadline(&self) -> u64 {
        match self {
            Work::Put(ops) => ops.iter().map(|o| o.deadline).min().unwrap_or(NEVER),
            Work::Add(op) | Work::PutIfVersion { op, .. } => op.deadline,
            Work::Touch { deadline, .. } => *deadline,
            Work::Incr { create: Some(d), .. } => *d,
            Work::Merge(ops) => ops.iter().map(|o| o.deadline).min().unwrap_or(NEVER),
            _ => NEVER,
        }
    }
}

/// What one write transaction knows while it applies its jobs.
pub(crate) struct TxnCtx {
    /// The store's "now" for every job of the transaction.
    pub now: u64,
    /// The store-wide settings, read in the transaction.
    pub settings: Settings,
    /// The version of this transaction's writes (see [`VERSION_SHIFT`]); every entry an
    /// earlier transaction wrote has a lower one, barring a step back of the wall clock.
    pub first_version: u64,
    /// This store's origin (the order's tie-break between stores).
    pub origin: u64,
    /// The settings changed (a larger TTL noted): the record is written before the commit.
    pub settings_dirty: bool,
}

/// The wall-clock milliseconds a version was made at.
#[inline]
pub(crate) fn version_ms(version: u64) -> u64 {
    version >> VERSION_SHIFT
}

/// How much longer than every write it must beat a tombstone lives (milliseconds).
pub(crate) const TOMBSTONE_MARGIN_MS: u64 = 60_000;
/// The TTL a tombstone assumes for the writes it must beat when the store has seen no write
/// at all (a fresh node deleting a key only its peers hold): a day.
pub(crate) const TOMBSTONE_UNKNOWN_TTL_MS: u64 = 86_400_000;

impl TxnCtx {
    /// The version for a record that had `old` (or none): the transaction's, or the key's
    /// own plus one when that is higher (after a step back of the clock), so that a key's
    /// versions only grow.
    #[inline]
    pub(crate) fn version(&self, old: Option<u64>) -> u64 {
        self.first_version.max(old.map_or(0, |o| o.saturating_add(1)))
    }
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
    /// Entries evicted to keep the store within its size bound, by this process.
    pub evicted: u64,
    /// Bytes of the B-tree's pages (what the size bound `max_bytes` bounds).
    pub tree_bytes: u64,
    /// 1 when this process's open verified the whole store first (the machine had not shut
    /// down cleanly since the store's last flush), else 0.
    pub verified_at_open: u64,
    /// 1 when this process's open found the store damaged and reset it
    /// ([`crate::OnCorruption::Reset`]), else 0.
    pub corruption_resets: u64,
    /// 1 when this process's open returned the store to its last flush after a crash of the
    /// machine (periodic mode: the later, unflushed commits are dropped), else 0.
    pub rolled_back_at_open: u64,
    /// Idle read transactions this process keeps for reuse, each holding one of the reader
    /// slots every process shares; given back when the process stops reading.
    pub pooled_readers: u64,
}

/// Reads one counter out of a [`Stats`].
pub type StatReader = fn(&Stats) -> u64;

impl Stats {
    /// Every numeric counter, by name, in the order of the C ABI's `TTLKV_STAT_*` numbers:
    /// the one table `ttlkv_stat`, `ttlkv_stat_name` and the bindings' `stats()` are made from.
    /// A new counter is appended here (and its number added to the ABI), never inserted.
    pub const COUNTERS: &'static [(&'static str, StatReader)] = &[
        ("expired_removed", |s| s.expired_removed),
        ("expiry_batches", |s| s.expiry_batches),
        ("expiry_panics", |s| s.expiry_panics),
        ("expiry_errors", |s| s.expiry_errors),
        ("readers_reclaimed", |s| s.readers_reclaimed),
        ("map_size", |s| s.map_size),
        ("used_bytes", |s| s.used_bytes),
        ("write_commits", |s| s.write_commits),
        ("write_calls", |s| s.write_calls),
        ("pooled_readers", |s| s.pooled_readers),
        ("evicted", |s| s.evicted),
        ("tree_bytes", |s| s.tree_bytes),
        ("verified_at_open", |s| s.verified_at_open),
        ("corruption_resets", |s| s.corruption_resets),
        ("rolled_back_at_open", |s| s.rolled_back_at_open),
    ];
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
    pub evicted: AtomicU64,
    pub verified_at_open: AtomicU64,
    pub corruption_resets: AtomicU64,
    pub rolled_back_at_open: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// What one open environment shares between its handles and its expiry thread.
pub(crate) struct Core {
    pub env: Env,
    pub clock: Clock,
    pub durability: Durability,
    pub expiry_batch: usize,
    /// The expiry thread's longest sleep ([`crate::Options::expiry_max_sleep`]).
    pub expiry_max_sleep: std::time::Duration,
    /// The batch the expiry work uses now: halved when a batch finds no room (a store full at
    /// its maximum), grown back as batches succeed.
    expiry_batch_now: std::sync::atomic::AtomicUsize,
    pub counters: Counters,
    /// Where the damaged store this environment replaced went (`OnCorruption::Reset`).
    pub reset_from: Mutex<Option<std::path::PathBuf>>,
    pub(crate) committer: Committer<Work<'static>>,
    /// The settings the last write of this process left, with that transaction's id (0:
    /// none): the next write reads the record only when another write came between.
    pub(crate) settings_cache: Mutex<(u64, Settings)>,
    high_water: AtomicU64,
    /// This store's origin: the first 8 bytes of its id.
    pub origin: u64,
    /// The highest version merged from another store: this process's writes get higher ones
    /// (the hybrid logical clock's "advance to the remote time").
    pub hlc: AtomicU64,
    /// The deadline the expiry thread will wake for; writers lower it (never raise it).
    pub next_wake: AtomicU64,
    pub wake_tx: Sender<()>,
    pub shutdown: AtomicBool,
    pub inject_panic: AtomicBool,
}

impl Core {
    /// Applies `work` durably (as the durability mode defines it), sharing one transaction and
    /// one commit with the writers queued beside it.
    pub(crate) fn write(&self, work: Work<'_>) -> Result<Outcome> {
        // SAFETY: the lifetime is erased only for the committer's queue: `submit` returns only
        // once the job is done, and no one touches the job after that.
        let work: Work<'static> = unsafe { std::mem::transmute::<Work<'_>, Work<'static>>(work) };
        self.committer.submit(work, |batch| self.apply_batch(batch))
    }

    /// Applies a batch in one transaction. If the map (or the size bound, without eviction) is
    /// full, falls back to one transaction per job so that one large job does not fail the
    /// small ones beside it. A job's own failure (a value that is no counter) fails that job
    /// alone and writes nothing of it.
    fn apply_batch(&self, jobs: &[&Work<'_>]) -> Vec<Result<Outcome>> {
        match self.apply_together(jobs) {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::Full && jobs.len() > 1 => jobs
                .iter()
                .map(|j| match self.apply_together(std::slice::from_ref(j)) {
                    Ok(mut r) => r.pop().expect("one result per job"),
                    Err(e) => Err(e),
                })
                .collect(),
            Err(e) => jobs.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn apply_together(&self, jobs: &[&Work<'_>]) -> Result<Vec<Result<Outcome>>> {
        let now = self.now_ms();
        // A batch that adds anything may not eat into the room kept for deletes.
        let fills = jobs.iter().any(|j| j.fills());
        let kind = if fills { WriteKind::Fills } else { WriteKind::Frees };
        let mut evicted = 0u64;
        let mut left = None;
        let results = self.env.write(kind, |txn| {
            evicted = 0;
            let mut ctx = self.txn_ctx(txn, now)?;
            let mut results = Vec::with_capacity(jobs.len());
            for j in jobs {
                results.push(self.apply(txn, &mut ctx, j)?);
            }
            if fills && ctx.settings.max_bytes > 0 {
                evicted = self.keep_bound(txn, &ctx)?;
            }
            if ctx.settings_dirty {
                txn.put(SETTINGS_KEY, &ctx.settings.encode())?;
            }
            left = Some((txn.id(), ctx.settings));
            Ok(results)
        })?;
        if let Some((id, settings)) = left {
            if self.env.committed(id) {
                *self.settings_cache.lock() = (id, settings);
            }
        }
        self.counters.write_commits.fetch_add(1, Ordering::Relaxed);
        if self.env.flush_due() {
            let _ = self.wake_tx.try_send(());
        }
        self.counters
            .write_calls
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        self.counters.evicted.fetch_add(evicted, Ordering::Relaxed);
        let min_deadline = jobs.iter().map(|j| j.min_deadline()).min().unwrap_or(NEVER);
        if min_deadline != NEVER {
            self.note_deadline(min_deadline);
        }
        Ok(results)
    }

    /// The context of a write transaction: its settings and its first version.
    pub(crate) fn txn_ctx(&self, txn: &WriteTxn<'_>, now: u64) -> Result<TxnCtx> {
        let cached = {
            let mut c = self.settings_cache.lock();
            // The last commit of any process was ours (see Env::committed): its settings are
            // the stored ones. Taken, not cloned: the transaction hands them back if it commits.
            (c.0 != 0 && txn.id() == c.0 + 1).then(|| std::mem::take(&mut *c).1)
        };
        let settings = match cached {
            Some(s) => s,
            None => match txn.get(SETTINGS_KEY)? {
                None => Settings::default(),
                Some(v) => Settings::decode(v).ok_or_else(|| {
                    crate::error::Error::new(
                        ErrorKind::Corrupted,
                        "the store's settings record is damaged (run verify)",
                    )
                })?,
            },
        };
        let first_version = ((now << VERSION_SHIFT) | (txn.id() & ((1 << VERSION_SHIFT) - 1)))
            .max(self.hlc.load(Ordering::Relaxed).saturating_add(1));
        Ok(TxnCtx {
            now,
            settings,
            first_version,
            origin: self.origin,
            settings_dirty: false,
        })
    }

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
