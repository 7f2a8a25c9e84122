//! `--keyvalue memory:`: buckets in this process's memory, gone when it
//! exits. For tests, `pipe` and `test`, and for state no restart needs.
//! Every call is a few map operations under one lock, so it answers at
//! once (no thread hop). A key with a time to live is gone for every call
//! once it expires, and leaves the bucket (and its quota) then: lazily
//! when a call meets it, and in a sweep of the bucket at most once a
//! second.
//!
//! Owns: [`MemoryBackend`]. Uses: the backend interface.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::backend::{
    add_to_counter, parse_counter, KeyPage, KeyValueBackend, Pending, Quota, StoreError,
    KEYS_PER_PAGE,
};

/// Buckets in memory.
pub struct MemoryBackend {
    buckets: Mutex<HashMap<String, Bucket>>,
    quota: Quota,
}

/// One bucket's keys, and the bytes they and their values take.
#[derive(Default)]
struct Bucket {
    entries: BTreeMap<String, Vec<u8>>,
    bytes: u64,
    /// When the keys with a time to live expire.
    expires: HashMap<String, Instant>,
    /// The last sweep of expired keys.
    swept: Option<Instant>,
}

/// How often a bucket is swept of its expired keys.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl Bucket {
    /// Sets `key`, within `quota`.
    fn set(
        &mut self,
        name: &str,
        quota: &Quota,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        let (keys, bytes) = match self.entries.get(key) {
            Some(old) => (
                self.entries.len() as u64,
                self.bytes - old.len() as u64 + value.len() as u64,
            ),
            None => (
                self.entries.len() as u64 + 1,
                self.bytes + (key.len() + value.len()) as u64,
            ),
        };
        quota.check(name, keys, bytes)?;
        self.bytes = bytes;
        self.entries.insert(key.to_string(), value);
        Ok(())
    }

    fn delete(&mut self, key: &str) {
        self.expires.remove(key);
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= (key.len() + old.len()) as u64;
        }
    }

    /// Removes `key` if it has expired.
    fn forget_if_expired(&mut self, key: &str, now: Instant) {
        if self.expires.get(key).is_some_and(|at| *at <= now) {
            self.delete(key);
        }
    }

    /// Removes every expired key, at most once per [`SWEEP_EVERY`] unless
    /// `always`.
    fn sweep(&mut self, now: Instant, always: bool) {
        if self.expires.is_empty()
            || !always
                && self
                    .swept
                    .is_some_and(|at| now.duration_since(at) < SWEEP_EVERY)
        {
            return;
        }
        self.swept = Some(now);
        let expired: Vec<String> = self
            .expires
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            self.delete(&key);
        }
    }
}

impl MemoryBackend {
    /// Empty buckets, each held to `quota`.
    pub fn new(quota: Quota) -> MemoryBackend {
        MemoryBackend {
            buckets: Mutex::default(),
            quota,
        }
    }

    /// Runs `f` on bucket `name` (made if missing), answering at once.
    fn with<'a, T: Send + 'a>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Bucket, &Quota) -> Result<T, StoreError>,
    ) -> Pending<'a, T> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = buckets.entry(name.to_string()).or_default();
        bucket.sweep(Instant::now(), false);
        let result = f(bucket, &self.quota);
        if bucket.entries.is_empty() {
            buckets.remove(name);
        }
        Box::pin(std::future::ready(result))
    }
}

impl KeyValueBackend for MemoryBackend {
    fn describe(&self) -> String {
        "the in-memory store".into()
    }

    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, Option<Vec<u8>>> {
        self.with(bucket, |b, _| {
            b.forget_if_expired(key, Instant::now());
            Ok(b.entries.get(key).cloned())
        })
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> Pending<'a, ()> {
        self.with(bucket, |b, quota| {
            b.forget_if_expired(key, Instant::now());
            b.set(bucket, quota, key, value)?;
            b.expires.remove(key);
            Ok(())
        })
    }

