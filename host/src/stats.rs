//! Server-wide counters and the summary printed at shutdown.
//!
//! Counters are relaxed atomics updated once per batch, not per line, so
//! keeping them costs nothing measurable on the hot path.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// What the server has done since it started.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    connections_total: AtomicU64,
    connections_active: AtomicU64,
    lines: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Calls into the plugin that failed (trap, deadline, ...).
    plugin_failures: AtomicU64,
    /// Lines the plugin answered with an error of its own.
    line_errors: AtomicU64,
    /// Connections closed for sending a line past the maximum length.
    lines_too_long: AtomicU64,
    /// Connections refused for being past `--max-connections`.
    connections_refused: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            connections_total: AtomicU64::new(0),
            connections_active: AtomicU64::new(0),
            lines: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            plugin_failures: AtomicU64::new(0),
            line_errors: AtomicU64::new(0),
            lines_too_long: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
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

    pub fn bytes_written(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Relaxed);
    }

    pub fn lines_answered(&self, lines: usize) {
        self.lines.fetch_add(lines as u64, Relaxed);
    }

    pub fn plugin_failed(&self) {
        self.plugin_failures.fetch_add(1, Relaxed);
    }

    pub fn lines_failed(&self, lines: usize) {
        self.line_errors.fetch_add(lines as u64, Relaxed);
    }

    pub fn line_too_long(&self) {
        self.lines_too_long.fetch_add(1, Relaxed);
    }

    /// A consistent-enough copy of the counters now.
    pub fn summary(&self) -> Summary {
        Summary {
            uptime: self.started.elapsed(),
            connections: self.connections_total.load(Relaxed),
            lines: self.lines.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            plugin_failures: self.plugin_failures.load(Relaxed),
            line_errors: self.line_errors.load(Relaxed),
            lines_too_long: self.lines_too_long.load(Relaxed),
            connections_refused: self.connections_refused.load(Relaxed),
        }
    }
}

/// The counters at one moment, printed at shutdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub uptime: Duration,
    pub connections: u64,
    pub lines: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub plugin_failures: u64,
    pub line_errors: u64,
    pub lines_too_long: u64,
    pub connections_refused: u64,
}

impl Summary {
    /// Lines per second over the whole uptime, as the original tutorial
    /// counted its messages per second.
    pub fn lines_per_second(&self) -> f64 {
        self.lines as f64 / self.uptime.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Uptime: {:.2} s", self.uptime.as_secs_f64())?;
        writeln!(
            f,
            "Connections: {} ({} refused past the limit)",
            self.connections, self.connections_refused
        )?;
        writeln!(f, "Lines: {}", self.lines)?;
        writeln!(f, "Lines per second: {:.0}", self.lines_per_second())?;
        writeln!(f, "Bytes in: {}", self.bytes_in)?;
        writeln!(f, "Bytes out: {}", self.bytes_out)?;
        write!(
            f,
            "Errors: {} plugin failures, {} lines refused by the plugin, {} lines too long",
            self.plugin_failures, self.line_errors, self.lines_too_long
        )
    }
}
