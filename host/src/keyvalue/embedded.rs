//! The default backend: one file (redb: ACID, copy-on-write, pure Rust)
//! under `$XDG_STATE_HOME/yell-host/`, or `--keyvalue PATH`.
//!
//! redb's calls block, so none runs on an async worker. Reads run on
//! tokio's blocking threads, each in a read transaction of its own (they
//! never wait for writes). Writes go to one writer thread, which takes
//! every write queued behind the first, applies them in order in one
//! transaction, commits it (redb's `Durability::Immediate`: the commit is
//! on disk when it returns) and only then answers them: a write a plugin
//! has seen succeed survives `kill -9` of the host, and a power loss as
//! long as the disk keeps what it said it wrote; concurrent writers share
//! one commit. A write refused (its quota, a counter that is not a number)
//! changes nothing and fails alone.
//!
//! A key with a time to live is gone for every read once it expires (each
//! read checks), and leaves the file (and its bucket's quota) when a write
//! meets it or when the writer sweeps, once a second, the keys whose time
//! has come.
//!
//! The file is one process's (redb locks it). A second process that finds
//! it locked waits, up to the wait it is given (the drain timeout, so a
//! socket-activated upgrade starts once the old process let go), then
//! fails, saying that processes sharing state use `redis://`.
//!
//! Owns: [`EmbeddedBackend`], the writer thread. Uses: the backend
//! interface.

// redb's error type is large (160 bytes); its errors are rare, and each is
// turned into a short StoreError where it is met, so it is not boxed.
#![allow(clippy::result_large_err)]

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use redb::{Database, ReadableTable, TableDefinition};

use super::backend::{
    add_to_counter, parse_counter, KeyPage, KeyValueBackend, Pending, Quota, StoreError,
    KEYS_PER_PAGE,
};

/// Every key of every bucket: (bucket, key) → value.
const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
/// What each bucket holds: bucket → (keys, bytes of keys and values).
const USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("usage");
/// Keys with a time to live: (bucket, key) → when they expire, in
/// milliseconds since the Unix epoch.
const EXPIRES: TableDefinition<(&str, &str), u64> = TableDefinition::new("expires");
/// The same by time, for the sweep: (when, bucket, key).
const DEADLINES: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("deadlines");

/// How often the writer sweeps expired keys out.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Most keys one sweep removes (the rest wait for the next).
const MOST_SWEPT: usize = 10_000;

/// Now, in milliseconds since the Unix epoch (the clock expiry is kept in,
/// so that it means the same after a restart).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_millis() as u64)
        .unwrap_or(0)
}

/// Most writes one commit takes.
const MOST_WRITES_PER_COMMIT: usize = 1024;

/// The embedded store.
pub struct EmbeddedBackend {
    path: PathBuf,
    db: Arc<Database>,
    writes: mpsc::Sender<Write>,
}

/// A write for the writer thread, and where its outcome goes.
struct Write {
    op: WriteOp,
    reply: tokio::sync::oneshot::Sender<Result<Outcome, StoreError>>,
}

enum WriteOp {
    /// Sets the entries, lasting (`ttl` None) or to expire after `ttl`.
    Set {
        bucket: String,
        entries: Vec<(String, Vec<u8>)>,
        ttl: Option<Duration>,
    },
    Expire {
        bucket: String,
        key: String,
        ttl: Duration,
    },
    Delete {
        bucket: String,
        keys: Vec<String>,
    },
    Increment {
        bucket: String,
        key: String,
        delta: i64,
    },
    CompareAndSwap {
        bucket: String,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    },
}

enum Outcome {
    Done,
    Counter(i64),
    /// Whether a swap swapped, or an expire found its key.
    Yes(bool),
}

