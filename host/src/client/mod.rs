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
//!
//! Owns: [`run`], the load test. Uses: its config, driver, report and workload, and the
//! stats' histograms.

mod config;
mod driver;
mod report;
mod workload;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::stats::latency;
pub use config::ClientConfig;
use driver::{drive, Failure, Shared};
use report::Report;
pub use workload::Workload;

/// Runs the load test `config` describes, prints its report, and fails
/// if any line failed or got a wrong reply.
pub async fn run(config: ClientConfig) -> Result<()> {
    let workload = Workload::new(config.messages.clone(), config.expect.as_deref())?;
    crate::server::raise_open_file_limit();
    let mut streams = Vec::with_capacity(config.connections as usize);
    for _ in 0..config.connections {
        match TcpStream::connect(&config.addr).await {
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
                    .with_context(|| format!("cannot connect to {} ({kind})", config.addr));
            }
        }
    }

    let run_start = Instant::now();
    let duration = match config.lines {
        // A line budget becomes a schedule: run until that many are
        // counted, the duration flag being ignored.
        Some(_) => Duration::from_secs(3600),
        None => config.duration,
    };
    let connections = config.connections as f64;
    let depth = config.depth as usize;
    let shared = Arc::new(Shared {
        line_runs: workload.line_runs(depth),
        reply_runs: workload.reply_runs(depth),
        workload,
        depth,
        rate_per_connection: config.rate.map(|rate| rate / connections),
        run_start,
        measure_from: run_start + config.warmup,
        send_until: run_start + duration.max(config.warmup),
        line_budget: config.lines,
        lines_claimed: AtomicU64::new(0),
        live_lines: AtomicU64::new(0),
        live_errors: AtomicU64::new(0),
        latencies: Mutex::new(latency::empty()),
        reconnect_to: config.reconnect.then(|| config.addr.clone()),
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
    let report = Report::new(&config, &shared.workload, &outcomes, &latencies, measured);
    if config.json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    report.verdict()
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
