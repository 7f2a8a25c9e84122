//! `yell-host client`'s options, checked and turned into a
//! [`ClientConfig`]: the messages read, the expected-reply plugins located.
//!
//! Owns: [`ClientArgs`]. Uses: the client's config and workload, the
//! plugin lookup and the plugin options' config entries.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;

use super::plugin_options::{chain_specs, ConfigEntry};
use crate::client::{ClientConfig, Workload};
use crate::locate::locate_chain;

/// Options of the load client.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Number of connections.
    #[arg(short = 'n', long = "connections", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,

    /// Server address.
    #[arg(long, default_value = "127.0.0.1:1234")]
    pub addr: String,

    /// How long to send (e.g. `5s`, `500ms`), warm-up included.
    #[arg(short, long, default_value = "5s", value_parser = humantime::parse_duration, conflicts_with = "lines")]
    pub duration: Duration,

    /// Send this many lines in all (over all connections) instead of
    /// running for a duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub lines: Option<u64>,

    /// Lines in flight per connection: 1 is ping-pong.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub depth: u32,

    /// The line sent (without line ending).
    #[arg(short, long, conflicts_with_all = ["size", "message_file"])]
    pub message: Option<String>,

    /// Send lines of this many bytes (letters) instead of a message.
    #[arg(long, conflicts_with = "message_file")]
    pub size: Option<usize>,

    /// Send the lines of this file, taken in turn.
    #[arg(long)]
    pub message_file: Option<PathBuf>,

    /// Open loop: send this many lines per second in all, whatever the
    /// replies do; latency counts from when each line should have gone.
    #[arg(long)]
    pub rate: Option<f64>,

    /// Run this long first without counting (e.g. `1s`).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,

    /// The plugin whose answers the replies must be (run here on each
    /// message): a path or a bare name (looked up as the server's `--plugin`). Given several
    /// times, a chain, as the server's `--plugin`.
    #[arg(long, default_value = "uppercase.wasm")]
    pub expect_plugin: Vec<PathBuf>,

    /// Configuration of the expected-reply plugins, as the server's
    /// `--plugin-config`: [NAME:]KEY=VALUE.
    #[arg(long, value_name = "[NAME:]KEY=VALUE", value_parser = ConfigEntry::parse)]
    pub expect_config: Vec<ConfigEntry>,

    /// A folder where bare plugin names are looked up first (as the
    /// server's `--plugin-dir`).
    #[arg(long, env = "YELL_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,

    /// Count reply lines (one per line sent) without checking them.
    #[arg(long)]
    pub no_verify: bool,

    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// When the server closes a connection cleanly (a drain, a restart
    /// behind a balancer), connect again and resend the lines it had not
    /// answered, instead of counting a `closed` error.
    #[arg(long)]
    pub reconnect: bool,
}

impl ClientArgs {
    fn messages(&self) -> Result<Vec<Vec<u8>>> {
        if let Some(file) = &self.message_file {
            return Workload::read_message_file(file);
        }
        if let Some(size) = self.size {
            let line: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
            return Ok(vec![line]);
        }
        Ok(vec![self
            .message
            .clone()
            .unwrap_or_else(|| "hello world".into())
            .into_bytes()])
    }

    /// Checks the options and resolves them into a load test.
    pub fn config(self) -> Result<ClientConfig> {
        if let Some(rate) = self.rate {
            if !(rate > 0.0 && rate.is_finite()) {
                bail!("--rate must be a positive number of lines per second");
            }
        }
        let messages = self.messages()?;
        let expect = if self.no_verify {
            None
        } else {
            let paths = locate_chain(&self.expect_plugin, self.plugin_dir.as_deref())?;
            Some(chain_specs(paths, &self.expect_config, "--expect-config")?)
        };
        Ok(ClientConfig {
            connections: self.connections,
            addr: self.addr,
            duration: self.duration,
            lines: self.lines,
            depth: self.depth,
            messages,
            rate: self.rate,
            warmup: self.warmup,
            expect,
            json: self.json,
            reconnect: self.reconnect,
        })
    }
}