impl EmbeddedBackend {
    /// Opens (or makes) the store at `path`, waiting up to `wait` for
    /// another process to let go of it; each bucket held to `quota`.
    pub fn open(path: &Path, quota: Quota, wait: Duration) -> Result<EmbeddedBackend> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let started = Instant::now();
        let db = loop {
            match Database::create(path) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => bail!(
                    "the state file {} is in use by another process (waited {wait:?}): one process owns an embedded store; processes that share state use --keyvalue redis://HOST:PORT",
                    path.display()
                ),
                Err(error) => {
                    return Err(error).with_context(|| format!("opening the state file {}", path.display()))
                }
            }
        };
        let db = Arc::new(db);
        // The tables exist from the start, so a read never finds none.
        let txn = db.begin_write().context("opening the state file")?;
        txn.open_table(ENTRIES).context("opening the state file")?;
        txn.open_table(USAGE).context("opening the state file")?;
        txn.open_table(EXPIRES).context("opening the state file")?;
        txn.open_table(DEADLINES)
            .context("opening the state file")?;
        txn.commit().context("opening the state file")?;
        let (writes, queue) = mpsc::channel();
        let writer_db = db.clone();
        std::thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || write_until_closed(&writer_db, &queue, quota))
            .context("starting the state writer")?;
        Ok(EmbeddedBackend {
            path: path.to_path_buf(),
            db,
            writes,
        })
    }

    fn backend_error(&self, cause: impl std::fmt::Display) -> StoreError {
        StoreError::Backend(format!("embedded store {}: {cause}", self.path.display()))
    }

    /// Sends `op` to the writer; its outcome once committed.
    fn write(&self, op: WriteOp) -> Pending<'_, Outcome> {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let sent = self.writes.send(Write { op, reply });
        Box::pin(async move {
            sent.map_err(|_| self.backend_error("the writer has stopped"))?;
            outcome
                .await
                .map_err(|_| self.backend_error("the writer has stopped"))?
        })
    }

    /// Runs `read` in a read transaction on a blocking thread.
    fn read<'a, T: Send + 'static>(
        &'a self,
        read: impl FnOnce(&ReadView) -> Result<T, redb::Error> + Send + 'static,
    ) -> Pending<'a, T> {
        let db = self.db.clone();
        Box::pin(async move {
            let result = tokio::task::spawn_blocking(move || {
                let txn = db.begin_read()?;
                let view = ReadView {
                    entries: txn.open_table(ENTRIES)?,
                    expires: txn.open_table(EXPIRES)?,
                    now: now_ms(),
                };
                read(&view)
            })
            .await
            .map_err(|error| self.backend_error(error))?;
            result.map_err(|error| self.backend_error(error))
        })
    }
}

/// What a read sees: the entries, less those expired.
struct ReadView {
    entries: redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    expires: redb::ReadOnlyTable<(&'static str, &'static str), u64>,
    now: u64,
}

impl ReadView {
    fn expired(&self, bucket: &str, key: &str) -> Result<bool, redb::Error> {
        Ok(self
            .expires
            .get((bucket, key))?
            .is_some_and(|at| at.value() <= self.now))
    }

    fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, redb::Error> {
        if self.expired(bucket, key)? {
            return Ok(None);
        }
        Ok(self.entries.get((bucket, key))?.map(|v| v.value().to_vec()))
    }
}

