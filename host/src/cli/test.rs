//! `yell-host test`'s options, checked and turned into a [`TestConfig`].
//!
//! Owns: [`TestArgs`]. Uses: the plugin options, the plugin lookup and the
//! runtime's limits.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;

use super::plugin_options::{chain_specs, offline_limits, ConfigEntry, SandboxArgs};
use super::registry_options::RegistryArgs;
use super::state_options::StateArgs;
use super::values::parse_byte_size;
use crate::locate::locate_chain;
use crate::plugin_test::{ReportFormat, TestConfig};
use crate::project::{self, BuildOptions};

/// Options of `yell-host test`.
#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// What to test: a plugin project folder (built first; its tests/
    /// folder holds the fixtures), a component file, or a bare name looked
    /// up as the server's `--plugin`.
    #[arg(value_name = "DIR|PLUGIN", default_value = ".")]
    pub plugin: PathBuf,

    /// A folder of fixtures: each NAME.in is sent through the plugin on a
    /// connection of its own and what comes back (greeting and last words
    /// included) must be NAME.out, byte for byte; NAME.config (KEY=VALUE
    /// lines), NAME.peer (the client address the plugin sees) and
    /// NAME.framing (`lines` or `raw`) are optional.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,

    /// Configuration handed to the plugin at init, as the server's
    /// `--plugin-config` (a fixture's NAME.config adds to it).
    #[arg(long = "plugin-config", value_name = "KEY=VALUE", value_parser = ConfigEntry::parse)]
    pub plugin_config: Vec<ConfigEntry>,

    /// A folder where a bare plugin name is looked up first (as the
    /// server's `--plugin-dir`).
    #[arg(long, env = "YELL_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,

    /// Longest line accepted, without the line ending (as the server's):
    /// the conformance input sends a line of exactly this length.
    #[arg(long, default_value = "64KiB", value_parser = parse_byte_size)]
    pub max_line_length: usize,

    /// The report on stdout as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,

    /// Also write the report as JUnit XML to FILE (for CI).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// What the plugin is granted beyond the sandbox, and its limits (as
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

/// The server's running time per call, so what passes here passes there.
const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_millis(100);

/// The least wall-clock time a call gets here unless
/// `--plugin-wall-timeout` is given.
const TEST_WALL_TIMEOUT: Duration = Duration::from_secs(30);

impl TestArgs {
    /// Checks the options and resolves them: the plugin located, its
    /// configuration, grants and limits.
    pub fn config(mut self) -> Result<TestConfig> {
        if self.plugin.is_dir() && !crate::oci::is_reference(&self.plugin) {
            // A project: built (the compile cache makes a rebuild of what
            // did not change quick), its fixtures in tests/.
            let project = self.plugin.clone();
            self.plugin = project::build(&project, &BuildOptions::default())?;
            let fixtures = project.join("tests");
            if self.fixtures.is_none() && fixtures.is_dir() {
                self.fixtures = Some(fixtures);
            }
        }
        if let Some(dir) = &self.fixtures {
            if !dir.is_dir() {
                bail!("--fixtures {}: no such folder", dir.display());
            }
        }
        let paths = locate_chain(
            std::slice::from_ref(&self.plugin),
            self.plugin_dir.as_deref(),
        )?;
        let mut specs = chain_specs(paths, &self.plugin_config, "--plugin-config")?;
        let mut limits = offline_limits(&self.sandbox, &mut specs, DEFAULT_PLUGIN_TIMEOUT)?;
        if self.sandbox.plugin_wall_timeout.is_empty() {
            // The running time is the server's, so a plugin too slow for
            // it fails here; the wall clock, which counts waiting for a
            // CPU, is generous unless given, since a busy CI machine is
            // not a slow plugin.
            limits.wall_timeout = limits.wall_timeout.max(TEST_WALL_TIMEOUT);
            for spec in &mut specs {
                if let Some(wall) = &mut spec.limits.wall_timeout {
                    *wall = (*wall).max(TEST_WALL_TIMEOUT);
                }
            }
        }
        let names: Vec<String> = specs
            .iter()
            .map(|spec| yell_runtime::plugin_name(&spec.path))
            .collect();
        let state = self.state.offline_config(&names)?;
        Ok(TestConfig {
            registry: self.registry.config(limits.largest_memory_bytes)?,
            state,
            plugin: specs.remove(0),
            limits,
            max_line_length: self.max_line_length,
            fixtures: self.fixtures,
            format: if self.json {
                ReportFormat::Json
            } else {
                ReportFormat::Text
            },
            junit: self.junit,
        })
    }
}
