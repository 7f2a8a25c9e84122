//! Server-wide counters, plugin timings, the summary printed at shutdown and
//! the periodic stats line.
//!
//! Counters are relaxed atomics updated once per batch, not per line; plugin
//! call times go to sharded HDR histograms (one lock per recording thread,
//! uncontended). Nothing here is on the hot path more than a few atomic adds
//! and one histogram record per plugin call. The Prometheus exporter
//! reads these same figures at scrape time.
//!
//! Owns: [`Stats`] and the shutdown [`Summary`]. Uses: the latency histograms and the
//! log's dropped-line count.

pub mod latency;
pub mod report;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use latency::ShardedHistogram;

use yell_runtime::FailureKind;

/// How many kinds of plugin failure are counted apart.
const FAILURE_KINDS: usize = FailureKind::ALL.len();

/// What the server has done since it started.
pub struct Stats {
    started: Instant,
    connections_total: AtomicU64,
    connections_active: AtomicU64,
    /// Connections refused for being past `--max-connections`.
    connections_refused: AtomicU64,
    lines: AtomicU64,
    /// Lines written to clients: replies, error lines, greetings.
    lines_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Failed plugin calls, by kind (in the order of [`FailureKind::ALL`]).
    plugin_failures: [AtomicU64; FAILURE_KINDS],
    /// Lines the plugin answered with an error of its own.
    line_errors: AtomicU64,
    /// Connections closed for sending a line past the maximum length.
    lines_too_long: AtomicU64,
    /// Connections closed by the idle timeout.
    idle_timeouts: AtomicU64,
    /// Connections closed for a missing or bad PROXY protocol header.
    proxy_headers_refused: AtomicU64,
    /// Plugin call durations, since the last drain.
    call_time: ShardedHistogram,
    /// Plugin time per line (call duration / lines in the call), since the
    /// last drain.
    line_time: ShardedHistogram,
    /// Everything drained so far, for the summary.
    drained: Mutex<Drained>,
}

/// Histograms taken out of the shards, accumulated.
struct Drained {
    call_time: Histogram<u64>,
    line_time: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            connections_total: AtomicU64::new(0),
            connections_active: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            lines: AtomicU64::new(0),
            lines_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            plugin_failures: Default::default(),
            line_errors: AtomicU64::new(0),
            lines_too_long: AtomicU64::new(0),
            idle_timeouts: AtomicU64::new(0),
            proxy_headers_refused: AtomicU64::new(0),
            call_time: ShardedHistogram::default(),
            line_time: ShardedHistogram::default(),
            drained: Mutex::new(Drained {
                call_time: latency::empty(),
                line_time: latency::empty(),
            }),
        }
    }
}

