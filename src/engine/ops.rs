//! Every write operation's logic, inside the write transaction the committer (or the bounded
//! loops of `clear` and expiry) runs it in. Each function takes the transaction and its
//! [`TxnCtx`], and leaves entries and the deadline index in agreement.

use std::sync::atomic::Ordering;

use super::{
    version_ms, Core, MergeOp, Outcome, PutOp, TxnCtx, Work, TOMBSTONE_MARGIN_MS, TOMBSTONE_UNKNOWN_TTL_MS,
};
use crate::codec::{
    is_index_key, parse_counter, split_entry_key, split_index_key, EntryKey, Header, IndexKey, INDEX_PREFIX,
    NEVER, SETTINGS_KEY,
};
use crate::env::{WriteKind, WriteTxn};
use crate::error::{Error, ErrorKind, Result};

/// Records the eviction loop looks at per round, between two looks at the tree's size.
const EVICT_ROUND: usize = 64;
/// The most entries one transaction evicts: a bound lowered far below the store's size is
/// reached in bounded transactions (see `Store::set_max_bytes`), never one giant one.
pub(crate) const EVICT_MAX_PER_TXN: u64 = 10_000;

impl Core {
    /// Applies one job. The outer error fails the whole transaction; the inner one fails this
    /// job alone, which then wrote nothing.
    pub(super) fn apply(
        &self,
        txn: &mut WriteTxn<'_>,
        ctx: &mut TxnCtx,
        work: &Work<'_>,
    ) -> Result<Result<Outcome>> {
        let now = ctx.now;
        Ok(Ok(match *work {
            Work::Put(ops) => {
                for op in ops {
                    put_entry(txn, ctx, op)?;
                }
                Outcome::Done(true)
            }
            Work::Delete { ns, key } => Outcome::Done(delete_entry(txn, ctx, ns, key)?),
            Work::DeleteMany { ns, keys } => {
                let mut n = 0;
                for key in keys {
                    n += u64::from(delete_entry(txn, ctx, ns, key)?);
                }
                Outcome::Count(n)
            }
            Work::Touch { ns, key, deadline } => Outcome::Done(touch(txn, ctx, ns, key, deadline)?),
            Work::Add(ref op) => {
                let absent = |h: Option<&Header>| !h.is_some_and(|h| h.is_live(now));
                Outcome::Done(put_entry_if(txn, ctx, op, absent)?.is_some())
            }
            Work::PutIfVersion { ref op, expected } => {
                let current =
                    |h: Option<&Header>| h.filter(|h| h.is_live(now)).map(|h| h.version) == expected;
                Outcome::Version(put_entry_if(txn, ctx, op, current)?)
            }
            Work::Incr {
                ns,
                key,
                delta,
                create,
            } => match incr(txn, ctx, ns, key, delta, create)? {
                Ok(n) => Outcome::Counter(n),
                Err(e) => return Ok(Err(e)),
            },
            Work::Take { ns, key } => {
                let ek = EntryKey::new(ns, key);
                let value = match txn.get(ek.as_bytes())? {
                    Some(v) => match Header::decode(v) {
                        Some((h, value)) if h.is_live(now) => Some(value.to_vec()),
                        _ => None,
                    },
                    None => None,
                };
                delete_entry(txn, ctx, ns, key)?;
                Outcome::Value(value)
            }
            Work::SetBound { max_bytes, evict } => {
                ctx.settings.max_bytes = max_bytes;
                ctx.settings.evict = evict;
                txn.put(SETTINGS_KEY, &ctx.settings.encode())?;
                Outcome::Done(true)
            }
            Work::SetReplicated(on) => {
                ctx.settings.replicated = on;
                ctx.settings_dirty = true;
                Outcome::Done(true)
            }
            Work::Merge(ops) => {
                let mut applied = 0;
                for op in ops {
                    applied += u64::from(merge_entry(txn, ctx, op)?);
                }
                Outcome::Count(applied)
            }
        }))
    }