    fn set_with_ttl<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Pending<'a, ()> {
        self.with(bucket, |b, quota| {
            let now = Instant::now();
            b.forget_if_expired(key, now);
            b.set(bucket, quota, key, value)?;
            b.expires.insert(key.to_string(), now + ttl);
            Ok(())
        })
    }

    fn expire<'a>(&'a self, bucket: &'a str, key: &'a str, ttl: Duration) -> Pending<'a, bool> {
        self.with(bucket, |b, _| {
            let now = Instant::now();
            b.forget_if_expired(key, now);
            if !b.entries.contains_key(key) {
                return Ok(false);
            }
            if ttl.is_zero() {
                b.delete(key);
            } else {
                b.expires.insert(key.to_string(), now + ttl);
            }
            Ok(true)
        })
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, ()> {
        self.with(bucket, |b, _| {
            b.delete(key);
            Ok(())
        })
    }

    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, bool> {
        self.with(bucket, |b, _| {
            b.forget_if_expired(key, Instant::now());
            Ok(b.entries.contains_key(key))
        })
    }

    fn list_keys<'a>(&'a self, bucket: &'a str, after: Option<String>) -> Pending<'a, KeyPage> {
        self.with(bucket, |b, _| {
            use std::ops::Bound;
            b.sweep(Instant::now(), true);
            let start = match &after {
                Some(after) => Bound::Excluded(after.clone()),
                None => Bound::Unbounded,
            };
            let keys: Vec<String> = b
                .entries
                .range((start, Bound::Unbounded))
                .take(KEYS_PER_PAGE + 1)
                .map(|(key, _)| key.clone())
                .collect();
            Ok(KeyPage::from_fetched(keys))
        })
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: i64) -> Pending<'a, i64> {
        self.with(bucket, |b, quota| {
            // The time to live, if any, stays (as Redis's INCRBY keeps it).
            b.forget_if_expired(key, Instant::now());
            let current = parse_counter(bucket, key, b.entries.get(key).map(Vec::as_slice))?;
            let new = add_to_counter(bucket, key, current, delta)?;
            b.set(bucket, quota, key, new.to_string().into_bytes())?;
            Ok(new)
        })
    }

    fn compare_and_swap<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Pending<'a, bool> {
        self.with(bucket, |b, quota| {
            b.forget_if_expired(key, Instant::now());
            if b.entries.get(key) != expected.as_ref() {
                return Ok(false);
            }
            b.set(bucket, quota, key, value)?;
            b.expires.remove(key);
            Ok(true)
        })
    }

    fn get_many<'a>(
        &'a self,
        bucket: &'a str,
        keys: Vec<String>,
    ) -> Pending<'a, Vec<Option<Vec<u8>>>> {
        self.with(bucket, |b, _| {
            let now = Instant::now();
            for key in &keys {
                b.forget_if_expired(key, now);
            }
            Ok(keys.iter().map(|key| b.entries.get(key).cloned()).collect())
        })
    }

    fn set_many<'a>(&'a self, bucket: &'a str, entries: Vec<(String, Vec<u8>)>) -> Pending<'a, ()> {
        self.with(bucket, |b, quota| {
            let now = Instant::now();
            for (key, _) in &entries {
                b.forget_if_expired(key, now);
            }
            // All or nothing: a quota hit half-way undoes the first ones.
            let before: Vec<(String, Option<Vec<u8>>)> = entries
                .iter()
                .map(|(key, _)| (key.clone(), b.entries.get(key).cloned()))
                .collect();
            for (key, value) in entries {
                if let Err(error) = b.set(bucket, quota, &key, value) {
                    for (key, old) in before.into_iter().rev() {
                        b.delete(&key);
                        if let Some(old) = old {
                            b.bytes += (key.len() + old.len()) as u64;
                            b.entries.insert(key, old);
                        }
                    }
                    return Err(error);
                }
            }
            for (key, _) in &before {
                b.expires.remove(key);
            }
            Ok(())
        })
    }

    fn delete_many<'a>(&'a self, bucket: &'a str, keys: Vec<String>) -> Pending<'a, ()> {
        self.with(bucket, |b, _| {
            for key in &keys {
                b.delete(key);
            }
            Ok(())
        })
    }

    fn buckets(&self) -> Pending<'_, Vec<String>> {
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut names: Vec<String> = buckets.keys().cloned().collect();
        names.sort();
        Box::pin(std::future::ready(Ok(names)))
    }
}
