//! The load client's final report, as text or as one JSON object.
//!
//! Owns: the report of a load test. Uses: the config, the driver's outcomes, the workload.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

use super::config::ClientConfig;
use super::driver::{Failure, Mismatch, Outcome};
use super::workload::Workload;
use crate::stats::human_duration;

/// Everything measured in a run.
pub struct Report {
    connections: u32,
    addr: String,
    depth: u32,
    rate: Option<f64>,
    verified: bool,
    seconds: f64,
    lines: u64,
    bytes_per_line: f64,
    /// p50, p90, p99, p99.9, max.
    latency: [(&'static str, Duration); 5],
    /// Connection failures by kind.
    failures: Vec<(&'static str, u64)>,
    failure_messages: Vec<String>,
    mismatches: u64,
    shown_mismatches: Vec<Mismatch>,
    /// Lines answered on the slowest and the fastest connection.
    slowest: u64,
    fastest: u64,
    /// With `--reconnect`: connections made again, lines sent again.
    reconnect: bool,
    reconnects: u64,
    resent: u64,
}

const FAILURE_KINDS: [Failure; 4] = [
    Failure::Refused,
    Failure::Reset,
    Failure::Timeout,
    Failure::Closed,
];

impl Report {
    pub fn new(
        config: &ClientConfig,
        workload: &Workload,
        outcomes: &[Outcome],
        latencies: &Histogram<u64>,
        measured: Duration,
    ) -> Self {
        let quantile = |q: f64| Duration::from_nanos(latencies.value_at_quantile(q));
        Report {
            connections: config.connections,
            addr: config.addr.clone(),
            depth: config.depth,
            rate: config.rate,
            verified: config.expect.is_some(),
            seconds: measured.as_secs_f64().max(1e-9),
            lines: outcomes.iter().map(|o| o.lines).sum(),
            bytes_per_line: workload.mean_line_bytes(),
            latency: [
                ("p50", quantile(0.5)),
                ("p90", quantile(0.9)),
                ("p99", quantile(0.99)),
                ("p99.9", quantile(0.999)),
                ("max", Duration::from_nanos(latencies.max())),
            ],
            failures: FAILURE_KINDS
                .iter()
                .map(|kind| {
                    let count = outcomes
                        .iter()
                        .filter(|o| matches!(o.failure, Some((k, _)) if k == *kind))
                        .count();
                    (kind.name(), count as u64)
                })
                .collect(),
            failure_messages: outcomes
                .iter()
                .filter_map(|o| o.failure.as_ref().map(|(_, message)| message.clone()))
                .collect(),
            mismatches: outcomes.iter().map(|o| o.mismatches).sum(),
            shown_mismatches: outcomes
                .iter()
                .flat_map(|o| o.shown_mismatches.iter().cloned())
                .take(3)
                .collect(),
            slowest: outcomes.iter().map(|o| o.lines).min().unwrap_or(0),
            fastest: outcomes.iter().map(|o| o.lines).max().unwrap_or(0),
            reconnect: config.reconnect,
            reconnects: outcomes.iter().map(|o| o.reconnects).sum(),
            resent: outcomes.iter().map(|o| o.resent).sum(),
        }
    }

    fn lines_per_second(&self) -> f64 {
        self.lines as f64 / self.seconds
    }

    fn failed_connections(&self) -> u64 {
        self.failures.iter().map(|(_, count)| count).sum()
    }

    /// An error when anything went wrong, for the exit code.
    pub fn verdict(&self) -> anyhow::Result<()> {
        let failed = self.failed_connections();
        if failed > 0 || self.mismatches > 0 {
            anyhow::bail!(
                "{failed} connections failed, {} replies were wrong",
                self.mismatches
            );
        }
        if self.lines == 0 {
            anyhow::bail!("no line was answered");
        }
        Ok(())
    }

    pub fn to_json(&self) -> serde_json::Value {
        let latency: serde_json::Map<String, serde_json::Value> = self
            .latency
            .iter()
            .map(|(name, value)| (format!("{name}_us"), json!(value.as_secs_f64() * 1e6)))
            .collect();
        let errors: serde_json::Map<String, serde_json::Value> = self
            .failures
            .iter()
            .map(|(kind, count)| (kind.to_string(), json!(count)))
            .chain([("mismatch".to_string(), json!(self.mismatches))])
            .collect();
        json!({
            "addr": self.addr,
            "connections": self.connections,
            "depth": self.depth,
            "rate": self.rate,
            "verified": self.verified,
            "seconds": self.seconds,
            "lines": self.lines,
            "lines_per_second": self.lines_per_second(),
            "bytes_per_second": self.lines_per_second() * self.bytes_per_line,
            "latency": latency,
            "errors": errors,
            "connection_lines": { "slowest": self.slowest, "fastest": self.fastest },
            "mismatch_examples": self.shown_mismatches.iter().map(|m| json!({
                "sent": String::from_utf8_lossy(&m.sent),
                "got": String::from_utf8_lossy(&m.got),
                "expected": String::from_utf8_lossy(&m.expected),
            })).collect::<Vec<_>>(),
            "failure_messages": self.failure_messages,
            "reconnects": self.reconnects,
            "resent_lines": self.resent,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.rate {
            Some(rate) => format!("open loop at {rate:.0} lines/s"),
            None => format!("depth {}", self.depth),
        };
        writeln!(
            f,
            "{} connections to {}, {mode}, {:.2} s measured",
            self.connections, self.addr, self.seconds
        )?;
        writeln!(f, "lines: {}", self.lines)?;
        writeln!(f, "lines/s: {:.0}", self.lines_per_second())?;
        writeln!(
            f,
            "bytes/s: {:.0} sent",
            self.lines_per_second() * self.bytes_per_line
        )?;
        let latency: Vec<String> = self
            .latency
            .iter()
            .map(|(name, value)| format!("{name} {}", human_duration(*value)))
            .collect();
        writeln!(f, "latency: {}", latency.join(", "))?;
        if self.verified {
            writeln!(f, "mismatched replies: {}", self.mismatches)?;
        } else {
            writeln!(f, "replies: not verified")?;
        }
        for m in &self.shown_mismatches {
            writeln!(
                f,
                "  sent {:?}, got {:?}, expected {:?}",
                String::from_utf8_lossy(&m.sent),
                String::from_utf8_lossy(&m.got),
                String::from_utf8_lossy(&m.expected)
            )?;
        }
        let failures: Vec<String> = self
            .failures
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect();
        writeln!(
            f,
            "connection errors: {} ({})",
            self.failed_connections(),
            failures.join(", ")
        )?;
        for message in self.failure_messages.iter().take(5) {
            writeln!(f, "  {message}")?;
        }
        if self.reconnect {
            writeln!(
                f,
                "reconnects: {} ({} unanswered lines sent again)",
                self.reconnects, self.resent
            )?;
        }
        let spread = if self.slowest > 0 {
            self.fastest as f64 / self.slowest as f64
        } else {
            f64::INFINITY
        };
        writeln!(
            f,
            "lines per connection: slowest {}, fastest {} ({spread:.2}x)",
            self.slowest, self.fastest
        )
    }
}