impl Stats {
    pub fn connection_opened(&self) {
        self.connections_total.fetch_add(1, Relaxed);
        self.connections_active.fetch_add(1, Relaxed);
    }

    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_active.fetch_sub(1, Relaxed);
    }

    pub fn connections_active(&self) -> u64 {
        self.connections_active.load(Relaxed)
    }

    pub fn bytes_read(&self, bytes: usize) {
        self.bytes_in.fetch_add(bytes as u64, Relaxed);
    }

    pub fn written(&self, bytes: usize, lines: usize) {
        self.bytes_out.fetch_add(bytes as u64, Relaxed);
        self.lines_out.fetch_add(lines as u64, Relaxed);
    }

    pub fn lines_answered(&self, lines: usize) {
        self.lines.fetch_add(lines as u64, Relaxed);
    }

    /// One plugin call on `lines` lines took `elapsed`.
    pub fn plugin_called(&self, lines: usize, elapsed: Duration) {
        let nanos = elapsed.as_nanos() as u64;
        self.call_time.record(nanos);
        self.line_time.record(nanos / lines.max(1) as u64);
    }

    /// A plugin call failed.
    pub fn plugin_failed(&self, kind: FailureKind) {
        self.plugin_failures[kind.index()].fetch_add(1, Relaxed);
    }

    pub fn lines_failed(&self, lines: usize) {
        self.line_errors.fetch_add(lines as u64, Relaxed);
    }

    pub fn line_too_long(&self) {
        self.lines_too_long.fetch_add(1, Relaxed);
    }

    pub fn idle_timeout(&self) {
        self.idle_timeouts.fetch_add(1, Relaxed);
    }

    pub fn proxy_header_refused(&self) {
        self.proxy_headers_refused.fetch_add(1, Relaxed);
    }

    /// Moves what the histograms recorded since the last call into the
    /// totals, and returns that interval's plugin call times.
    pub fn drain_interval(&self) -> Histogram<u64> {
        let call_time = self.call_time.drain();
        let line_time = self.line_time.drain();
        let mut drained = self.drained.lock().expect("stats lock");
        drained.call_time.add(&call_time).expect("same bounds");
        drained.line_time.add(&line_time).expect("same bounds");
        call_time
    }

    /// The counters now (no histograms).
    pub fn counters(&self) -> Counters {
        Counters {
            uptime: self.started.elapsed(),
            connections: self.connections_total.load(Relaxed),
            connections_active: self.connections_active.load(Relaxed),
            connections_refused: self.connections_refused.load(Relaxed),
            lines: self.lines.load(Relaxed),
            lines_out: self.lines_out.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            plugin_failures: std::array::from_fn(|i| self.plugin_failures[i].load(Relaxed)),
            line_errors: self.line_errors.load(Relaxed),
            lines_too_long: self.lines_too_long.load(Relaxed),
            idle_timeouts: self.idle_timeouts.load(Relaxed),
            proxy_headers_refused: self.proxy_headers_refused.load(Relaxed),
            log_lines_dropped: crate::logging::dropped_lines(),
        }
    }

    /// Every figure now, for the shutdown summary. `generations` is the
    /// number of plugin generations served so far.
    pub fn summary(&self, generations: u64) -> Summary {
        self.drain_interval();
        let drained = self.drained.lock().expect("stats lock");
        Summary {
            counters: self.counters(),
            plugin_calls: drained.call_time.len(),
            call_time: Quantiles::of(&drained.call_time),
            line_time: Quantiles::of(&drained.line_time),
            generations,
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Counters {
    pub uptime: Duration,
    pub connections: u64,
    pub connections_active: u64,
    pub connections_refused: u64,
    /// Lines received and answered.
    pub lines: u64,
    /// Lines written (replies, error lines, greetings, last words).
    pub lines_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Failed plugin calls by kind, in the order of [`FailureKind::ALL`].
    pub plugin_failures: [u64; FAILURE_KINDS],
    pub line_errors: u64,
    pub lines_too_long: u64,
    pub idle_timeouts: u64,
    pub proxy_headers_refused: u64,
    /// Log lines dropped because the log's reader kept up with none of them.
    pub log_lines_dropped: u64,
}

/// p50 and p99 of a duration histogram.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quantiles {
    pub p50: Duration,
    pub p99: Duration,
}

impl Quantiles {
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Quantiles::default();
        }
        Quantiles {
            p50: Duration::from_nanos(histogram.value_at_quantile(0.50)),
            p99: Duration::from_nanos(histogram.value_at_quantile(0.99)),
        }
    }
}

/// All figures at one moment, printed at shutdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub counters: Counters,
    pub plugin_calls: u64,
    pub call_time: Quantiles,
    pub line_time: Quantiles,
    pub generations: u64,
}

impl Summary {
    /// Lines per second over the whole uptime, as the original tutorial
    /// counted its messages per second.
    pub fn lines_per_second(&self) -> f64 {
        self.counters.lines as f64 / self.counters.uptime.as_secs_f64().max(1e-9)
    }
}

/// A duration for people: `850 ns`, `12.3 µs`, `4.5 ms`.
pub fn human_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos() as f64;
    if nanos < 1_000.0 {
        format!("{nanos:.0} ns")
    } else if nanos < 1_000_000.0 {
        format!("{:.1} µs", nanos / 1e3)
    } else if nanos < 1_000_000_000.0 {
        format!("{:.1} ms", nanos / 1e6)
    } else {
        format!("{:.2} s", nanos / 1e9)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        writeln!(f, "Uptime: {:.2} s", c.uptime.as_secs_f64())?;
        writeln!(
            f,
            "Connections: {} ({} refused past the limit)",
            c.connections, c.connections_refused
        )?;
        writeln!(f, "Lines: {}", c.lines)?;
        writeln!(f, "Lines per second: {:.0}", self.lines_per_second())?;
        writeln!(f, "Lines out: {}", c.lines_out)?;
        writeln!(f, "Bytes in: {}", c.bytes_in)?;
        writeln!(f, "Bytes out: {}", c.bytes_out)?;
        let failures: Vec<String> = FailureKind::ALL
            .iter()
            .zip(c.plugin_failures)
            .map(|(kind, count)| format!("{} {count}", kind.name()))
            .collect();
        writeln!(
            f,
            "Plugin failures: {} ({})",
            c.plugin_failures.iter().sum::<u64>(),
            failures.join(", ")
        )?;
        writeln!(
            f,
            "Other errors: {} lines refused by the plugin, {} lines too long, {} idle timeouts, {} log lines dropped",
            c.line_errors, c.lines_too_long, c.idle_timeouts, c.log_lines_dropped
        )?;
        writeln!(
            f,
            "Plugin time per line: p50 {}, p99 {} ({} calls)",
            human_duration(self.line_time.p50),
            human_duration(self.line_time.p99),
            self.plugin_calls
        )?;
        write!(f, "Plugin generations served: {}", self.generations)
    }
}
