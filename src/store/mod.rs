//! The store: the thread-safe public face that every binding wraps — `Store`, its handles and
//! their lifetimes, and the checks of each call (in limits.rs) before the engine does the work.

mod namespace;
mod ops;
mod replica;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{RwLock, RwLockReadGuard};

use crate::codec::{EntryKey, Header};
use crate::engine::registry::{open_shared, release, Shared};
use crate::engine::Core;
use crate::engine::{Outcome, PutOp, Work};
pub use crate::engine::{Stats, VerifyReport};
use crate::error::{Error, ErrorKind, Result};
use crate::limits::{self, deadline_for, ttl_ms};
pub use crate::limits::{
    DEADLINE_NEVER, MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_KEYS_PER_CALL, MAX_NAMESPACE_LEN, MAX_VALUE_LEN,
    MIN_MAX_BYTES, TTL_NEVER,
};
pub use crate::options::{Durability, Eviction, OnCorruption, Options};
pub use namespace::Namespace;
pub use ops::{EntryRef, ReaderSlot, RecordAt, Versioned};
pub use replica::{ReplicaRecord, MAX_DIGEST_BUCKETS};

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

impl Store {
    /// Opens the store in directory `path`, creating the directory (mode 0700) and the store
    /// (files 0600) when absent. An existing directory keeps its mode.
    ///
    /// A damaged store fails with [`ErrorKind::Corrupted`], or, with
    /// [`OnCorruption::Reset`](crate::OnCorruption::Reset), is renamed aside and replaced by an
    /// empty one. After an unclean shutdown of the machine (a power loss, an OS crash) with
    /// commits not yet flushed, open verifies the whole store first.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Store> {
        limits::options(&options)?;
        let path = path.as_ref();
        if path.as_os_str().is_empty() {
            return Err(Error::new(ErrorKind::PathInvalid, "the store path is empty"));
        }
        match Store::open_dir(path, &options) {
            Err(e)
                if e.kind() == ErrorKind::Corrupted
                    && options.on_corruption == crate::OnCorruption::Reset =>
            {
                let aside = Store::move_aside(path, &e)?;
                let store = Store::open_dir(path, &options)?;
                let g = store.core()?;
                let core = g.core();
                core.counters.corruption_resets.store(1, Ordering::Relaxed);
                *core.reset_from.lock() = Some(aside);
                drop(g);
                Ok(store)
            }
            other => other,
        }
    }

    /// Renames a damaged store directory to `<dir>.corrupted-<unix ms>` beside it.
    fn move_aside(path: &Path, why: &Error) -> Result<PathBuf> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let aside = path.with_file_name(format!("{name}.corrupted-{ms}"));
        std::fs::rename(path, &aside).map_err(|e| {
            Error::new(
                ErrorKind::Corrupted,
                format!(
                    "{} (and on_corruption=reset could not move it aside to {}: {e})",
                    why.message(),
                    aside.display()
                ),
            )
        })?;
        Ok(aside)
    }

    /// Where a damaged store went when the open that made this process's environment of the
    /// directory reset it ([`OnCorruption::Reset`](crate::OnCorruption::Reset)); every handle
    /// on that environment reports the same. `None` otherwise.
    pub fn corruption_reset(&self) -> Result<Option<PathBuf>> {
        Ok(self.core()?.core().reset_from.lock().clone())
    }

    fn open_dir(path: &Path, options: &Options) -> Result<Store> {
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
        let shared = open_shared(&canonical, identity, options)?;
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
        limits::namespace(name)?;
        ttl_ms(default_ttl)?;
        Ok(Namespace::new(self.clone(), name.to_vec(), default_ttl))
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
        core.write(Work::Put(&[PutOp {
            ns,
            key,
            value,
            deadline,
        }]))
        .map(drop)
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
        self.put_records(records, deadline_for)
    }

    /// Writes `records` in one transaction, each deadline made by `deadline(now, the record's
    /// fourth field)`: the one body of every batch put.
    pub(super) fn put_records(
        &self,
        records: &[RecordMs<'_>],
        deadline: impl Fn(u64, u64) -> Result<u64>,
    ) -> Result<()> {
        let g = self.core()?;
        let core = g.core();
        let bytes: usize = records.iter().map(|r| r.1.len() + r.2.len()).sum();
        limits::batch(records.len(), bytes)?;
        let now = core.now_ms();
        let mut ops = Vec::with_capacity(records.len());
        for (i, &(ns, key, value, when)) in records.iter().enumerate() {
            let at = |e: Error| Error::new(e.kind(), format!("record {i}: {}", e.message()));
            check_record(core, ns, key, value).map_err(at)?;
            let deadline = deadline(now, when).map_err(at)?;
            ops.push(PutOp {
                ns,
                key,
                value,
                deadline,
            });
        }
        if ops.is_empty() {
            return Ok(());
        }
        core.write(Work::Put(&ops)).map(drop)
    }

    /// The value of `key`, or `None` when absent or expired (whether or not the expiry thread
    /// has removed it yet).
    pub fn get(&self, ns: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_with(ns, key, |v| v.to_vec())
    }

    /// Calls `f` with the value borrowed from the store (no copy), and returns what it returns.
    pub fn get_with<R>(&self, ns: &[u8], key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        self.read_live(ns, key, |_, value| f(value))
    }

    /// The deadline of a live entry, in milliseconds since the Unix epoch
    /// ([`DEADLINE_NEVER`] for a never-expiring one), or `None`.
    pub fn deadline(&self, ns: &[u8], key: &[u8]) -> Result<Option<u64>> {
        self.read_live(ns, key, |h, _| h.deadline)
    }

    /// `f(header, value)` of a live entry, borrowed from one snapshot; `None` when absent or
    /// expired (whether or not the expiry thread has removed it yet).
    pub(super) fn read_live<R>(
        &self,
        ns: &[u8],
        key: &[u8],
        f: impl FnOnce(&Header, &[u8]) -> R,
    ) -> Result<Option<R>> {
        let g = self.core()?;
        let core = g.core();
        check_key(core, ns, key)?;
        let now = core.now_ms();
        let ek = EntryKey::new(ns, key);
        core.env.read(|txn| match txn.get(ek.as_bytes())? {
            None => Ok(None),
            Some(v) => {
                let (h, value) = Header::decode(v).ok_or_else(damaged_entry)?;
                Ok(h.is_live(now).then(|| f(&h, value)))
            }
        })
    }

    /// Removes `key`; true if a live entry was removed.
    pub fn delete(&self, ns: &[u8], key: &[u8]) -> Result<bool> {
        let g = self.core()?;
        let core = g.core();
        check_key(core, ns, key)?;
        core.write(Work::Delete { ns, key }).map(Outcome::done)
    }

    /// Every live key of `ns`, in key order, without the namespace.
    pub fn keys(&self, ns: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        self.scan_namespace(ns, |k, _| out.push(k.to_vec()))?;
        Ok(out)
    }

    /// Every live `(key, value)` of `ns`, in key order, from one consistent snapshot.
    pub fn entries(&self, ns: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        self.scan_namespace(ns, |k, v| out.push((k.to_vec(), v.to_vec())))?;
        Ok(out)
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

    /// Checks that entries and the deadline index agree, in one snapshot, reading every record
    /// (a damaged length is reported, not followed).
    pub fn verify(&self) -> Result<VerifyReport> {
        self.core()?.core().verify()
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
            evicted: c.evicted.load(Ordering::Relaxed),
            // Unpooled: looking at the counters must not keep a reader slot (pooled_readers).
            tree_bytes: core.env.read_unpooled(|t| t.tree_bytes())?,
            verified_at_open: c.verified_at_open.load(Ordering::Relaxed),
            corruption_resets: c.corruption_resets.load(Ordering::Relaxed),
            rolled_back_at_open: c.rolled_back_at_open.load(Ordering::Relaxed),
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
        limits::namespace(ns)?;
        Ok(limits::max_key_len(g.core().env.max_key_size(), ns))
    }

    /// Flushes committed data to disk now (useful in `periodic` mode before a planned stop;
    /// cheap in `sync` mode, where every commit is already on disk).
    pub fn flush(&self) -> Result<()> {
        self.core()?.core().env.flush()
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

pub(super) fn damaged_entry() -> Error {
    Error::new(
        ErrorKind::Corrupted,
        "an entry's value is shorter than its header",
    )
}

#[inline]
pub(super) fn check_key(core: &Core, ns: &[u8], key: &[u8]) -> Result<()> {
    limits::key(core.env.max_key_size(), ns, key)
}

#[inline]
pub(super) fn check_record(core: &Core, ns: &[u8], key: &[u8], value: &[u8]) -> Result<()> {
    limits::record(core.env.max_key_size(), ns, key, value)
}
