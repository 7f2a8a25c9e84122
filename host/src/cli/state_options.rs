//! The options that give plugins state: which backend, who may open which
//! bucket, and the limits of a state call. Shared by `yell-host` (the
//! server), `pipe` and `test`.
//!
//! Owns: [`StateArgs`]. Uses: the keyvalue module's config types.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::values::parse_byte_size;
use crate::keyvalue::{BucketGrants, KeyValueLimits, KeyValueSpec, Quota, StateConfig};

/// Plugin state (`wasi:keyvalue`).
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// Where plugins' state is kept: `memory:` (this process only),
    /// `redis://HOST:PORT[/DB]` (shared by a fleet), or the path of the
    /// embedded store's file [default:
    /// $XDG_STATE_HOME/yell-host/state.redb; memory: for `pipe` and
    /// `test`]. Opened only when a bucket is granted.
    #[arg(long, value_name = "memory:|PATH|redis://HOST:PORT", value_parser = KeyValueSpec::parse)]
    pub keyvalue: Option<KeyValueSpec>,

    /// A bucket of state a plugin may open: BUCKET for every plugin of the
    /// chain, NAME:BUCKET for the plugin named NAME; repeatable. Without
    /// one, every open is `access-denied`.
    #[arg(long = "plugin-bucket", value_name = "[NAME:]BUCKET")]
    pub plugin_bucket: Vec<String>,

    /// Longest one state call may wait for the backend; past it the
    /// plugin gets an error for that call.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    pub keyvalue_timeout: Duration,

    /// Longest key a plugin may use.
    #[arg(long, default_value = "1KiB", value_parser = parse_byte_size)]
    pub keyvalue_max_key: usize,

    /// Longest value a plugin may store.
    #[arg(long, default_value = "1MiB", value_parser = parse_byte_size)]
    pub keyvalue_max_value: usize,

    /// What one bucket may hold: KEYS:SIZE (keys, and bytes of keys and
    /// values), counted by the process that owns an embedded store, fleet-wide in
    /// Redis.
    #[arg(long, default_value = "1000000:1GiB", value_name = "KEYS:SIZE", value_parser = parse_quota)]
    pub keyvalue_quota: Quota,

    /// What every Redis key of this deployment begins with, so that
    /// deployments sharing one Redis keep apart.
    #[arg(long, default_value = "yell:")]
    pub keyvalue_prefix: String,

    /// For `--keyvalue rediss://...`: trust only the PEM certificates in
    /// this file (a private CA) instead of the system's roots.
    #[arg(long, value_name = "FILE")]
    pub keyvalue_ca: Option<PathBuf>,
}

impl StateArgs {
    /// The state configuration for a chain whose plugins are named
    /// `plugins`, the server's way: the embedded store unless told.
    pub fn config(&self, plugins: &[String]) -> Result<StateConfig> {
        self.config_or(plugins, KeyValueSpec::default_embedded)
    }

    /// The state configuration for `pipe` and `test`: in memory unless
    /// told, so a run leaves nothing behind.
    pub fn offline_config(&self, plugins: &[String]) -> Result<StateConfig> {
        self.config_or(plugins, || KeyValueSpec::Memory)
    }

    fn config_or(
        &self,
        plugins: &[String],
        default: impl FnOnce() -> KeyValueSpec,
    ) -> Result<StateConfig> {
        if self.keyvalue_timeout.is_zero() {
            bail!("--keyvalue-timeout must be more than zero");
        }
        let spec = match &self.keyvalue {
            Some(spec) => spec.clone().with_ca(self.keyvalue_ca.clone()),
            None if self.keyvalue_ca.is_some() => {
                bail!("--keyvalue-ca is for --keyvalue rediss://...")
            }
            None => default(),
        };
        spec.check()?;
        let grants = BucketGrants::parse(&self.plugin_bucket, plugins)?;
        if self.keyvalue.is_some() && grants.is_empty() {
            // Not an error (a chain without state may be served with the
            // deployment's usual options), but nothing is opened or checked.
            tracing::warn!(
                "--keyvalue is given but no --plugin-bucket: the store is not opened, \
                 and every plugin's open is access-denied"
            );
        }
        Ok(StateConfig {
            spec,
            limits: KeyValueLimits {
                max_key_bytes: self.keyvalue_max_key,
                max_value_bytes: self.keyvalue_max_value,
                timeout: self.keyvalue_timeout,
                quota: self.keyvalue_quota,
            },
            grants,
            prefix: self.keyvalue_prefix.clone(),
        })
    }
}

/// Parses `KEYS:SIZE`.
fn parse_quota(raw: &str) -> Result<Quota> {
    let (keys, bytes) = raw
        .split_once(':')
        .with_context(|| format!("{raw:?}: give KEYS:SIZE, e.g. 100000:64MiB"))?;
    let keys: u64 = keys
        .trim()
        .parse()
        .with_context(|| format!("{raw:?}: {keys:?} is not a number of keys"))?;
    let bytes = parse_byte_size(bytes)? as u64;
    if keys == 0 || bytes == 0 {
        bail!("{raw:?}: a bucket must be allowed at least one key and one byte");
    }
    Ok(Quota { keys, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse() {
        assert_eq!(
            parse_quota("10:1KiB").unwrap(),
            Quota {
                keys: 10,
                bytes: 1024
            }
        );
        assert!(parse_quota("10").is_err());
        assert!(parse_quota("0:1KiB").is_err());
        assert!(parse_quota("x:1KiB").is_err());
    }
}