    /// Evicts entries until the tree is within `max_bytes` again, soonest deadline first
    /// (expired ones are the soonest of all), entries that never expire last, and never one
    /// this transaction wrote: the store passes its bound by at most the transaction's own
    /// writes. Without eviction, a write past the bound fails with `Full`. Returns how many
    /// entries went.
    pub(super) fn keep_bound(&self, txn: &mut WriteTxn<'_>, ctx: &TxnCtx) -> Result<u64> {
        let max = ctx.settings.max_bytes;
        if txn.tree_bytes()? <= max {
            return Ok(0);
        }
        if !ctx.settings.evict {
            return Err(Error::new(
                ErrorKind::Full,
                format!(
                    "the write would take the store past its size bound of {max} bytes (max_bytes, with eviction none): delete entries, raise the bound, or let it evict"
                ),
            ));
        }
        let mut evicted = 0u64;
        // Soonest deadline first: the index, in order.
        let mut from = vec![INDEX_PREFIX];
        loop {
            let mut round: Vec<Vec<u8>> = Vec::new();
            let mut last = None;
            txn.scan_from(&from, |k, _| {
                if !is_index_key(k) {
                    return false;
                }
                last = Some(k.to_vec());
                round.push(k.to_vec());
                round.len() < EVICT_ROUND
            })?;
            let Some(last) = last else { break };
            for ik in &round {
                let Some((deadline, ek)) = split_index_key(ik) else {
                    txn.del(ik)?; // a damaged index record: dropping it is the repair
                    continue;
                };
                let evict = match txn.get(ek)?.and_then(Header::decode) {
                    Some((h, _)) if h.deadline == deadline => h.version < ctx.first_version,
                    _ => {
                        txn.del(ik)?; // points at nothing current
                        continue;
                    }
                };
                if evict {
                    txn.del(ik)?;
                    txn.del(ek)?;
                    evicted += 1;
                }
            }
            if evicted >= EVICT_MAX_PER_TXN || txn.tree_bytes()? <= max {
                return Ok(evicted);
            }
            from = last;
            from.push(0); // the next key after `last`
        }
        // Then entries that never expire, in key order.
        let mut from = SETTINGS_KEY.to_vec();
        loop {
            let mut round: Vec<Vec<u8>> = Vec::new();
            let mut last = None;
            txn.scan_from(&from, |k, v| {
                last = Some(k.to_vec());
                if split_entry_key(k).is_some() {
                    if let Some((h, _)) = Header::decode(v) {
                        if h.deadline == NEVER && h.version < ctx.first_version {
                            round.push(k.to_vec());
                        }
                    }
                }
                round.len() < EVICT_ROUND
            })?;
            let Some(last) = last else { break };
            for ek in &round {
                txn.del(ek)?;
                evicted += 1;
            }
            if evicted >= EVICT_MAX_PER_TXN || txn.tree_bytes()? <= max {
                break;
            }
            from = last;
            from.push(0);
        }
        Ok(evicted)
    }

    /// Removes up to `batch` entries of namespace `ns` in one transaction; returns how many
    /// live ones went and whether there may be more.
    pub(crate) fn clear_batch(&self, ns: &[u8], batch: usize) -> Result<(u64, bool)> {
        let prefix = crate::codec::namespace_prefix(ns);
        let now = self.now_ms();
        let (live, n) = self.env.write(WriteKind::Frees, |txn| {
            let mut found: Vec<(Vec<u8>, Option<Header>)> = Vec::new();
            txn.scan_from(&prefix, |k, v| {
                if !k.starts_with(&prefix) {
                    return false;
                }
                found.push((k.to_vec(), Header::decode(v).map(|(h, _)| h)));
                found.len() < batch
            })?;
            let mut live = 0u64;
            for (ek, h) in &found {
                if let Some(h) = h {
                    if h.deadline != NEVER {
                        txn.del(IndexKey::new(h.deadline, ek).as_bytes())?;
                    }
                    live += u64::from(h.is_live(now));
                }
                txn.del(ek)?;
            }
            Ok((live, found.len()))
        })?;
        self.counters.write_commits.fetch_add(1, Ordering::Relaxed);
        Ok((live, n == batch))
    }
}

/// Writes one record (validated by the store layer) with a new version; returns the version.
pub(crate) fn put_entry(txn: &mut WriteTxn<'_>, ctx: &mut TxnCtx, op: &PutOp<'_>) -> Result<u64> {
    Ok(put_entry_if(txn, ctx, op, |_| true)?.expect("an unconditional put writes"))
}

