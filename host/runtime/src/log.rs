//! A plugin's log lines, into the host's log: what a plugin writes cannot
//! flood the log or forge host log lines. Each message is capped in length,
//! its control characters are escaped (a `\n` in a message cannot start a
//! line that looks like the host's), and each plugin may log at most
//! `--plugin-log-rate` lines per second (with bursts of as many); lines
//! past it are dropped and counted, and a line that passes is preceded by
//! one saying how many were dropped (the first time at once, then at most
//! every 10 s).
//!
//! Owns: [`PluginLog`] and [`PluginLogs`]. Uses: nothing else of this crate.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Longest plugin log message kept whole; the rest is cut, so that log lines
/// queued for a slow reader cannot hold unbounded memory.
pub const MAX_LOG_MESSAGE: usize = 4096;

/// The level of a plugin's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// One plugin's log: shared by all its instances and kept across live swaps
/// (by plugin name), so the rate and the dropped count carry on.
pub struct PluginLog {
    name: Arc<str>,
    /// Lines per second allowed; 0 allows all.
    rate: u32,
    bucket: Mutex<Bucket>,
    dropped: AtomicU64,
    /// Dropped since the last line that passed.
    dropped_unsaid: AtomicU64,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
    /// When the drops were last reported.
    reported: Option<Instant>,
}

/// How often, at most, a flooding plugin's drops are reported.
const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl PluginLog {
    fn new(name: Arc<str>, rate: u32) -> Self {
        PluginLog {
            name,
            rate,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(rate),
                refilled: Instant::now(),
                reported: None,
            }),
            dropped: AtomicU64::new(0),
            dropped_unsaid: AtomicU64::new(0),
        }
    }

    /// The plugin's name, as its log lines are tagged.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Lines dropped by the rate limit so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes one line the plugin logged, if its rate allows.
    pub fn write(&self, level: Level, message: &str) {
        if !self.take_token() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.dropped_unsaid.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let plugin = &*self.name;
        if self.dropped_unsaid.load(Ordering::Relaxed) > 0 && self.time_to_report() {
            let unsaid = self.dropped_unsaid.swap(0, Ordering::Relaxed);
            tracing::warn!(
                plugin,
                "{unsaid} log lines of this plugin dropped: it logs faster than --plugin-log-rate ({}/s)",
                self.rate
            );
        }
        let message = escape(message);
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }

    /// Writes the message of a panic, at error level, past the rate limit:
    /// it says why the plugin is about to trap.
    pub fn panicked(&self, message: &str) {
        let plugin = &*self.name;
        tracing::error!(plugin, "the plugin {}", escape(message));
    }

    /// Whether drops may be reported now: the first time at once, then at
    /// most every [`REPORT_EVERY`], so a flood adds one line now and then.
    fn time_to_report(&self) -> bool {
        let mut bucket = self.bucket.lock().expect("plugin log lock");
        let now = Instant::now();
        if bucket
            .reported
            .is_some_and(|reported| now.duration_since(reported) < REPORT_EVERY)
        {
            return false;
        }
        bucket.reported = Some(now);
        true
    }

    fn take_token(&self) -> bool {
        if self.rate == 0 {
            return true;
        }
        let mut bucket = self.bucket.lock().expect("plugin log lock");
        let now = Instant::now();
        let rate = f64::from(self.rate);
        let refill = now.duration_since(bucket.refilled).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(rate);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A message as one log line: control characters escaped (`\n` becomes
/// `\\n`), cut past [`MAX_LOG_MESSAGE`] bytes with a note of how much was cut.
pub fn escape(message: &str) -> String {
    let kept = &message[..message.floor_char_boundary(MAX_LOG_MESSAGE)];
    let mut line = String::with_capacity(kept.len() + 16);
    for c in kept.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    if kept.len() < message.len() {
        let _ = write!(line, "… ({} more bytes cut)", message.len() - kept.len());
    }
    line
}

/// Every plugin's log, by name.
#[derive(Default)]
pub struct PluginLogs {
    rate: u32,
    by_name: Mutex<HashMap<Arc<str>, Arc<PluginLog>>>,
}

impl PluginLogs {
    /// Logs allowing `rate` lines per second per plugin (0: all).
    pub fn new(rate: u32) -> Self {
        PluginLogs {
            rate,
            by_name: Mutex::default(),
        }
    }

    /// The log of the plugin called `name`, made at its first load.
    pub fn of(&self, name: &Arc<str>) -> Arc<PluginLog> {
        self.by_name
            .lock()
            .expect("plugin logs lock")
            .entry(name.clone())
            .or_insert_with(|| Arc::new(PluginLog::new(name.clone(), self.rate)))
            .clone()
    }

    /// Lines dropped so far, by plugin name.
    pub fn dropped(&self) -> Vec<(Arc<str>, u64)> {
        let mut dropped: Vec<_> = self
            .by_name
            .lock()
            .expect("plugin logs lock")
            .values()
            .map(|log| (log.name.clone(), log.dropped()))
            .collect();
        dropped.sort();
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_start_a_line() {
        assert_eq!(
            escape("ok\n2026-01-01 INFO forged\r\x1b[31m"),
            "ok\\n2026-01-01 INFO forged\\r\\u{1b}[31m"
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let line = escape(&"é".repeat(MAX_LOG_MESSAGE));
        assert!(line.len() < MAX_LOG_MESSAGE + 40);
        assert!(line.ends_with(&format!("… ({} more bytes cut)", MAX_LOG_MESSAGE)));
    }

    #[test]
    fn the_rate_limit_drops_and_counts() {
        let log = PluginLog::new("p".into(), 10);
        for _ in 0..25 {
            log.write(Level::Trace, "x");
        }
        assert_eq!(log.dropped(), 15);
        let unlimited = PluginLog::new("q".into(), 0);
        for _ in 0..25 {
            unlimited.write(Level::Trace, "x");
        }
        assert_eq!(unlimited.dropped(), 0);
    }
}
