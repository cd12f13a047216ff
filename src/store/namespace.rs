//! `Namespace`: a store's namespace with a default TTL, as Pow's config carries one.

use std::time::Duration;

use super::Store;
use crate::error::Result;
use crate::limits::ttl_ms;

/// A namespace of a store with a default TTL (Pow's `namespace` and `ttl` config).
#[derive(Clone, Debug)]
pub struct Namespace {
    store: Store,
    name: Vec<u8>,
    ttl: Duration,
}

impl Namespace {
    /// The caller checked `name` and `ttl`.
    pub(super) fn new(store: Store, name: Vec<u8>, ttl: Duration) -> Namespace {
        Namespace { store, name, ttl }
    }

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
