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
    Set {
        bucket: String,
        entries: Vec<(String, Vec<u8>)>,
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
    Swapped(bool),
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
        read: impl FnOnce(
                &redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
            ) -> Result<T, redb::Error>
            + Send
            + 'static,
    ) -> Pending<'a, T> {
        let db = self.db.clone();
        Box::pin(async move {
            let result = tokio::task::spawn_blocking(move || {
                let txn = db.begin_read()?;
                let table = txn.open_table(ENTRIES)?;
                read(&table)
            })
            .await
            .map_err(|error| self.backend_error(error))?;
            result.map_err(|error| self.backend_error(error))
        })
    }
}

impl KeyValueBackend for EmbeddedBackend {
    fn describe(&self) -> String {
        format!("embedded store {}", self.path.display())
    }

    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, Option<Vec<u8>>> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        self.read(move |table| {
            Ok(table
                .get((bucket.as_str(), key.as_str()))?
                .map(|v| v.value().to_vec()))
        })
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> Pending<'a, ()> {
        let op = WriteOp::Set {
            bucket: bucket.into(),
            entries: vec![(key.into(), value)],
        };
        Box::pin(async move { self.write(op).await.map(|_| ()) })
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
        self.read(move |table| Ok(table.get((bucket.as_str(), key.as_str()))?.is_some()))
    }

    fn list_keys<'a>(&'a self, bucket: &'a str, after: Option<String>) -> Pending<'a, KeyPage> {
        let bucket = bucket.to_string();
        self.read(move |table| {
            let start = match &after {
                Some(after) => Bound::Excluded((bucket.as_str(), after.as_str())),
                None => Bound::Included((bucket.as_str(), "")),
            };
            let mut keys = Vec::new();
            for entry in table.range::<(&str, &str)>((start, Bound::Unbounded))? {
                let (key, _) = entry?;
                let (in_bucket, key) = key.value();
                if in_bucket != bucket || keys.len() > KEYS_PER_PAGE {
                    break;
                }
                keys.push(key.to_string());
            }
            let more = keys.len() > KEYS_PER_PAGE;
            keys.truncate(KEYS_PER_PAGE);
            let cursor = if more { keys.last().cloned() } else { None };
            Ok(KeyPage { keys, cursor })
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
                Outcome::Swapped(swapped) => Ok(swapped),
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
        self.read(move |table| {
            keys.iter()
                .map(|key| {
                    Ok(table
                        .get((bucket.as_str(), key.as_str()))?
                        .map(|v| v.value().to_vec()))
                })
                .collect()
        })
    }

    fn set_many<'a>(&'a self, bucket: &'a str, entries: Vec<(String, Vec<u8>)>) -> Pending<'a, ()> {
        let op = WriteOp::Set {
            bucket: bucket.into(),
            entries,
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

/// The writer thread: groups the queued writes into one commit each, until
/// every sender is gone.
fn write_until_closed(db: &Database, queue: &mpsc::Receiver<Write>, quota: Quota) {
    while let Ok(first) = queue.recv() {
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
}

/// Applies `group` in one transaction and commits it: each write's
/// outcome, or, when the commit fails, that failure for every one.
fn apply_group(db: &Database, group: &[Write], quota: Quota) -> Vec<Result<Outcome, StoreError>> {
    let applied = (|| -> Result<Vec<Result<Outcome, StoreError>>, redb::Error> {
        let txn = db.begin_write()?;
        let outcomes = {
            let mut entries = txn.open_table(ENTRIES)?;
            let mut usage = txn.open_table(USAGE)?;
            group
                .iter()
                .map(|write| apply(&mut entries, &mut usage, &write.op, quota))
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

type Entries<'t> = redb::Table<'t, (&'static str, &'static str), &'static [u8]>;
type Usage<'t> = redb::Table<'t, &'static str, (u64, u64)>;

/// One write: `Ok(Err(..))` when it is refused (and changed nothing),
/// `Err` when the store failed.
fn apply(
    entries: &mut Entries<'_>,
    usage: &mut Usage<'_>,
    op: &WriteOp,
    quota: Quota,
) -> Result<Result<Outcome, StoreError>, redb::Error> {
    match op {
        WriteOp::Set {
            bucket,
            entries: new,
        } => {
            let (mut keys, mut bytes) = usage
                .get(bucket.as_str())?
                .map(|v| v.value())
                .unwrap_or((0, 0));
            // Checked as a whole first: a write over the quota writes nothing.
            let mut seen = std::collections::HashMap::new();
            for (key, value) in new {
                let old = match seen.get(key.as_str()) {
                    Some(len) => Some(*len),
                    None => entries
                        .get((bucket.as_str(), key.as_str()))?
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
                entries.insert((bucket.as_str(), key.as_str()), value.as_slice())?;
            }
            usage.insert(bucket.as_str(), (keys, bytes))?;
            Ok(Ok(Outcome::Done))
        }
        WriteOp::Delete { bucket, keys: gone } => {
            let (mut keys, mut bytes) = usage
                .get(bucket.as_str())?
                .map(|v| v.value())
                .unwrap_or((0, 0));
            for key in gone {
                if let Some(old) = entries.remove((bucket.as_str(), key.as_str()))? {
                    keys = keys.saturating_sub(1);
                    bytes = bytes.saturating_sub((key.len() + old.value().len()) as u64);
                }
            }
            if keys == 0 {
                usage.remove(bucket.as_str())?;
            } else {
                usage.insert(bucket.as_str(), (keys, bytes))?;
            }
            Ok(Ok(Outcome::Done))
        }
        WriteOp::Increment { bucket, key, delta } => {
            let current = entries
                .get((bucket.as_str(), key.as_str()))?
                .map(|v| v.value().to_vec());
            let new = match parse_counter(bucket, key, current.as_deref())
                .and_then(|current| add_to_counter(bucket, key, current, *delta))
            {
                Ok(new) => new,
                Err(refused) => return Ok(Err(refused)),
            };
            let set = WriteOp::Set {
                bucket: bucket.clone(),
                entries: vec![(key.clone(), new.to_string().into_bytes())],
            };
            Ok(apply(entries, usage, &set, quota)?.map(|_| Outcome::Counter(new)))
        }
        WriteOp::CompareAndSwap {
            bucket,
            key,
            expected,
            value,
        } => {
            let current = entries
                .get((bucket.as_str(), key.as_str()))?
                .map(|v| v.value().to_vec());
            if current != *expected {
                return Ok(Ok(Outcome::Swapped(false)));
            }
            let set = WriteOp::Set {
                bucket: bucket.clone(),
                entries: vec![(key.clone(), value.clone())],
            };
            Ok(apply(entries, usage, &set, quota)?.map(|_| Outcome::Swapped(true)))
        }
    }
}
