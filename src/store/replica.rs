//! What a replicator needs from a store (language-neutral; the Elixir binding's replicator
//! is its first user): the store's origin, the switch that makes deletes leave tombstones,
//! records with their order, `merge`, and the digests of anti-entropy.
//!
//! The order between stores is last-writer-wins on `(version, origin)`. Versions are hybrid
//! logical clocks (wall-clock milliseconds in the high bits); a merge advances this process's
//! clock to the highest version it saw, so a write made after a merge beats what was merged.

use std::sync::atomic::Ordering;

use super::{check_record, damaged_entry, Store};
use crate::codec::{split_entry_key, EntryKey, Header, SETTINGS_KEY};
use crate::engine::{version_ms, MergeOp, Outcome, Work};
use crate::error::{Error, ErrorKind, Result};
use crate::limits;

/// The most buckets a digest has.
pub const MAX_DIGEST_BUCKETS: u32 = 1 << 16;
/// How far ahead of this machine's clock a merged version may drag its clock: a peer whose
/// clock runs wild does not stop this store's versions from growing.
const HLC_MAX_AHEAD_MS: u64 = 86_400_000;

/// An entry or a tombstone with its order, as [`Store::records`] and [`Store::versions`] give
/// it and [`Store::merge`] takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaRecord {
    /// Its namespace.
    pub namespace: Vec<u8>,
    /// Its key.
    pub key: Vec<u8>,
    /// Its value (empty for a tombstone, and in the lists of [`Store::versions`]).
    pub value: Vec<u8>,
    /// Its deadline in milliseconds since the Unix epoch ([`crate::DEADLINE_NEVER`] for never).
    pub deadline: u64,
    /// Its version (a hybrid logical clock).
    pub version: u64,
    /// The store that wrote it ([`Store::origin`] of that store).
    pub origin: u64,
    /// A delete on a replicating store: reads as absent everywhere.
    pub tombstone: bool,
}

impl Store {
    /// This store's origin: the tie-break of the order between stores (the first 8 bytes of
    /// [`Store::store_id`]).
    pub fn origin(&self) -> Result<u64> {
        Ok(self.core()?.core().origin)
    }

    /// Makes the store replicating (or not): from then on, in every process, a delete (also
    /// `take`, `delete_many`) leaves a tombstone that reads as absent everywhere and expires
    /// after every write it must beat, a touch takes a new version, and each namespace's
    /// largest TTL is kept (what its tombstones must outlive). Persistent.
    pub fn set_replicated(&self, on: bool) -> Result<()> {
        self.core()?.core().write(Work::SetReplicated(on)).map(drop)
    }

    /// Whether the store replicates ([`Store::set_replicated`]).
    pub fn replicated(&self) -> Result<bool> {
        Ok(self.settings()?.replicated)
    }

    /// The stored, unexpired record (entry or tombstone) of each `(namespace, key)`, in the
    /// order asked, from one snapshot; keys without one are left out.
    pub fn records(&self, keys: &[(&[u8], &[u8])]) -> Result<Vec<ReplicaRecord>> {
        let g = self.core()?;
        let core = g.core();
        limits::keys_per_call("keys", keys.len(), true)?;
        for (i, &(ns, key)) in keys.iter().enumerate() {
            super::check_key(core, ns, key)
                .map_err(|e| Error::new(e.kind(), format!("key {i}: {}", e.message())))?;
        }
        let now = core.now_ms();
        let own = core.origin;
        core.env.read(|txn| {
            let mut out = Vec::new();
            for &(ns, key) in keys {
                let ek = EntryKey::new(ns, key);
                if let Some(v) = txn.get(ek.as_bytes())? {
                    let (h, value) = Header::decode(v).ok_or_else(damaged_entry)?;
                    if h.deadline > now {
                        out.push(record(ns, key, value, &h, own));
                    }
                }
            }
            Ok(out)
        })
    }

    /// Merges records of other stores in one transaction: each is written unless the stored
    /// record of its key is newer or the same by `(version, origin)`, or its deadline has
    /// passed. Returns how many were written. Each is checked as a put is (a tombstone must
    /// have an empty value); one bad record fails the whole call, writing nothing.
    pub fn merge(&self, records: &[ReplicaRecord]) -> Result<u64> {
        let g = self.core()?;
        let core = g.core();
        let bytes: usize = records.iter().map(|r| r.key.len() + r.value.len()).sum();
        limits::batch(records.len(), bytes)?;
        let mut ops = Vec::with_capacity(records.len());
        let mut highest = 0u64;
        for (i, r) in records.iter().enumerate() {
            let at = |e: Error| Error::new(e.kind(), format!("record {i}: {}", e.message()));
            check_record(core, &r.namespace, &r.key, &r.value).map_err(at)?;
            if r.tombstone && !r.value.is_empty() {
                return Err(at(Error::new(
                    ErrorKind::InvalidArgument,
                    "a tombstone has an empty value",
                )));
            }
            highest = highest.max(r.version);
            ops.push(MergeOp {
                ns: &r.namespace,
                key: &r.key,
                value: &r.value,
                deadline: r.deadline,
                version: r.version,
                origin: r.origin,
                tombstone: r.tombstone,
            });
        }
        if ops.is_empty() {
            return Ok(0);
        }
        if version_ms(highest) <= core.now_ms().saturating_add(HLC_MAX_AHEAD_MS) {
            core.hlc.fetch_max(highest, Ordering::Relaxed);
        }
        match core.write(Work::Merge(&ops))? {
            Outcome::Count(n) => Ok(n),
            other => Err(super::ops::unexpected(other)),
        }
    }

