//! `yell-host client`: a load tester for line servers that measures
//! everything and verifies every reply.
//!
//! N connections each keep `--depth` lines in flight (closed loop), or send
//! at `--rate` lines/s in total (open loop, latency counted from each line's
//! intended send time so a stalled server cannot hide). Every reply is
//! compared with what the same plugin component, run here, answers
//! (`--expect-plugin`, default uppercase). The report has lines/s, bytes/s,
//! latency quantiles from an HDR histogram, errors by kind and the spread
//! between connections; `--json` prints it as one JSON object.

mod driver;
mod report;
mod workload;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::plugin::spec::ConfigEntry;
use crate::stats::latency;
use driver::{drive, Failure, Shared};
use report::Report;
use workload::{ExpectedPlugins, Workload};

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
    /// message): a path or a bare name in the plugin folder. Given several
    /// times, a chain, as the server's `--plugin`.
    #[arg(long, default_value = "uppercase.wasm")]
    pub expect_plugin: Vec<PathBuf>,

    /// Configuration of the expected-reply plugins, as the server's
    /// `--plugin-config`: [NAME:]KEY=VALUE.
    #[arg(long, value_name = "[NAME:]KEY=VALUE", value_parser = ConfigEntry::parse)]
    pub expect_config: Vec<ConfigEntry>,

    /// Where bare plugin names are looked up.
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

    pub async fn execute(self) -> Result<()> {
        if let Some(rate) = self.rate {
            if !(rate > 0.0 && rate.is_finite()) {
                bail!("--rate must be a positive number of lines per second");
            }
        }
        let workload = Workload::new(
            self.messages()?,
            (!self.no_verify).then_some(ExpectedPlugins {
                chain: &self.expect_plugin,
                config: &self.expect_config,
                plugin_dir: self.plugin_dir.as_deref(),
            }),
        )?;
        crate::server::raise_open_file_limit();
        let mut streams = Vec::with_capacity(self.connections as usize);
        for _ in 0..self.connections {
            match TcpStream::connect(&self.addr).await {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    streams.push(stream);
                }
                Err(error) => {
                    let kind = if error.kind() == std::io::ErrorKind::ConnectionRefused {
                        Failure::Refused.name()
                    } else {
                        "connect"
                    };
                    return Err(error)
                        .with_context(|| format!("cannot connect to {} ({kind})", self.addr));
                }
            }
        }

        let run_start = Instant::now();
        let duration = match self.lines {
            // A line budget becomes a schedule: run until that many are
            // counted, the duration flag being ignored.
            Some(_) => Duration::from_secs(3600),
            None => self.duration,
        };
        let connections = self.connections as f64;
        let depth = self.depth as usize;
        let shared = Arc::new(Shared {
            line_runs: workload.line_runs(depth),
            reply_runs: workload.reply_runs(depth),
            workload,
            depth,
            rate_per_connection: self.rate.map(|rate| rate / connections),
            run_start,
            measure_from: run_start + self.warmup,
            send_until: run_start + duration.max(self.warmup),
            line_budget: self.lines,
            lines_claimed: AtomicU64::new(0),
            live_lines: AtomicU64::new(0),
            live_errors: AtomicU64::new(0),
            latencies: Mutex::new(latency::empty()),
            reconnect_to: self.reconnect.then(|| self.addr.clone()),
        });
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|stream| tokio::spawn(drive(stream, shared.clone())))
            .collect();
        // Drawn on stderr, so only when stderr is a terminal: `2> log` gets
        // no escape codes, `> report.txt` keeps the progress on screen.
        let progress = std::io::stderr()
            .is_terminal()
            .then(|| tokio::spawn(show_progress(shared.clone())));
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            outcomes.push(task.await.context("a connection task panicked")?);
        }
        if let Some(progress) = progress {
            progress.abort();
            eprint!("\r\x1b[2K");
        }
        let measured = Instant::now().saturating_duration_since(shared.measure_from);
        let latencies = shared.latencies.lock().expect("latency lock").clone();
        let report = Report::new(&self, &shared.workload, &outcomes, &latencies, measured);
        if self.json {
            println!("{}", report.to_json());
        } else {
            print!("{report}");
        }
        report.verdict()
    }
}

/// Rewrites one status line on stderr every second: lines/s, p99 so far,
/// errors.
async fn show_progress(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last = 0;
    loop {
        ticker.tick().await;
        let lines = shared.live_lines.load(Relaxed);
        let p99 = {
            let latencies = shared.latencies.lock().expect("latency lock");
            Duration::from_nanos(latencies.value_at_quantile(0.99))
        };
        eprint!(
            "\r\x1b[2K{} lines/s, p99 {}, {} errors",
            lines - last,
            crate::stats::human_duration(p99),
            shared.live_errors.load(Relaxed)
        );
        last = lines;
    }
}
