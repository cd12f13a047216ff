//! ttlkv — a persistent key-value cache in which every key has a time-to-live.
//!
//! One store is one directory holding an LMDB environment. Entries live in namespaces; each
//! has a deadline (wall-clock milliseconds), after which it is never returned again and a
//! background thread removes it. Entries and deadlines survive restarts; entries that expired
//! while the store was closed are removed when it opens. Several threads and processes may
//! use one store at once.
//!
//! ```
//! use std::time::Duration;
//! let dir = tempfile::tempdir().unwrap();
//! let store = ttlkv::Store::open(dir.path(), ttlkv::Options::default()).unwrap();
//! store.put(b"sessions", b"token", b"payload", Duration::from_secs(1800)).unwrap();
//! assert_eq!(store.get(b"sessions", b"token").unwrap().as_deref(), Some(&b"payload"[..]));
//! assert!(store.delete(b"sessions", b"token").unwrap());
//! store.close();
//! ```

#![deny(missing_docs)]

// The rooms, from the public face down (each file's first comment says what it holds):
// store/    `Store` (handles, lifetimes, put/get/delete), the cache operations (ops.rs) and
//           `Namespace`: each call's checks, then one piece of work for the engine
// options   how a store is opened: durability, eviction, on_corruption
// limits    every limit and every check of a caller's input (the one validator)
// engine/   the work a writer hands in and every write operation's logic (ops.rs), group
//           commit, the expiry thread, the registry of open environments, verify
// env       the only module that touches LMDB, and the multi-process rules
// codec     the on-disk layout of records; fork: what a forked child may touch
// ffi/      the C ABI (the only module that knows C)
mod clock;
mod codec;
mod engine;
mod env;
mod error;
pub mod ffi;
mod fork;
mod limits;
mod options;
mod store;

pub use clock::{Clock, ManualClock};
pub use error::{Error, ErrorKind, Result};
pub use store::{
    Durability, EntryRef, Eviction, Namespace, OnCorruption, Options, ReaderSlot, Record, RecordAt, RecordMs,
    ReplicaRecord, Stats, Store, VerifyReport, Versioned, DEADLINE_NEVER, MAX_BATCH_BYTES, MAX_BATCH_RECORDS,
    MAX_DIGEST_BUCKETS, MAX_KEYS_PER_CALL, MAX_NAMESPACE_LEN, MAX_VALUE_LEN, MIN_MAX_BYTES, TTL_NEVER,
};

/// The version of the on-disk format this build reads and writes.
pub const FORMAT_VERSION: u32 = env::FORMAT_VERSION;

/// The LMDB version linked in, as LMDB reports it.
pub fn lmdb_version() -> &'static str {
    env::lmdb_version()
}
