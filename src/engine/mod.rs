//! The engine: every write operation's logic, the state one open environment shares between
//! its handles and its expiry thread, and the reports it produces. It knows nothing of handles
//! or of C; `store` is its public face.

pub(crate) mod commit;
pub(crate) mod expiry;
pub(crate) mod registry;
mod verify;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use crate::clock::Clock;
use crate::codec::{
    is_index_key, split_index_key, EntryKey, Header, IndexKey, HEADER_LEN, INDEX_PREFIX, NEVER,
};
use crate::env::{Env, WriteKind, WriteTxn};
use crate::error::{ErrorKind, Result};
use crate::options::Durability;
use commit::{Committer, Weigh};

/// One validated record to write.
pub(crate) struct PutOp<'a> {
    pub ns: &'a [u8],
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub deadline: u64,
}

/// A writer's request. The records of one `Put` are atomic together. Adding an operation is
/// a variant here and its arm in [`Core::apply_batch`].
pub(crate) enum Work<'a> {
    Put(&'a [PutOp<'a>]),
    Delete { ns: &'a [u8], key: &'a [u8] },
}

impl Weigh for Work<'_> {
    fn bytes(&self) -> usize {
        match self {
            Work::Put(ops) => ops.iter().map(|o| o.key.len() + o.value.len()).sum(),
            Work::Delete { .. } => 0,
        }
    }
}

impl Work<'_> {
    /// Whether the work may add data (and so may not use the room kept for deletes).
    fn fills(&self) -> bool {
        matches!(self, Work::Put(_))
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
    pub(crate) committer: Committer<Work<'static>>,
    hlc: AtomicU64,
    high_water: AtomicU64,
    /// The deadline the expiry thread will wake for; writers lower it (never raise it).
    pub next_wake: AtomicU64,
    pub wake_tx: Sender<()>,
    pub shutdown: AtomicBool,
    pub inject_panic: AtomicBool,
}

impl Core {
    /// Applies `work` durably (as the durability mode defines it), sharing one transaction and
    /// one commit with the writers queued beside it; for a delete, whether a live entry went.
    pub(crate) fn write(&self, work: Work<'_>) -> Result<bool> {
        // SAFETY: the lifetime is erased only for the committer's queue: `submit` returns only
        // once the job is done, and no one touches the job after that.
        let work: Work<'static> = unsafe { std::mem::transmute::<Work<'_>, Work<'static>>(work) };
        self.committer.submit(work, |batch| self.apply_batch(batch))
    }

    /// Applies a batch in one transaction. If the map is full at its maximum, falls back to one
    /// transaction per job so that one large job does not fail the small ones beside it.
    fn apply_batch(&self, jobs: &[&Work<'_>]) -> Vec<Result<bool>> {
        match self.apply_together(jobs) {
            Ok(r) => r.into_iter().map(Ok).collect(),
            Err(e) if e.kind() == ErrorKind::Full && jobs.len() > 1 => jobs
                .iter()
                .map(|j| {
                    self.apply_together(std::slice::from_ref(j))
                        .map(|mut r| r.pop().unwrap_or(false))
                })
                .collect(),
            Err(e) => jobs.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn apply_together(&self, jobs: &[&Work<'_>]) -> Result<Vec<bool>> {
        let now = self.now_ms();
        let mut min_deadline = NEVER;
        // A batch that adds anything may not eat into the room kept for deletes.
        let kind = if jobs.iter().any(|j| j.fills()) {
            WriteKind::Fills
        } else {
            WriteKind::Frees
        };
        let results = self.env.write(kind, |txn| {
            let mut results = Vec::with_capacity(jobs.len());
            for j in jobs {
                match j {
                    Work::Put(ops) => {
                        for op in ops.iter() {
                            self.apply_put(txn, op.ns, op.key, op.value, op.deadline, now)?;
                            min_deadline = min_deadline.min(op.deadline);
                        }
                        results.push(true);
                    }
                    Work::Delete { ns, key } => results.push(self.apply_delete(txn, ns, key, now)?),
                }
            }
            Ok(results)
        })?;
        self.counters.write_commits.fetch_add(1, Ordering::Relaxed);
        self.counters
            .write_calls
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        if min_deadline != NEVER {
            self.note_deadline(min_deadline);
        }
        Ok(results)
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
