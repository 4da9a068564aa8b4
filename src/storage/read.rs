//! Reads: straight from sled, never through the writer.

use super::{codec, keys, StorageError, Store};
use serde::de::DeserializeOwned;

impl Store {
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        match self.inner.db.get(key)? {
            Some(bytes) => codec::decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Decoded records whose keys start with `prefix`, from `start` (inclusive) on, with their
    /// keys, at most `limit` of them.
    pub fn scan<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, T)>, StorageError> {
        let mut out = Vec::new();
        for item in self.inner.db.range(start..) {
            let (k, v) = item?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), codec::decode(&v)?));
        }
        Ok(out)
    }

    /// Keys in `[start, end)`, at most `limit` of them (for indexes whose values are empty).
    pub fn keys_between(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        self.inner
            .db
            .range(start..end)
            .keys()
            .take(limit)
            .map(|k| Ok(k?.to_vec()))
            .collect()
    }

    /// Whether `key` exists.
    pub fn contains(&self, key: &[u8]) -> Result<bool, StorageError> {
        Ok(self.inner.db.contains_key(key)?)
    }

    pub fn scan_prefix<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, StorageError> {
        self.scan(prefix, prefix, usize::MAX)
    }

    /// Up to `limit` events with sequence numbers above `after`, in order, never past the
    /// durable head: the writer applies a batch before its flush, so the tree may already
    /// hold events that a crash would lose, and no reader may hand those out.
    pub fn events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<crate::domain::event::EventRecord>, StorageError> {
        let head = *self.inner.head.borrow();
        if after >= head {
            return Ok(Vec::new());
        }
        self.inner
            .db
            .range(keys::event(after + 1)..=keys::event(head))
            .values()
            .take(limit)
            .map(|v| codec::decode(&v?))
            .collect()
    }
}
