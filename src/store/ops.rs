//! The cache operations of [`Store`] beyond put/get/delete: conditional and atomic writes
//! (touch, add, incr, take, put_if_version), many keys at once, whole namespaces, paging, the
//! size bound, and backup. Each checks its input (limits.rs) and hands the engine one
//! [`Work`]; reads run in one snapshot here.

use std::path::Path;
use std::time::Duration;

use super::{check_key, check_record, damaged_entry, Store};
use crate::codec::{namespace_prefix, split_entry_key, EntryKey, Header, Settings, SETTINGS_KEY};
use crate::engine::{Outcome, PutOp, Work};
use crate::error::{Error, ErrorKind, Result};
use crate::limits::{self, deadline_for, ttl_ms};
use crate::options::Eviction;

/// Entries `clear` removes per write transaction: a namespace of millions of entries is many
/// bounded transactions, never one giant one.
const CLEAR_BATCH: usize = 10_000;

/// A value and the version of the entry that holds it ([`Store::get_versioned`]).
pub type Versioned = (Vec<u8>, u64);

/// One live entry as [`Store::for_each_entry`] shows it, borrowed from the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// Its namespace.
    pub namespace: &'a [u8],
    /// Its key.
    pub key: &'a [u8],
    /// Its value.
    pub value: &'a [u8],
    /// Its deadline in milliseconds since the Unix epoch ([`crate::DEADLINE_NEVER`] for never).
    pub deadline: u64,
    /// Its version (see [`Store::get_versioned`]).
    pub version: u64,
}

/// One record of [`Store::put_many_until`]: `(namespace, key, value, deadline_ms)`, the
/// deadline absolute (milliseconds since the Unix epoch, [`crate::DEADLINE_NEVER`] for never).
pub type RecordAt<'a> = (&'a [u8], &'a [u8], &'a [u8], u64);

/// A slot of the reader table every process shares ([`Store::readers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderSlot {
    /// The process holding it.
    pub pid: u32,
    /// Its thread (an opaque number).
    pub thread: u64,
    /// The transaction id of the snapshot it reads; `None` for a slot kept idle for reuse.
    pub txnid: Option<u64>,
}

impl Store {
    /// Gives the live entry `key` a new deadline (now + `ttl`) without rewriting its value;
    /// false when there is none. The entry's version does not change (its value did not).
    pub fn touch(&self, ns: &[u8], key: &[u8], ttl: Duration) -> Result<bool> {
        self.touch_ms(ns, key, ttl_ms(ttl)?)
    }

    /// [`Store::touch`] with the TTL in milliseconds.
    pub fn touch_ms(&self, ns: &[u8], key: &[u8], ttl_ms: u64) -> Result<bool> {
        let g = self.core()?;
        let core = g.core();
        check_key(core, ns, key)?;
        let deadline = deadline_for(core.now_ms(), ttl_ms)?;
        core.write(Work::Touch { ns, key, deadline }).map(Outcome::done)
    }

    /// Writes `key` only if no live entry has it (an expired entry not yet removed counts as
    /// absent); true if written. Atomic across threads and processes.
    pub fn add(&self, ns: &[u8], key: &[u8], value: &[u8], ttl: Duration) -> Result<bool> {
        self.add_ms(ns, key, value, ttl_ms(ttl)?)
    }

    /// [`Store::add`] with the TTL in milliseconds.
    pub fn add_ms(&self, ns: &[u8], key: &[u8], value: &[u8], ttl_ms: u64) -> Result<bool> {
        let g = self.core()?;
        let core = g.core();
        check_record(core, ns, key, value)?;
        let deadline = deadline_for(core.now_ms(), ttl_ms)?;
        core.write(Work::Add(PutOp {
            ns,
            key,
            value,
            deadline,
        }))
        .map(Outcome::done)
    }

    /// Adds `delta` to the counter `key` and returns the new value, atomically. Counters are
    /// stored as ASCII decimal signed 64-bit integers (`b"42"`), so every language reads them.
    /// An existing counter keeps its deadline. A missing key is created with the value
    /// `delta` and the TTL `create`, or, with `create` `None`, left missing (`Ok(None)`). A
    /// value that is no counter ([`ErrorKind::NotACounter`]) or a sum out of range
    /// ([`ErrorKind::Overflow`]) is an error and changes nothing. `decr` is a negative delta.
    pub fn incr(&self, ns: &[u8], key: &[u8], delta: i64, create: Option<Duration>) -> Result<Option<i64>> {
        self.incr_ms(ns, key, delta, create.map(ttl_ms).transpose()?)
    }

