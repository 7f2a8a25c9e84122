//! Where log lines go: stderr, through a non-blocking writer.
//!
//! A client can make the host log (a failed plugin call logs a warning, a
//! plugin logs through its import), so writing a log line must never wait
//! for the log's reader: a slow terminal or a stalled pipe would otherwise
//! stall every event-loop thread. Lines go to a bounded queue that one
//! thread writes out; when the reader falls that far behind, lines are
//! dropped and counted ([`dropped_lines`]: in the shutdown summary and as
//! `yell_log_lines_dropped_total`).
//!
//! Owns: the log subscriber and its dropped-line count. Uses: nothing else of this crate.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Log lines queued for the writer thread at most; more are dropped.
const QUEUED_LINES: usize = 64 * 1024;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Installs the process's log subscriber. Keep the guard until the end of
/// `main`: dropping it writes out what is still queued.
pub fn init(filter: EnvFilter, format: LogFormat) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("yell-log")
        .finish(std::io::stderr());
    let _ = DROPPED.set(writer.error_counter());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
    guard
}

/// Log lines dropped so far because the queue was full.
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}