impl KeyValueBackend for EmbeddedBackend {
    fn describe(&self) -> String {
        format!("embedded store {}", self.path.display())
    }

    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, Option<Vec<u8>>> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.read(move |view| view.get(&bucket, &key))
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> Pending<'a, ()> {
        let op = WriteOp::Set {
            bucket: bucket.into(),
            entries: vec![(key.into(), value)],
            ttl: None,
        };
        Box::pin(async move { self.write(op).await.map(|_| ()) })
    }

    fn set_with_ttl<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Pending<'a, ()> {
        let op = WriteOp::Set {
            bucket: bucket.into(),
            entries: vec![(key.into(), value)],
            ttl: Some(ttl),
        };
        Box::pin(async move { self.write(op).await.map(|_| ()) })
    }

    fn expire<'a>(&'a self, bucket: &'a str, key: &'a str, ttl: Duration) -> Pending<'a, bool> {
        let op = WriteOp::Expire {
            bucket: bucket.into(),
            key: key.into(),
            ttl,
        };
        Box::pin(async move {
            match self.write(op).await? {
                Outcome::Yes(found) => Ok(found),
                _ => unreachable!("an expire answers whether it found the key"),
            }
        })
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, ()> {
        let op = WriteOp::Delete {
            bucket: bucket.into(),
            keys: vec![key.into()],
        };
        Box::pin(async move { self.write(op).await.map(|_| ()) })
    }

    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, bool> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.read(move |view| Ok(view.get(&bucket, &key)?.is_some()))
    }

    fn list_keys<'a>(&'a self, bucket: &'a str, after: Option<String>) -> Pending<'a, KeyPage> {
        let bucket = bucket.to_string();
        self.read(move |view| {
            let start = match &after {
                Some(after) => Bound::Excluded((bucket.as_str(), after.as_str())),
                None => Bound::Included((bucket.as_str(), "")),
            };
            let mut keys = Vec::new();
            for entry in view
                .entries
                .range::<(&str, &str)>((start, Bound::Unbounded))?
            {
                let (key, _) = entry?;
                let (in_bucket, key) = key.value();
                if in_bucket != bucket || keys.len() > KEYS_PER_PAGE {
                    break;
                }
                if !view.expired(in_bucket, key)? {
                    keys.push(key.to_string());
                }
            }
            Ok(KeyPage::from_fetched(keys))
        })
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: i64) -> Pending<'a, i64> {
        let op = WriteOp::Increment {
            bucket: bucket.into(),
            key: key.into(),
            delta,
        };
        Box::pin(async move {
            match self.write(op).await? {
                Outcome::Counter(value) => Ok(value),
                _ => unreachable!("an increment answers with its counter"),
            }
        })
    }

    fn compare_and_swap<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Pending<'a, bool> {
        let op = WriteOp::CompareAndSwap {
            bucket: bucket.into(),
            key: key.into(),
            expected,
            value,
        };
        Box::pin(async move {
            match self.write(op).await? {
                Outcome::Yes(swapped) => Ok(swapped),
                _ => unreachable!("a swap answers whether it swapped"),
            }
        })
    }

    fn get_many<'a>(
        &'a self,
        bucket: &'a str,
        keys: Vec<String>,
    ) -> Pending<'a, Vec<Option<Vec<u8>>>> {
        let bucket = bucket.to_string();
        self.read(move |view| keys.iter().map(|key| view.get(&bucket, key)).collect())
    }

    fn set_many<'a>(&'a self, bucket: &'a str, entries: Vec<(String, Vec<u8>)>) -> Pending<'a, ()> {
        let op = WriteOp::Set {
            bucket: bucket.into(),
            entries,
            ttl: None,
        };
        Box::pin(async move { self.write(op).await.map(|_| ()) })
    }

    fn delete_many<'a>(&'a self, bucket: &'a str, keys: Vec<String>) -> Pending<'a, ()> {
        let op = WriteOp::Delete {
            bucket: bucket.into(),
            keys,
        };
        Box::pin(async move { self.write(op).await.map(|_| ()) })
    }

    fn buckets(&self) -> Pending<'_, Vec<String>> {
        let db = self.db.clone();
        Box::pin(async move {
            let result =
                tokio::task::spawn_blocking(move || -> Result<Vec<String>, redb::Error> {
                    let txn = db.begin_read()?;
                    let usage = txn.open_table(USAGE)?;
                    let mut names = Vec::new();
                    for entry in usage.iter()? {
                        let (name, counts) = entry?;
                        if counts.value().0 > 0 {
                            names.push(name.value().to_string());
                        }
                    }
                    Ok(names)
                })
                .await
                .map_err(|error| self.backend_error(error))?;
            result.map_err(|error| self.backend_error(error))
        })
    }
}

