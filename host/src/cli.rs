//! The command line: `yell-host [serve options]`, `yell-host serve ...` and
//! `yell-host client ...`. Options are checked and the plugin loaded before
//! anything binds, so a mistake fails fast with a message and exit code 1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::client::ClientArgs;
use crate::connection::{ConnectionContext, OnPluginError};
use crate::framing::{Framing, LineFramer};
use crate::limits::PluginLimits;
use crate::plugin::locate::{locate_plugin, BUILT_PLUGIN_DIR};
use crate::plugin::PluginRuntime;
use crate::server::Server;
use crate::stats::Stats;

/// A TCP line server whose line transform is a sandboxed WebAssembly plugin.
///
/// Without a subcommand it serves: `yell-host --plugin uppercase.wasm`.
#[derive(Debug, Parser)]
#[command(name = "yell-host", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve lines through a plugin (what `yell-host` does by default).
    Serve(ServeArgs),
    /// Load-test a line server: N connections, every reply checked.
    Client(ClientArgs),
}

/// Options of the server.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port, printed at start).
    #[arg(short, long, default_value = "127.0.0.1:1234")]
    pub listen: SocketAddr,

    /// The plugin component: a path, or a bare name looked up in the plugin
    /// folder (`uppercase.wasm`, or just `uppercase`).
    #[arg(short, long, default_value = "uppercase.wasm")]
    pub plugin: PathBuf,

    /// Where bare plugin names are looked up [default: target/plugins of
    /// the source tree this binary was built from].
    #[arg(long, env = "YELL_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,

    /// Configuration handed to the plugin at init, as KEY=VALUE; repeatable.
    #[arg(long = "plugin-config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub plugin_config: Vec<(String, String)>,

    /// How bytes are cut up for the plugin: `lines` (split on '\n', batched)
    /// or `raw` (each chunk read, as it came).
    #[arg(long, value_enum, default_value_t = Framing::Lines)]
    pub framing: Framing,

    /// Longest line accepted, in bytes without the line ending; a client
    /// sending a longer one gets an error line and is closed.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_line_length: u32,

    /// Longest a single plugin call may run (e.g. `100ms`, `2s`).
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    pub plugin_timeout: Duration,

    /// Most memory one plugin instance may use, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub plugin_memory_mib: u32,

    /// What a plugin failure means for the connection: answer an error line
    /// and go on (`error`), answer it and close (`close`), or pass the input
    /// through unchanged (`pass`).
    #[arg(long, value_enum, default_value_t = OnPluginError::Error)]
    pub on_plugin_error: OnPluginError,
}

fn parse_key_value(raw: &str) -> Result<(String, String)> {
    match raw.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => bail!("expected KEY=VALUE, got {raw:?}"),
    }
}

impl ServeArgs {
    /// Loads the plugin, binds, serves until Ctrl-C or SIGTERM, prints the
    /// summary.
    pub async fn execute(self) -> Result<()> {
        if self.plugin_timeout.is_zero() {
            bail!("--plugin-timeout must be more than zero");
        }
        let plugin_dir = self
            .plugin_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(BUILT_PLUGIN_DIR));
        let plugin_path = locate_plugin(&self.plugin, &plugin_dir)?;
        let limits = PluginLimits {
            call_timeout: self.plugin_timeout,
            memory_bytes: (self.plugin_memory_mib as usize) << 20,
        };
        let runtime = PluginRuntime::new(limits)?;
        let plugin = Arc::new(runtime.load(&plugin_path, &self.plugin_config)?);

        let shutdown = CancellationToken::new();
        let context = ConnectionContext {
            plugin: plugin.clone(),
            framing: self.framing,
            framer: LineFramer::new(self.max_line_length as usize),
            on_plugin_error: self.on_plugin_error,
            stats: Arc::new(Stats::default()),
            shutdown: shutdown.clone(),
        };
        let signals = ShutdownSignals::install()?;
        let server = Server::bind(self.listen, context).await?;
        let addr = server.local_addr()?;
        // Scripts and tests read this line to learn the port.
        println!(
            "yell-host listening on {addr} (plugin {}, framing {})",
            plugin.path().display(),
            self.framing.name()
        );
        tokio::spawn(signals.cancel_on_signal(shutdown));
        let summary = server.run().await;
        println!("{summary}");
        Ok(())
    }
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from before the server says it
/// listens, so that a signal sent right after that line is never missed.
struct ShutdownSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        })
    }

    /// Cancels `shutdown` at the first signal.
    async fn cancel_on_signal(mut self, shutdown: CancellationToken) {
        let name = tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        };
        tracing::info!("{name}: shutting down");
        shutdown.cancel();
    }
}