/// [`put_entry`] if `admit` accepts the stored entry's header (`None`: no entry), in one
/// descent of the tree for the entry; returns the new version, or `None` if nothing was written.
pub(crate) fn put_entry_if(
    txn: &mut WriteTxn<'_>,
    ctx: &mut TxnCtx,
    op: &PutOp<'_>,
    admit: impl FnOnce(Option<&Header>) -> bool,
) -> Result<Option<u64>> {
    let ek = EntryKey::new(op.ns, op.key);
    let mut old = None;
    let written = txn.upsert(
        ek.as_bytes(),
        |stored| {
            old = stored.and_then(Header::decode).map(|(h, _)| h);
            if !admit(old.as_ref()) {
                return Ok(None);
            }
            let header = Header::own(op.deadline, ctx.version(old.map(|h| h.version)), false);
            Ok(Some((header.len() + op.value.len(), header)))
        },
        |header, buf| {
            let at = header.len();
            header.encode_into(buf);
            buf[at..].copy_from_slice(op.value);
        },
    )?;
    let Some(header) = written else {
        return Ok(None);
    };
    let old_deadline = old.map_or(NEVER, |h| h.deadline);
    if old_deadline != header.deadline {
        if old_deadline != NEVER {
            txn.del(IndexKey::new(old_deadline, ek.as_bytes()).as_bytes())?;
        }
        if header.deadline != NEVER {
            txn.put(IndexKey::new(header.deadline, ek.as_bytes()).as_bytes(), &[])?;
        }
    }
    note_ttl(ctx, op.ns, op.deadline);
    Ok(Some(header.version))
}

/// On a replicating store, keeps the largest TTL of the namespace up to date: what its
/// tombstones must outlive.
#[inline]
fn note_ttl(ctx: &mut TxnCtx, ns: &[u8], deadline: u64) {
    if ctx.settings.replicated {
        let ttl = if deadline == NEVER {
            NEVER
        } else {
            deadline.saturating_sub(ctx.now)
        };
        if ctx.settings.note_ttl(ns, ttl) {
            ctx.settings_dirty = true;
        }
    }
}

/// Deletes `(ns, key)`; true if a live entry went. On a replicating store the entry becomes
/// a tombstone with a new version, written even when nothing was stored (a peer may hold the
/// key), whose deadline outlives every write it must beat: any such write has a lower version,
/// so it was made at most at `version_ms(version)`, with at most the namespace's largest TTL.
pub(crate) fn delete_entry(txn: &mut WriteTxn<'_>, ctx: &mut TxnCtx, ns: &[u8], key: &[u8]) -> Result<bool> {
    let ek = EntryKey::new(ns, key);
    if !ctx.settings.replicated {
        return remove_entry(txn, ek.as_bytes(), ctx.now);
    }
    let old = txn.get(ek.as_bytes())?.and_then(Header::decode).map(|(h, _)| h);
    if let Some(h) = old {
        if h.deadline != NEVER {
            txn.del(IndexKey::new(h.deadline, ek.as_bytes()).as_bytes())?;
        }
    }
    let version = ctx.version(old.map(|h| h.version));
    let max_ttl = match ctx.settings.max_ttl_of(ns) {
        0 => TOMBSTONE_UNKNOWN_TTL_MS, // no write seen here yet: a peer's may have any TTL
        t => t,
    };
    let deadline = if max_ttl == NEVER {
        NEVER
    } else {
        version_ms(version)
            .max(ctx.now)
            .saturating_add(max_ttl)
            .saturating_add(TOMBSTONE_MARGIN_MS)
            .min(NEVER - 1)
    };
    write_entry(txn, ek.as_bytes(), &Header::own(deadline, version, true), &[])?;
    Ok(old.is_some_and(|h| h.is_live(ctx.now)))
}

/// Writes a peer's record unless the stored entry is newer or the same by `(version,
/// origin)`, or the record has expired; true if written.
fn merge_entry(txn: &mut WriteTxn<'_>, ctx: &mut TxnCtx, op: &MergeOp<'_>) -> Result<bool> {
    if op.deadline <= ctx.now {
        return Ok(false);
    }
    let ek = EntryKey::new(op.ns, op.key);
    let old = txn.get(ek.as_bytes())?.and_then(Header::decode).map(|(h, _)| h);
    if let Some(h) = old {
        if h.order(ctx.origin) >= (op.version, op.origin) {
            return Ok(false);
        }
        if h.deadline != NEVER {
            txn.del(IndexKey::new(h.deadline, ek.as_bytes()).as_bytes())?;
        }
    }
    let header = Header {
        origin: (op.origin != ctx.origin).then_some(op.origin),
        ..Header::own(op.deadline, op.version, op.tombstone)
    };
    if ctx.settings.replicated && !op.tombstone {
        let ttl = if op.deadline == NEVER {
            NEVER
        } else {
            op.deadline.saturating_sub(version_ms(op.version).min(ctx.now))
        };
        if ctx.settings.note_ttl(op.ns, ttl) {
            ctx.settings_dirty = true;
        }
    }
    write_entry(txn, ek.as_bytes(), &header, op.value)?;
    Ok(true)
}

