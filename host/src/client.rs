//! `yell-host client`: a load client for line servers. N connections each
//! keep `--depth` lines in flight for `--duration`, every reply is checked
//! against the expected one, and the totals are reported.
//!
//! The expected reply is the message upper-cased (what the default plugin
//! answers); `--no-verify` only counts reply lines, for other plugins.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Options of the load client.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Number of connections.
    #[arg(short = 'n', long = "connections", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,

    /// Server address.
    #[arg(long, default_value = "127.0.0.1:1234")]
    pub addr: String,

    /// How long to send (e.g. `5s`, `500ms`).
    #[arg(short, long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub duration: Duration,

    /// Lines in flight per connection: 1 is ping-pong.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub depth: u32,

    /// The line sent (without line ending).
    #[arg(short, long, default_value = "hello world")]
    pub message: String,

    /// Count reply lines without checking them.
    #[arg(long)]
    pub no_verify: bool,
}

/// How much longer than `--duration` a reply may take before the client
/// gives up on the server.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What one connection did.
#[derive(Debug, Default)]
struct ConnectionReport {
    lines: u64,
    mismatches: u64,
    first_mismatch: Option<Vec<u8>>,
    error: Option<String>,
}

impl ClientArgs {
    pub async fn execute(self) -> Result<()> {
        if self.message.contains('\n') {
            bail!("--message must be one line");
        }
        let mut streams = Vec::with_capacity(self.connections as usize);
        for _ in 0..self.connections {
            let stream = TcpStream::connect(&self.addr)
                .await
                .with_context(|| format!("cannot connect to {}", self.addr))?;
            stream.set_nodelay(true)?;
            streams.push(stream);
        }
        let started = Instant::now();
        let deadline = started + self.duration;
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|stream| {
                let args = self.clone();
                tokio::spawn(async move { drive(stream, &args, deadline).await })
            })
            .collect();
        let mut reports = Vec::with_capacity(tasks.len());
        for task in tasks {
            reports.push(task.await.context("a connection task panicked")?);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let lines: u64 = reports.iter().map(|r| r.lines).sum();
        let mismatches: u64 = reports.iter().map(|r| r.mismatches).sum();
        let errors: Vec<&String> = reports.iter().filter_map(|r| r.error.as_ref()).collect();
        let line_bytes = self.message.len() as f64 + 1.0;
        println!(
            "{} connections to {}, depth {}, {elapsed:.2} s",
            self.connections, self.addr, self.depth
        );
        println!("lines: {lines}");
        println!("lines/s: {:.0}", lines as f64 / elapsed);
        println!(
            "bytes/s: {:.0} each way",
            lines as f64 * line_bytes / elapsed
        );
        if self.no_verify {
            println!("replies: not verified");
        } else {
            println!("mismatched replies: {mismatches}");
            if let Some(example) = reports.iter().find_map(|r| r.first_mismatch.as_ref()) {
                println!("  first: {:?}", String::from_utf8_lossy(example));
            }
        }
        println!("connection errors: {}", errors.len());
        for error in &errors {
            println!("  {error}");
        }
        if !errors.is_empty() || mismatches > 0 {
            bail!(
                "{} connection errors, {mismatches} mismatched replies",
                errors.len()
            );
        }
        Ok(())
    }
}

/// One connection's loop: send `depth` lines, read `depth` reply lines,
/// check them, until the deadline.
async fn drive(mut stream: TcpStream, args: &ClientArgs, deadline: Instant) -> ConnectionReport {
    let mut report = ConnectionReport::default();
    let depth = args.depth as usize;
    let line = format!("{}\n", args.message).into_bytes();
    let expected = args.message.to_ascii_uppercase().into_bytes();
    let burst = line.repeat(depth);
    let mut buffer = vec![0u8; (line.len() * depth).max(64 * 1024)];
    let mut filled = 0;
    let give_up = tokio::time::Instant::from_std(deadline + REPLY_TIMEOUT);
    while Instant::now() < deadline {
        if let Err(error) = stream.write_all(&burst).await {
            report.error = Some(format!("write: {error}"));
            return report;
        }
        let mut pending = depth;
        while pending > 0 {
            if filled == buffer.len() {
                buffer.resize(buffer.len() * 2, 0);
            }
            let read = tokio::time::timeout_at(give_up, stream.read(&mut buffer[filled..])).await;
            let read = match read {
                Err(_) => {
                    report.error = Some("timeout: no reply".into());
                    return report;
                }
                Ok(Err(error)) => {
                    report.error = Some(format!("read: {error}"));
                    return report;
                }
                Ok(Ok(0)) => {
                    report.error = Some("server closed the connection".into());
                    return report;
                }
                Ok(Ok(read)) => read,
            };
            let scan_from = filled;
            filled += read;
            // Only an unfinished line is kept from earlier reads, so the
            // newlines are all in what was just read.
            let mut start = 0;
            for newline in memchr::memchr_iter(b'\n', &buffer[scan_from..filled]) {
                let newline = scan_from + newline;
                let reply = &buffer[start..newline];
                if !args.no_verify && reply != expected.as_slice() {
                    report.mismatches += 1;
                    report.first_mismatch.get_or_insert_with(|| reply.to_vec());
                }
                pending = pending.saturating_sub(1);
                report.lines += 1;
                start = newline + 1;
            }
            buffer.copy_within(start..filled, 0);
            filled -= start;
        }
    }
    let _ = stream.shutdown().await;
    report
}