/// The writer thread: groups the queued writes into one commit each, and
/// sweeps expired keys out once a second, until every sender is gone.
fn write_until_closed(db: &Database, queue: &mpsc::Receiver<Write>, quota: Quota) {
    let mut swept = Instant::now();
    loop {
        let first = match queue.recv_timeout(SWEEP_EVERY) {
            Ok(first) => Some(first),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if let Some(first) = first {
            let mut group = vec![first];
            while group.len() < MOST_WRITES_PER_COMMIT {
                match queue.try_recv() {
                    Ok(write) => group.push(write),
                    Err(_) => break,
                }
            }
            let outcomes = apply_group(db, &group, quota);
            for (write, outcome) in group.into_iter().zip(outcomes) {
                let _ = write.reply.send(outcome);
            }
        }
        if swept.elapsed() >= SWEEP_EVERY {
            swept = Instant::now();
            if let Err(error) = sweep(db) {
                tracing::warn!("state: sweeping expired keys failed: {error}");
            }
        }
    }
}

/// Removes the keys whose time has come (at most [`MOST_SWEPT`]).
fn sweep(db: &Database) -> Result<(), redb::Error> {
    let now = now_ms();
    let due: Vec<(String, String)> = {
        let txn = db.begin_read()?;
        let deadlines = txn.open_table(DEADLINES)?;
        let mut due = Vec::new();
        for row in deadlines.range::<(u64, &str, &str)>(..(now + 1, "", ""))? {
            let (when, _) = row?;
            let (_, bucket, key) = when.value();
            due.push((bucket.to_string(), key.to_string()));
            if due.len() >= MOST_SWEPT {
                break;
            }
        }
        due
    };
    if due.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write()?;
    {
        let mut tables = Tables::open(&txn)?;
        for (bucket, key) in &due {
            tables.forget_if_expired(bucket, key, now)?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Applies `group` in one transaction and commits it: each write's
/// outcome, or, when the commit fails, that failure for every one.
fn apply_group(db: &Database, group: &[Write], quota: Quota) -> Vec<Result<Outcome, StoreError>> {
    let applied = (|| -> Result<Vec<Result<Outcome, StoreError>>, redb::Error> {
        let txn = db.begin_write()?;
        let outcomes = {
            let mut tables = Tables::open(&txn)?;
            let now = now_ms();
            group
                .iter()
                .map(|write| tables.apply(&write.op, quota, now))
                .collect::<Result<Vec<_>, redb::Error>>()?
        };
        txn.commit()?;
        Ok(outcomes)
    })();
    match applied {
        Ok(outcomes) => outcomes,
        Err(error) => group
            .iter()
            .map(|_| {
                Err(StoreError::Backend(format!(
                    "embedded store: the commit failed: {error}"
                )))
            })
            .collect(),
    }
}

/// The tables a write changes.
struct Tables<'t> {
    entries: redb::Table<'t, (&'static str, &'static str), &'static [u8]>,
    usage: redb::Table<'t, &'static str, (u64, u64)>,
    expires: redb::Table<'t, (&'static str, &'static str), u64>,
    deadlines: redb::Table<'t, (u64, &'static str, &'static str), ()>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Tables<'t>, redb::Error> {
        Ok(Tables {
            entries: txn.open_table(ENTRIES)?,
            usage: txn.open_table(USAGE)?,
            expires: txn.open_table(EXPIRES)?,
            deadlines: txn.open_table(DEADLINES)?,
        })
    }

    fn usage_of(&self, bucket: &str) -> Result<(u64, u64), redb::Error> {
        Ok(self.usage.get(bucket)?.map(|v| v.value()).unwrap_or((0, 0)))
    }

    fn set_usage(&mut self, bucket: &str, (keys, bytes): (u64, u64)) -> Result<(), redb::Error> {
        if keys == 0 {
            self.usage.remove(bucket)?;
        } else {
            self.usage.insert(bucket, (keys, bytes))?;
        }
        Ok(())
    }

    /// Makes `key` last (no time to live).
    fn clear_expiry(&mut self, bucket: &str, key: &str) -> Result<(), redb::Error> {
        if let Some(when) = self.expires.remove((bucket, key))? {
            self.deadlines.remove((when.value(), bucket, key))?;
        }
        Ok(())
    }

    fn set_expiry(&mut self, bucket: &str, key: &str, when: u64) -> Result<(), redb::Error> {
        self.clear_expiry(bucket, key)?;
        self.expires.insert((bucket, key), when)?;
        self.deadlines.insert((when, bucket, key), ())?;
        Ok(())
    }

    /// Removes `key` and its expiry; whether it was there.
    fn remove(&mut self, bucket: &str, key: &str) -> Result<bool, redb::Error> {
        self.clear_expiry(bucket, key)?;
        let Some(old) = self.entries.remove((bucket, key))?.map(|v| v.value().len()) else {
            return Ok(false);
        };
        let (keys, bytes) = self.usage_of(bucket)?;
        self.set_usage(
            bucket,
            (
                keys.saturating_sub(1),
                bytes.saturating_sub((key.len() + old) as u64),
            ),
        )?;
        Ok(true)
    }

    /// Removes `key` if its time has come.
    fn forget_if_expired(&mut self, bucket: &str, key: &str, now: u64) -> Result<(), redb::Error> {
        let expired = self
            .expires
            .get((bucket, key))?
            .is_some_and(|at| at.value() <= now);
        if expired {
            self.remove(bucket, key)?;
        }
        Ok(())
    }

    fn current(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, redb::Error> {
        Ok(self.entries.get((bucket, key))?.map(|v| v.value().to_vec()))
    }

    /// Sets `new` within `quota`, all or nothing; `Ok(Err(..))` when
    /// refused.
    fn set(
        &mut self,
        bucket: &str,
        new: &[(String, Vec<u8>)],
        quota: Quota,
    ) -> Result<Result<(), StoreError>, redb::Error> {
        let (mut keys, mut bytes) = self.usage_of(bucket)?;
        // Checked as a whole first: a write over the quota writes nothing.
        let mut seen = std::collections::HashMap::new();
        for (key, value) in new {
            let old = match seen.get(key.as_str()) {
                Some(len) => Some(*len),
                None => self
                    .entries
                    .get((bucket, key.as_str()))?
                    .map(|v| v.value().len()),
            };
            match old {
                Some(old) => bytes = bytes - old as u64 + value.len() as u64,
                None => {
                    keys += 1;
                    bytes += (key.len() + value.len()) as u64;
                }
            }
            seen.insert(key.as_str(), value.len());
        }
        if let Err(refused) = quota.check(bucket, keys, bytes) {
            return Ok(Err(refused));
        }
        for (key, value) in new {
            self.entries
                .insert((bucket, key.as_str()), value.as_slice())?;
        }
        self.set_usage(bucket, (keys, bytes))?;
        Ok(Ok(()))
    }

    /// One write: `Ok(Err(..))` when it is refused (and changed nothing),
    /// `Err` when the store failed.
    fn apply(
        &mut self,
        op: &WriteOp,
        quota: Quota,
        now: u64,
    ) -> Result<Result<Outcome, StoreError>, redb::Error> {
        match op {
            WriteOp::Set {
                bucket,
                entries,
                ttl,
            } => {
                for (key, _) in entries {
                    self.forget_if_expired(bucket, key, now)?;
                }
                if let Err(refused) = self.set(bucket, entries, quota)? {
                    return Ok(Err(refused));
                }
                for (key, _) in entries {
                    match ttl {
                        Some(ttl) => self.set_expiry(bucket, key, now + ttl.as_millis() as u64)?,
                        None => self.clear_expiry(bucket, key)?,
                    }
                }
                Ok(Ok(Outcome::Done))
            }
            WriteOp::Expire { bucket, key, ttl } => {
                self.forget_if_expired(bucket, key, now)?;
                if self.current(bucket, key)?.is_none() {
                    return Ok(Ok(Outcome::Yes(false)));
                }
                if ttl.is_zero() {
                    self.remove(bucket, key)?;
                } else {
                    self.set_expiry(bucket, key, now + ttl.as_millis() as u64)?;
                }
                Ok(Ok(Outcome::Yes(true)))
            }
            WriteOp::Delete { bucket, keys } => {
                for key in keys {
                    self.remove(bucket, key)?;
                }
                Ok(Ok(Outcome::Done))
            }
            WriteOp::Increment { bucket, key, delta } => {
                self.forget_if_expired(bucket, key, now)?;
                let current = self.current(bucket, key)?;
                let new = match parse_counter(bucket, key, current.as_deref())
                    .and_then(|current| add_to_counter(bucket, key, current, *delta))
                {
                    Ok(new) => new,
                    Err(refused) => return Ok(Err(refused)),
                };
                // The time to live, if any, stays (as Redis's INCRBY keeps it).
                let entry = [(key.clone(), new.to_string().into_bytes())];
                Ok(self
                    .set(bucket, &entry, quota)?
                    .map(|()| Outcome::Counter(new)))
            }
            WriteOp::CompareAndSwap {
                bucket,
                key,
                expected,
                value,
            } => {
                self.forget_if_expired(bucket, key, now)?;
                if self.current(bucket, key)? != *expected {
                    return Ok(Ok(Outcome::Yes(false)));
                }
                let entry = [(key.clone(), value.clone())];
                if let Err(refused) = self.set(bucket, &entry, quota)? {
                    return Ok(Err(refused));
                }
                self.clear_expiry(bucket, key)?;
                Ok(Ok(Outcome::Yes(true)))
            }
        }
    }
}
