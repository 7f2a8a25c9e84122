//! `--keyvalue`: which backend holds the plugins' state. `memory:` (in
//! process), `redis://` or `rediss://` (a fleet; not offered by this
//! build yet, and refused with that said), or a file path for the embedded
//! store; the default is `$XDG_STATE_HOME/yell-host/state.redb` (else
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
use super::store::{KeyValueLimits, StateStore};

/// Which backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValueSpec {
    /// In this process's memory.
    Memory,
    /// The embedded store in this file.
    Embedded(PathBuf),
}

impl KeyValueSpec {
    /// Parses `--keyvalue`'s value.
    pub fn parse(value: &str) -> Result<KeyValueSpec> {
        if value == "memory:" || value == "memory" {
            return Ok(KeyValueSpec::Memory);
        }
        if value.starts_with("redis://") || value.starts_with("rediss://") {
            bail!(
                "--keyvalue {value}: this yell-host has no Redis backend yet; use the embedded store (a file path, the default) or memory:"
            );
        }
        if value.is_empty() || value.contains("://") {
            bail!("--keyvalue {value:?}: give memory:, or the path of the embedded store's file");
        }
        Ok(KeyValueSpec::Embedded(PathBuf::from(value)))
    }

    /// The embedded store at its default place.
    pub fn default_embedded() -> KeyValueSpec {
        KeyValueSpec::Embedded(default_state_file())
    }

    /// Opens the backend; an embedded store held by another process is
    /// waited for up to `wait`.
    pub fn open(
        &self,
        limits: &KeyValueLimits,
        wait: Duration,
    ) -> Result<Arc<dyn KeyValueBackend>> {
        Ok(match self {
            KeyValueSpec::Memory => Arc::new(MemoryBackend::new(limits.quota)),
            KeyValueSpec::Embedded(path) => {
                Arc::new(EmbeddedBackend::open(path, limits.quota, wait)?)
            }
        })
    }
}

impl std::fmt::Display for KeyValueSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyValueSpec::Memory => f.write_str("memory:"),
            KeyValueSpec::Embedded(path) => write!(f, "{}", path.display()),
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
}

impl StateConfig {
    /// The store, opened when some bucket is granted (`None` otherwise:
    /// nothing is opened, and every open is `access-denied`).
    pub fn open(&self, wait: Duration) -> Result<Option<Arc<StateStore>>> {
        if self.grants.is_empty() {
            return Ok(None);
        }
        let backend = self.spec.open(&self.limits, wait)?;
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
    fn specs_parse_and_redis_says_it_is_not_here_yet() {
        assert_eq!(
            KeyValueSpec::parse("memory:").unwrap(),
            KeyValueSpec::Memory
        );
        assert_eq!(
            KeyValueSpec::parse("/var/lib/y/state.redb").unwrap(),
            KeyValueSpec::Embedded("/var/lib/y/state.redb".into())
        );
        let error = KeyValueSpec::parse("redis://127.0.0.1:6379")
            .unwrap_err()
            .to_string();
        assert!(error.contains("no Redis backend yet"), "{error}");
        assert!(KeyValueSpec::parse("s3://bucket").is_err());
    }
}