/// Stores the entry (header and value) and its index record; the old index record, if any,
/// is the caller's to remove.
fn write_entry(txn: &mut WriteTxn<'_>, ek: &[u8], header: &Header, value: &[u8]) -> Result<()> {
    let at = header.len();
    txn.put_with(ek, at + value.len(), |buf| {
        header.encode_into(buf);
        buf[at..].copy_from_slice(value);
    })?;
    if header.deadline != NEVER {
        txn.put(IndexKey::new(header.deadline, ek).as_bytes(), &[])?;
    }
    Ok(())
}

/// Removes one entry and its index record; true if it was live.
pub(crate) fn remove_entry(txn: &mut WriteTxn<'_>, ek: &[u8], now: u64) -> Result<bool> {
    let live = match txn.get(ek)? {
        None => return Ok(false),
        Some(old) => match Header::decode(old) {
            Some((h, _)) => {
                if h.deadline != NEVER {
                    txn.del(IndexKey::new(h.deadline, ek).as_bytes())?;
                }
                h.is_live(now)
            }
            None => false,
        },
    };
    txn.del(ek)?;
    Ok(live)
}

/// Gives a live entry a new deadline; its value and version stay, except on a replicating
/// store, where the new deadline must reach the peers: there it takes a new version.
fn touch(txn: &mut WriteTxn<'_>, ctx: &mut TxnCtx, ns: &[u8], key: &[u8], deadline: u64) -> Result<bool> {
    let now = ctx.now;
    let ek = EntryKey::new(ns, key);
    // The value is copied out before the entry is rewritten (a write may move the page it
    // lies on): on the stack when small, as most cached values are.
    let mut stack = [0u8; 1024];
    let mut heap = Vec::new();
    let (mut header, value): (Header, &[u8]) = match txn.get(ek.as_bytes())? {
        Some(v) => match Header::decode(v) {
            Some((h, value)) if h.is_live(now) => {
                if value.len() <= stack.len() {
                    stack[..value.len()].copy_from_slice(value);
                    (h, &stack[..value.len()])
                } else {
                    heap.extend_from_slice(value);
                    (h, &heap)
                }
            }
            _ => return Ok(false),
        },
        None => return Ok(false),
    };
    if header.deadline == deadline {
        return Ok(true);
    }
    if header.deadline != NEVER {
        txn.del(IndexKey::new(header.deadline, ek.as_bytes()).as_bytes())?;
    }
    header.deadline = deadline;
    if ctx.settings.replicated {
        header.version = ctx.version(Some(header.version));
        header.origin = None;
        note_ttl(ctx, ns, deadline);
    }
    write_entry(txn, ek.as_bytes(), &header, value)?;
    Ok(true)
}

/// Adds `delta` to the counter under `(ns, key)`: the inner error (not a counter, overflow)
/// fails this job alone, having written nothing.
fn incr(
    txn: &mut WriteTxn<'_>,
    ctx: &mut TxnCtx,
    ns: &[u8],
    key: &[u8],
    delta: i64,
    create: Option<u64>,
) -> Result<Result<Option<i64>>> {
    let ek = EntryKey::new(ns, key);
    let current = match txn.get(ek.as_bytes())? {
        Some(v) => match Header::decode(v) {
            Some((h, value)) if h.is_live(ctx.now) => Some((h, parse_counter(value), value.len())),
            _ => None,
        },
        None => None,
    };
    let (old, deadline, base) = match current {
        Some((h, Some(n), _)) => (Some(h), h.deadline, n),
        Some((_, None, len)) => {
            return Ok(Err(Error::new(
                ErrorKind::NotACounter,
                // The key is not named: keys are often session tokens, and errors reach logs.
                format!(
                    "the value ({len} bytes) is not a counter: counters are ASCII decimal signed 64-bit integers"
                ),
            )));
        }
        None => match create {
            None => return Ok(Ok(None)),
            Some(deadline) => (None, deadline, 0),
        },
    };
    let Some(next) = base.checked_add(delta) else {
        return Ok(Err(Error::new(
            ErrorKind::Overflow,
            format!("adding {delta} to the counter {base} leaves the signed 64-bit range; it is unchanged"),
        )));
    };
    // An expired entry that is still stored goes with its index record.
    if old.is_none() {
        remove_entry(txn, ek.as_bytes(), ctx.now)?;
    } else if let Some(h) = old {
        if h.deadline != NEVER {
            txn.del(IndexKey::new(h.deadline, ek.as_bytes()).as_bytes())?;
        }
    }
    let header = Header::own(deadline, ctx.version(old.map(|h| h.version)), false);
    note_ttl(ctx, ns, deadline);
    write_entry(txn, ek.as_bytes(), &header, next.to_string().as_bytes())?;
    Ok(Ok(Some(next)))
}