    /// Anti-entropy's first step: `buckets` hashes, each the XOR of a hash of `(namespace,
    /// key, version, origin)` over the records (entries and tombstones) of one bucket whose
    /// deadline is after both now and `cutoff` (ms since the epoch: leave out what is about to expire,
    /// which two stores may see on either side of its deadline). Two stores holding the same
    /// records have the same digest; a differing bucket is compared with
    /// [`Store::versions`]. One snapshot; it reads every record.
    pub fn digest(&self, buckets: u32, cutoff: u64) -> Result<Vec<u64>> {
        check_buckets(buckets)?;
        let mut out = vec![0u64; buckets as usize];
        self.each_record(cutoff, |ek, h, _value, own| {
            let kh = key_hash(ek);
            out[(kh % u64::from(buckets)) as usize] ^= record_hash(kh, h.order(own));
            true
        })?;
        Ok(out)
    }

    /// The records of the buckets `which` (of `buckets`, as [`Store::digest`] counts them)
    /// whose deadline is after both now and `cutoff`, without their values, in key order.
    pub fn versions(&self, buckets: u32, which: &[u32], cutoff: u64) -> Result<Vec<ReplicaRecord>> {
        self.of_buckets(buckets, which, cutoff, false)
    }

    /// [`Store::versions`] with the values: what a store with nothing in those buckets (a
    /// node joining a cluster) takes whole, without comparing versions first.
    pub fn bucket_records(&self, buckets: u32, which: &[u32], cutoff: u64) -> Result<Vec<ReplicaRecord>> {
        self.of_buckets(buckets, which, cutoff, true)
    }

    fn of_buckets(
        &self,
        buckets: u32,
        which: &[u32],
        cutoff: u64,
        values: bool,
    ) -> Result<Vec<ReplicaRecord>> {
        check_buckets(buckets)?;
        if let Some(b) = which.iter().find(|&&b| b >= buckets) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("bucket {b} is not below the {buckets} buckets"),
            ));
        }
        let mut wanted = vec![false; buckets as usize];
        for &b in which {
            wanted[b as usize] = true;
        }
        let mut out = Vec::new();
        self.each_record(cutoff, |ek, h, value, own| {
            if wanted[(key_hash(ek) % u64::from(buckets)) as usize] {
                let (ns, key) = split_entry_key(ek).expect("an entry key");
                out.push(record(ns, key, if values { value } else { &[] }, h, own));
            }
            true
        })?;
        Ok(out)
    }

    /// `f(entry key, header, value, own origin)` for every entry and tombstone whose deadline is
    /// after now and `cutoff`, in key order, from one snapshot.
    fn each_record(&self, cutoff: u64, mut f: impl FnMut(&[u8], &Header, &[u8], u64) -> bool) -> Result<()> {
        let g = self.core()?;
        let core = g.core();
        let own = core.origin;
        // What has expired is never compared, whether or not the expiry thread removed it yet.
        let cutoff = cutoff.max(core.now_ms());
        core.env.read(|txn| {
            let mut damaged = false;
            txn.scan_from(SETTINGS_KEY, |k, v| {
                if split_entry_key(k).is_none() {
                    return true; // the settings and meta records
                }
                match Header::decode(v) {
                    Some((h, value)) if h.deadline > cutoff => f(k, &h, value, own),
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
}

fn record(ns: &[u8], key: &[u8], value: &[u8], h: &Header, own: u64) -> ReplicaRecord {
    ReplicaRecord {
        namespace: ns.to_vec(),
        key: key.to_vec(),
        value: value.to_vec(),
        deadline: h.deadline,
        version: h.version,
        origin: h.origin.unwrap_or(own),
        tombstone: h.is_tombstone(),
    }
}

fn check_buckets(buckets: u32) -> Result<()> {
    if buckets == 0 || buckets > MAX_DIGEST_BUCKETS {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("buckets {buckets} is not in 1..={MAX_DIGEST_BUCKETS}"),
        ));
    }
    Ok(())
}

/// The hash of an entry key: FNV-1a, then a 64-bit finalizer. Part of the replication
/// protocol (stores of different builds must agree): never change it.
fn key_hash(ek: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in ek {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// A record's contribution to its bucket's hash.
fn record_hash(key_hash: u64, (version, origin): (u64, u64)) -> u64 {
    mix(key_hash ^ mix(version ^ mix(origin)))
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
