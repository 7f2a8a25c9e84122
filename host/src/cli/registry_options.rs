//! The options that say how plugins are pulled from OCI registries: which
//! registries may be plain HTTP, which CA to trust, what a pull may
//! download, and the cache. Shared by the server, `pipe`, `test`, `pull`
//! and `push`.
//!
//! Owns: [`RegistryArgs`]. Uses: the oci module's configuration.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::values::parse_byte_size;
use crate::oci::{OciCache, RegistryConfig};

/// OCI registries (`--plugin oci://...`).
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// A registry HOST (or HOST:PORT) that may be reached over plain HTTP
    /// (tried after HTTPS, as loopback registries are); repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registry: Vec<String>,

    /// Trust the PEM certificates in this file (a private CA) for
    /// registries, besides the system's roots.
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,

    /// Most bytes one plugin pull may download [default: the largest
    /// plugin memory cap and a quarter].
    #[arg(long, value_name = "SIZE", value_parser = parse_byte_size)]
    pub oci_max_bytes: Option<usize>,

    /// Where pulled plugins are kept [default:
    /// $XDG_CACHE_HOME/yell-host/oci].
    #[arg(long, value_name = "DIR", env = "YELL_OCI_CACHE")]
    pub oci_cache: Option<PathBuf>,

    /// Most bytes the pulled plugins' cache keeps; past it, those used
    /// least recently are removed.
    #[arg(long, default_value = "1GiB", value_name = "SIZE", value_parser = parse_byte_size)]
    pub oci_cache_max: usize,
}

impl RegistryArgs {
    /// The registry configuration, with pulls bounded by `--oci-max-bytes`
    /// or else by `largest_memory` (the largest plugin memory cap: a
    /// component larger than the memory it may use is rarely a plugin) and
    /// a quarter.
    pub fn config(&self, largest_memory: usize) -> Result<RegistryConfig> {
        let dir = match &self.oci_cache {
            Some(dir) => dir.clone(),
            None => OciCache::default_dir()
                .context("no cache folder for pulled plugins: set XDG_CACHE_HOME or HOME, or give --oci-cache")?,
        };
        let max_bytes = match self.oci_max_bytes {
            Some(bytes) => bytes,
            None => largest_memory.saturating_add(largest_memory / 4),
        };
        Ok(RegistryConfig {
            insecure: self.insecure_registry.clone(),
            ca: self.registry_ca.clone(),
            max_bytes: max_bytes as u64,
            cache: OciCache::new(dir, self.oci_cache_max as u64),
        })
    }
}