    /// [`Store::incr`] with the TTL of a created counter in milliseconds.
    pub fn incr_ms(
        &self,
        ns: &[u8],
        key: &[u8],
        delta: i64,
        create_ttl_ms: Option<u64>,
    ) -> Result<Option<i64>> {
        let g = self.core()?;
        let core = g.core();
        check_key(core, ns, key)?;
        let create = match create_ttl_ms {
            Some(ttl) => Some(deadline_for(core.now_ms(), ttl)?),
            None => None,
        };
        match core.write(Work::Incr {
            ns,
            key,
            delta,
            create,
        })? {
            Outcome::Counter(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// Removes the live entry `key` and returns its value, atomically: of two processes taking
    /// the same key, one gets the value.
    pub fn take(&self, ns: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>> {
        let g = self.core()?;
        let core = g.core();
        check_key(core, ns, key)?;
        match core.write(Work::Take { ns, key })? {
            Outcome::Value(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// The value of a live entry and its version: a number that changes with every write of
    /// the entry's value (put, add, incr, put_if_version; not touch), never repeats for a key,
    /// and is never 0.
    pub fn get_versioned(&self, ns: &[u8], key: &[u8]) -> Result<Option<Versioned>> {
        self.read_live(ns, key, |h, value| (value.to_vec(), h.version))
    }

    /// Writes `key` only if its live entry has version `expected` (from
    /// [`Store::get_versioned`]), or, with `expected` `None`, only if it has no live entry.
    /// Returns the new version, or `None` when the condition failed (a conflict: nothing was
    /// written). Compare-and-set across threads and processes.
    pub fn put_if_version(
        &self,
        ns: &[u8],
        key: &[u8],
        value: &[u8],
        ttl: Duration,
        expected: Option<u64>,
    ) -> Result<Option<u64>> {
        self.put_if_version_ms(ns, key, value, ttl_ms(ttl)?, expected)
    }

    /// [`Store::put_if_version`] with the TTL in milliseconds.
    pub fn put_if_version_ms(
        &self,
        ns: &[u8],
        key: &[u8],
        value: &[u8],
        ttl_ms: u64,
        expected: Option<u64>,
    ) -> Result<Option<u64>> {
        let g = self.core()?;
        let core = g.core();
        check_record(core, ns, key, value)?;
        let deadline = deadline_for(core.now_ms(), ttl_ms)?;
        let op = PutOp {
            ns,
            key,
            value,
            deadline,
        };
        match core.write(Work::PutIfVersion { op, expected })? {
            Outcome::Version(v) => Ok(v),
            other => Err(unexpected(other)),
        }
    }

    /// The values of `keys` (`None` for absent or expired ones), in order, from one snapshot.
    pub fn get_many(&self, ns: &[u8], keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut out = Vec::with_capacity(keys.len());
        self.get_many_with(ns, keys, |_, v| out.push(v.map(<[u8]>::to_vec)))?;
        Ok(out)
    }

    /// [`Store::get_many`] that lends each value instead of copying it: `f(i, value)` for every
    /// key `i` in order (`None` for absent or expired ones), from one snapshot.
    pub fn get_many_with(
        &self,
        ns: &[u8],
        keys: &[&[u8]],
        mut f: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<()> {
        let g = self.core()?;
        let core = g.core();
        limits::keys_per_call("get_many of", keys.len(), true)?;
        for key in keys {
            check_key(core, ns, key)?;
        }
        let now = core.now_ms();
        core.env.read(|txn| {
            for (i, key) in keys.iter().enumerate() {
                let found = match txn.get(EntryKey::new(ns, key).as_bytes())? {
                    None => None,
                    Some(v) => {
                        let (h, value) = Header::decode(v).ok_or_else(damaged_entry)?;
                        h.is_live(now).then_some(value)
                    }
                };
                f(i, found);
            }
            Ok(())
        })
    }

    /// Removes `keys` in one transaction; returns how many live entries went.
    pub fn delete_many(&self, ns: &[u8], keys: &[&[u8]]) -> Result<u64> {
        let g = self.core()?;
        let core = g.core();
        limits::keys_per_call("delete_many of", keys.len(), true)?;
        for key in keys {
            check_key(core, ns, key)?;
        }
        if keys.is_empty() {
            return Ok(0);
        }
        match core.write(Work::DeleteMany { ns, keys })? {
            Outcome::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// Removes every entry of `ns`, in transactions of at most 10,000 entries (readers and
    /// other writers go on between them; an entry written meanwhile may survive). Returns how
    /// many live entries went.
    pub fn clear(&self, ns: &[u8]) -> Result<u64> {
        let g = self.core()?;
        let core = g.core();
        limits::namespace(ns)?;
        let mut total = 0;
        loop {
            let (live, more) = core.clear_batch(ns, CLEAR_BATCH)?;
            total += live;
            if !more {
                return Ok(total);
            }
        }
    }

    /// How many live entries `ns` has (one snapshot; it reads every entry of the namespace).
    pub fn count(&self, ns: &[u8]) -> Result<u64> {
        let mut n = 0;
        self.scan_namespace(ns, |_, _| n += 1)?;
        Ok(n)
    }

    /// Every namespace that has a live entry, in byte order (one snapshot).
    pub fn namespaces(&self) -> Result<Vec<Vec<u8>>> {
        let g = self.core()?;
        let core = g.core();
        let now = core.now_ms();
        core.env.read(|txn| {
            let mut out: Vec<Vec<u8>> = Vec::new();
            let mut from = SETTINGS_KEY.to_vec();
            loop {
                // The first entry at or after `from`, and whether its namespace has a live one.
                let mut current: Option<Vec<u8>> = None;
                let mut live = false;
                let mut damaged = false;
                txn.scan_from(&from, |k, v| {
                    let Some((ns, _)) = split_entry_key(k) else {
                        return current.is_none(); // the settings and meta records
                    };
                    match &current {
                        None => current = Some(ns.to_vec()),
                        Some(c) if c.as_slice() != ns => return false,
                        Some(_) => {}
                    }
                    match Header::decode(v) {
                        Some((h, _)) => live = h.is_live(now),
                        None => damaged = true,
                    }
                    !live && !damaged
                })?;
                if damaged {
                    return Err(damaged_entry());
                }
                let Some(ns) = current else { break };
                if live {
                    out.push(ns.clone());
                }
                match next_namespace_start(&ns) {
                    Some(next) => from = next,
                    None => break,
                }
            }
            // Stored by length first (keys are length-prefixed); callers get byte order.
            out.sort();
            Ok(out)
        })
    }

    /// At most `limit` live entries of `ns` whose keys start with `prefix`, in key order,
    /// strictly after the key `after` (the last key of the previous page; `None` for the first
    /// page), from one snapshot. A page shorter than `limit` is the last.
    pub fn scan(
        &self,
        ns: &[u8],
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let g = self.core()?;
        let core = g.core();
        limits::namespace(ns)?;
        limits::keys_per_call("a scan limit of", limit, false)?;
        let now = core.now_ms();
        let mut start = namespace_prefix(ns);
        let ns_len = start.len();
        match after {
            Some(a) if a >= prefix => start.extend_from_slice(a),
            _ => start.extend_from_slice(prefix),
        }
        let mut full = start.clone();
        full.truncate(ns_len);
        full.extend_from_slice(prefix);
        core.env.read(|txn| {
            let mut out = Vec::new();
            let mut damaged = false;
            txn.scan_from(&start, |k, v| {
                if !k.starts_with(&full) {
                    return false;
                }
                let key = &k[ns_len..];
                if after.is_some_and(|a| key <= a) {
                    return true;
                }
                match Header::decode(v) {
                    Some((h, value)) if h.is_live(now) => out.push((key.to_vec(), value.to_vec())),
                    Some(_) => {}
                    None => damaged = true,
                }
                !damaged && out.len() < limit
            })?;
            if damaged {
                return Err(damaged_entry());
            }
            Ok(out)
        })
    }

    /// Bounds the bytes of the store's B-tree (`Stats::tree_bytes`) at `max_bytes` (`None`:
    /// no bound), for every process: the bound is stored in the store. A write that would
    /// pass it evicts entries first ([`Eviction::SoonestDeadline`]) or fails with
    /// [`ErrorKind::Full`] ([`Eviction::None`]). Lowering the bound with eviction evicts
    /// before this returns, in transactions of at most 10,000 entries. A bound below
    /// `max_map_size` also keeps the room deletes and expiry need.
    pub fn set_max_bytes(&self, max_bytes: Option<u64>, eviction: Eviction) -> Result<()> {
        let g = self.core()?;
        let core = g.core();
        let max_bytes = max_bytes.map(limits::max_bytes).transpose()?.unwrap_or(0);
        let bound = Work::SetBound {
            max_bytes,
            evict: eviction == Eviction::SoonestDeadline,
        };
        core.write(bound)?;
        // A bound far below the store's size: evict in bounded transactions until it holds
        // (each write of the bound evicts at most EVICT_MAX_PER_TXN entries).
        if eviction == Eviction::None || max_bytes == 0 {
            return Ok(());
        }
        loop {
            let before = core.counters.evicted.load(std::sync::atomic::Ordering::Relaxed);
            if core.env.read_unpooled(|t| t.tree_bytes())? <= max_bytes {
                break;
            }
            core.write(Work::SetBound {
                max_bytes,
                evict: true,
            })?;
            if core.counters.evicted.load(std::sync::atomic::Ordering::Relaxed) == before {
                break; // nothing left to evict (another process may be racing: fine)
            }
        }
        Ok(())
    }

    /// The store's size bound and what passing it does.
    pub fn max_bytes(&self) -> Result<(Option<u64>, Eviction)> {
        let s = self.settings()?;
        let eviction = if s.evict {
            Eviction::SoonestDeadline
        } else {
            Eviction::None
        };
        Ok(((s.max_bytes > 0).then_some(s.max_bytes), eviction))
    }

    pub(super) fn settings(&self) -> Result<Settings> {
        let g = self.core()?;
        g.core().env.read(|txn| match txn.get(SETTINGS_KEY)? {
            None => Ok(Settings::default()),
            Some(v) => Settings::decode(v)
                .ok_or_else(|| Error::new(ErrorKind::Corrupted, "the store's settings record is damaged")),
        })
    }

    /// Copies the store into the directory `dest` (created when absent, else it must be
    /// empty) from one snapshot, while readers and writers go on. The copy is a store with
    /// every entry, deadline and setting. `compact` leaves free pages out, so the copy's file
    /// is only as large as the data: the way to shrink a store is a compacted backup opened in
    /// its place. Versions are wall-clock based, so the copy's new writes get versions above
    /// the original's. The copy gets a store id, and so an [`Store::origin`], of its own.
    pub fn backup(&self, dest: impl AsRef<Path>, compact: bool) -> Result<()> {
        let dest = dest.as_ref();
        let g = self.core()?;
        let core = g.core();
        if dest.as_os_str().is_empty() {
            return Err(Error::new(ErrorKind::PathInvalid, "the backup path is empty"));
        }
        core.env.copy_to(dest, compact)
    }

    /// Calls `f` for every live entry of `ns` (every namespace with `None`), in namespace and
    /// key order, from one read snapshot, until `f` returns false. For tools that look at a
    /// whole store (dump, statistics): a snapshot held long keeps the pages it reads from
    /// being reused, so the file may grow while it runs.
    pub fn for_each_entry(&self, ns: Option<&[u8]>, mut f: impl FnMut(EntryRef<'_>) -> bool) -> Result<()> {
        let g = self.core()?;
        let core = g.core();
        if let Some(ns) = ns {
            limits::namespace(ns)?;
        }
        let now = core.now_ms();
        let start = ns.map_or_else(|| SETTINGS_KEY.to_vec(), namespace_prefix);
        core.env.read(|txn| {
            let mut damaged = false;
            txn.scan_from(&start, |k, v| {
                let Some((namespace, key)) = split_entry_key(k) else {
                    return ns.is_none(); // the settings and meta records
                };
                if ns.is_some_and(|n| n != namespace) {
                    return false;
                }
                match Header::decode(v) {
                    Some((h, value)) if h.is_live(now) => f(EntryRef {
                        namespace,
                        key,
                        value,
                        deadline: h.deadline,
                        version: h.version,
                    }),
                    Some(_) => true,
                    None => {
                        damaged = true;
                        false
                    }
                }
            })?;
            if damaged {
                return Err(damaged_entry());
            }
            Ok(())
        })
    }

    /// [`Store::put_many`] with absolute deadlines (for loading a dump: the deadlines stay
    /// what they were). All or none; a deadline already past is refused (`TtlInvalid`) — skip
    /// such records before.
    pub fn put_many_until(&self, records: &[RecordAt<'_>]) -> Result<()> {
        self.put_records(records, |now, deadline| {
            if deadline <= now {
                return Err(Error::new(
                    ErrorKind::TtlInvalid,
                    format!("the deadline {deadline} has passed (now is {now})"),
                ));
            }
            Ok(deadline)
        })
    }

    /// The taken slots of the reader table every process shares (LMDB's `mdb_reader_list`).
    pub fn readers(&self) -> Result<Vec<ReaderSlot>> {
        let g = self.core()?;
        Ok(g.core()
            .env
            .readers()?
            .into_iter()
            .map(|(pid, thread, txnid)| ReaderSlot { pid, thread, txnid })
            .collect())
    }

    /// `f(key, value)` for every live entry of `ns`, in key order, from one snapshot.
    pub(super) fn scan_namespace(&self, ns: &[u8], mut f: impl FnMut(&[u8], &[u8])) -> Result<()> {
        let g = self.core()?;
        let core = g.core();
        limits::namespace(ns)?;
        let now = core.now_ms();
        let prefix = namespace_prefix(ns);
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
}

/// The first key after every entry of namespace `ns` (its prefix with the last byte below
/// 0xff raised); `None` when no key comes after them.
fn next_namespace_start(ns: &[u8]) -> Option<Vec<u8>> {
    let mut p = namespace_prefix(ns);
    while let Some(last) = p.last_mut() {
        if *last < 0xff {
            *last += 1;
            return Some(p);
        }
        p.pop();
    }
    None
}

#[cold]
pub(super) fn unexpected(o: Outcome) -> Error {
    Error::new(ErrorKind::Storage, format!("internal: an operation gave {o:?}"))
}
