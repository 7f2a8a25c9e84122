//! `yell-host pipe`'s options, checked and turned into a [`PipeConfig`].
//!
//! Owns: [`PipeArgs`]. Uses: the plugin options, the plugin lookup and the
//! runtime's limits.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use super::plugin_options::{chain_specs, offline_limits, ConfigEntry, SandboxArgs};
use super::registry_options::RegistryArgs;
use super::state_options::StateArgs;
use super::values::parse_byte_size;
use crate::locate::locate_chain;
use crate::pipe::PipeConfig;

/// Options of `yell-host pipe`.
#[derive(Debug, Clone, Args)]
pub struct PipeArgs {
    /// The plugin: a path or a bare name (looked up as the server's `--plugin`); given
    /// several times, a chain (as the server's `--plugin`).
    #[arg(short, long, default_value = "uppercase.wasm")]
    pub plugin: Vec<PathBuf>,

    /// Configuration handed to a plugin at init, as the server's:
    /// [NAME:]KEY=VALUE.
    #[arg(long = "plugin-config", value_name = "[NAME:]KEY=VALUE", value_parser = ConfigEntry::parse)]
    pub plugin_config: Vec<ConfigEntry>,

    /// A folder where bare plugin names are looked up first (as the
    /// server's `--plugin-dir`).
    #[arg(long, env = "YELL_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,

    /// Longest line accepted, without the line ending.
    #[arg(long, default_value = "64KiB", value_parser = parse_byte_size)]
    pub max_line_length: usize,

    /// What plugins are granted beyond the sandbox, and their limits (as
    /// the server's).
    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// State: the store and the buckets granted (in memory unless
    /// `--keyvalue` names a file).
    #[command(flatten)]
    pub state: StateArgs,

    /// Plugins from OCI registries (as the server's).
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// A file's lines take longer than a network batch: a second of running
/// time per call unless `--plugin-timeout` says otherwise.
const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_secs(1);

impl PipeArgs {
    /// Checks the options and resolves them: plugins located, their
    /// configuration, grants and limits.
    pub fn config(self) -> Result<PipeConfig> {
        let paths = locate_chain(&self.plugin, self.plugin_dir.as_deref())?;
        let mut specs = chain_specs(paths, &self.plugin_config, "--plugin-config")?;
        let limits = offline_limits(&self.sandbox, &mut specs, DEFAULT_PLUGIN_TIMEOUT)?;
        let names: Vec<String> = specs
            .iter()
            .map(|spec| yell_runtime::plugin_name(&spec.path))
            .collect();
        let state = self.state.offline_config(&names)?;
        Ok(PipeConfig {
            registry: self.registry.config(limits.largest_memory_bytes)?,
            state,
            plugins: specs,
            limits,
            max_line_length: self.max_line_length,
        })
    }
}
