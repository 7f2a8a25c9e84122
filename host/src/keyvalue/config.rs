//! `--keyvalue`: which backend holds the plugins' state. `memory:` (in
//! process), `redis://HOST:PORT[/DB]` (a fleet; `rediss://` over TLS, with
//! the system's roots or `--keyvalue-ca`), or a file path for
//! the embedded store; the default is `$XDG_STATE_HOME/yell-host/state.redb` (else
//! `~/.local/state/yell-host/state.redb`). Nothing is opened unless some
//! bucket is granted.
//!
//! Owns: [`KeyValueSpec`], [`StateConfig`] and opening the backend. Uses:
//! the backends, the store, the grants.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};

use super::backend::KeyValueBackend;
use super::embedded::EmbeddedBackend;
use super::grants::BucketGrants;
use super::memory::MemoryBackend;
use super::redis_store::{without_password, RedisBackend};
use super::store::{KeyValueLimits, StateStore};

/// Which backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValueSpec {
    /// In this process's memory.
    Memory,
    /// The embedded store in this file.
    Embedded(PathBuf),
    /// A Redis server, by URL (`rediss://`: over TLS, trusting the
    /// system's roots, or only the certificates of `ca`).
    Redis { url: String, ca: Option<PathBuf> },
}

impl KeyValueSpec {
    /// Parses `--keyvalue`'s value.
    pub fn parse(value: &str) -> Result<KeyValueSpec> {
        if value == "memory:" || value == "memory" {
            return Ok(KeyValueSpec::Memory);
        }
        // Checked by `check`, not here: the argument parser would show a
        // refused value whole, password included.
        if value.starts_with("redis://") || value.starts_with("rediss://") {
            return Ok(KeyValueSpec::Redis {
                url: value.to_string(),
                ca: None,
            });
        }
        if value.is_empty() || value.contains("://") {
            bail!("--keyvalue {value:?}: give memory:, or the path of the embedded store's file");
        }
        Ok(KeyValueSpec::Embedded(PathBuf::from(value)))
    }

    /// Refuses what cannot be opened, without showing a password.
    pub fn check(&self) -> Result<()> {
        let KeyValueSpec::Redis { url, ca } = self else {
            return Ok(());
        };
        if ca.is_some() && !url.starts_with("rediss://") {
            bail!(
                "--keyvalue-ca is for Redis over TLS: --keyvalue {} is not rediss://",
                without_password(url)
            );
        }
        super::redis_store::client(url, ca.as_deref()).map(|_| ())
    }

    /// The same store, trusting only the certificates in `ca` for a
    /// `rediss://` Redis.
    pub fn with_ca(self, ca: Option<PathBuf>) -> KeyValueSpec {
        match self {
            KeyValueSpec::Redis { url, .. } => KeyValueSpec::Redis { url, ca },
            other => other,
        }
    }

    /// The embedded store at its default place.
    pub fn default_embedded() -> KeyValueSpec {
        KeyValueSpec::Embedded(default_state_file())
    }

    /// Opens the backend: an embedded store held by another process is
    /// waited for up to `wait`, and so is a Redis that does not answer;
    /// Redis keys go under `prefix`.
    pub async fn open(
        &self,
        limits: &KeyValueLimits,
        wait: Duration,
        prefix: &str,
        buckets: &[String],
    ) -> Result<Arc<dyn KeyValueBackend>> {
        Ok(match self {
            KeyValueSpec::Memory => Arc::new(MemoryBackend::new(limits.quota)),
            KeyValueSpec::Embedded(path) => {
                let (path, quota) = (path.clone(), limits.quota);
                let opened =
                    tokio::task::spawn_blocking(move || EmbeddedBackend::open(&path, quota, wait))
                        .await
                        .map_err(anyhow::Error::from)??;
                Arc::new(opened)
            }
            KeyValueSpec::Redis { url, ca } => {
                // A Redis that is not there fails fast; one that does not
                // answer is waited for a while, not for the whole drain.
                let wait = wait.clamp(Duration::from_secs(1), Duration::from_secs(10));
                let client = super::redis_store::client(url, ca.as_deref())?;
                let backend =
                    RedisBackend::connect(client, url, prefix, limits.quota, wait).await?;
                RedisBackend::sweep_periodically(&backend, buckets.to_vec());
                backend
            }
        })
    }
}

impl std::fmt::Display for KeyValueSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyValueSpec::Memory => f.write_str("memory:"),
            KeyValueSpec::Embedded(path) => write!(f, "{}", path.display()),
            KeyValueSpec::Redis { url, .. } => f.write_str(&without_password(url)),
        }
    }
}

/// `$XDG_STATE_HOME/yell-host/state.redb`, else
/// `~/.local/state/yell-host/state.redb`, else in the working folder.
pub fn default_state_file() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|home| !home.is_empty())
                .map(|home| PathBuf::from(home).join(".local/state"))
        });
    match base {
        Some(base) => base.join("yell-host").join("state.redb"),
        None => PathBuf::from("yell-host-state.redb"),
    }
}

/// What a server's plugins get of state: the backend, its limits, and who
/// may open which bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    pub spec: KeyValueSpec,
    pub limits: KeyValueLimits,
    pub grants: BucketGrants,
    /// What every Redis key begins with: one deployment's keys apart from
    /// another's on the same Redis.
    pub prefix: String,
}

impl StateConfig {
    /// The store, opened when some bucket is granted (`None` otherwise:
    /// nothing is opened, and every open is `access-denied`).
    pub async fn open(&self, wait: Duration) -> Result<Option<Arc<StateStore>>> {
        if self.grants.is_empty() {
            return Ok(None);
        }
        let backend = self
            .spec
            .open(&self.limits, wait, &self.prefix, &self.grants.all_buckets())
            .await?;
        tracing::info!(
            "state: {} (buckets {})",
            backend.describe(),
            self.grants.all_buckets().join(", ")
        );
        Ok(Some(Arc::new(StateStore::new(backend, self.limits))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_a_refusal_never_shows_the_password() {
        assert_eq!(
            KeyValueSpec::parse("memory:").unwrap(),
            KeyValueSpec::Memory
        );
        assert_eq!(
            KeyValueSpec::parse("/var/lib/y/state.redb").unwrap(),
            KeyValueSpec::Embedded("/var/lib/y/state.redb".into())
        );
        assert_eq!(
            KeyValueSpec::parse("redis://127.0.0.1:6379/2").unwrap(),
            KeyValueSpec::Redis {
                url: "redis://127.0.0.1:6379/2".into(),
                ca: None
            }
        );
        KeyValueSpec::parse("rediss://:secret@host:6380")
            .unwrap()
            .check()
            .unwrap();
        let error = KeyValueSpec::parse("redis://:secret@host:6380")
            .unwrap()
            .with_ca(Some("/etc/ca.pem".into()))
            .check()
            .unwrap_err()
            .to_string();
        assert!(error.contains("not rediss://"), "{error}");
        let error = KeyValueSpec::parse("rediss://:secret@host:6380")
            .unwrap()
            .with_ca(Some("/nonexistent/ca.pem".into()))
            .check()
            .unwrap_err();
        let error = format!("{error:#}");
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        assert!(KeyValueSpec::parse("s3://bucket").is_err());
    }
}
