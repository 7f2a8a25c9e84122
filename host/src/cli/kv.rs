//! `yell-host kv`: what is in the plugins' state store, for operators:
//! list buckets and keys, get, set and delete a key, and export or import
//! everything as JSON lines (a backup, or a move to another backend).
//! An embedded store is one process's: while a server holds it, stop the
//! server first.
//!
//! Owns: [`KvArgs`]. Uses: the keyvalue module.

use std::io::{Read, Write};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use crate::keyvalue::grants::check_bucket_name;
use crate::keyvalue::transfer;
use crate::keyvalue::{KeyValueLimits, KeyValueSpec, StateStore};

/// Options of `yell-host kv`.
#[derive(Debug, Clone, Args)]
pub struct KvArgs {
    /// The store, as the server's --keyvalue takes it [default: the
    /// server's default file, $XDG_STATE_HOME/yell-host/state.redb].
    #[arg(long, value_name = "memory:|PATH|redis://HOST:PORT", value_parser = KeyValueSpec::parse)]
    pub keyvalue: Option<KeyValueSpec>,

    /// What the deployment's Redis keys begin with, as the server's.
    #[arg(long, default_value = "yell:")]
    pub keyvalue_prefix: String,

    /// For a rediss:// store: trust only the PEM certificates in this
    /// file, as the server's.
    #[arg(long, value_name = "FILE")]
    pub keyvalue_ca: Option<std::path::PathBuf>,

    #[command(subcommand)]
    pub action: KvAction,
}

/// What `yell-host kv` does.
#[derive(Debug, Clone, Subcommand)]
pub enum KvAction {
    /// The buckets that hold keys, or the keys of BUCKET, one per line.
    List {
        /// The bucket whose keys to list.
        bucket: Option<String>,
    },
    /// The value of KEY, as it is (exit code 1 when it is not set).
    Get { bucket: String, key: String },
    /// Sets KEY to VALUE (or to what stdin holds, without VALUE).
    Set {
        bucket: String,
        key: String,
        value: Option<String>,
    },
    /// Removes KEY.
    Delete { bucket: String, key: String },
    /// Every key (of the BUCKETs given, else of every bucket) as JSON
    /// lines on stdout: {"bucket", "key", "value"} ("hex" for a value that
    /// is not UTF-8).
    Export { buckets: Vec<String> },
    /// Sets every key of the JSON lines on stdin, as export writes them.
    Import,
}

impl KvArgs {
    /// Does it.
    pub async fn execute(self) -> Result<()> {
        let spec = self
            .keyvalue
            .unwrap_or_else(KeyValueSpec::default_embedded)
            .with_ca(self.keyvalue_ca);
        spec.check()?;
        if let KeyValueSpec::Embedded(path) = &spec {
            // Reading a store that is not there would make an empty one.
            let writes = matches!(self.action, KvAction::Set { .. } | KvAction::Import);
            if !writes && !path.exists() {
                bail!(
                    "no state store at {}: nothing has been stored there",
                    path.display()
                );
            }
        }
        let bucket = match &self.action {
            KvAction::List { bucket } => bucket.as_deref(),
            KvAction::Get { bucket, .. }
            | KvAction::Set { bucket, .. }
            | KvAction::Delete { bucket, .. } => Some(bucket.as_str()),
            KvAction::Export { .. } | KvAction::Import => None,
        };
        if let Some(bucket) = bucket {
            check_bucket_name(bucket)?;
        }
        if let KvAction::Export { buckets } = &self.action {
            buckets
                .iter()
                .try_for_each(|bucket| check_bucket_name(bucket))?;
        }
        let limits = KeyValueLimits::default();
        let backend = spec
            .open(
                &limits,
                std::time::Duration::ZERO,
                &self.keyvalue_prefix,
                &[],
            )
            .await?;
        let store = StateStore::new(backend, limits);
        let backend = store.backend();
        let mut stdout = std::io::stdout().lock();
        match self.action {
            KvAction::List { bucket: None } => {
                for bucket in backend.buckets().await? {
                    writeln!(stdout, "{bucket}")?;
                }
            }
            KvAction::List {
                bucket: Some(bucket),
            } => {
                let mut cursor = None;
                loop {
                    let page = backend.list_keys(&bucket, cursor.take()).await?;
                    for key in &page.keys {
                        writeln!(stdout, "{key}")?;
                    }
                    match page.cursor {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
            }
            KvAction::Get { bucket, key } => match backend.get(&bucket, &key).await? {
                Some(value) => stdout.write_all(&value)?,
                None => bail!("{bucket}/{key} is not set"),
            },
            KvAction::Set { bucket, key, value } => {
                let value = match value {
                    Some(value) => value.into_bytes(),
                    None => {
                        let mut value = Vec::new();
                        std::io::stdin()
                            .read_to_end(&mut value)
                            .context("reading the value from stdin")?;
                        value
                    }
                };
                store.check_key(&key)?;
                store.check_value(&value)?;
                backend.set(&bucket, &key, value).await?;
            }
            KvAction::Delete { bucket, key } => backend.delete(&bucket, &key).await?,
            KvAction::Export { buckets } => {
                let count = transfer::export(backend, &buckets, &mut stdout).await?;
                eprintln!(
                    "yell-host kv: exported {count} keys from {}",
                    backend.describe()
                );
            }
            KvAction::Import => {
                let count = transfer::import(backend, std::io::stdin().lock()).await?;
                eprintln!(
                    "yell-host kv: imported {count} keys into {}",
                    backend.describe()
                );
            }
        }
        stdout.flush()?;
        Ok(())
    }
}
