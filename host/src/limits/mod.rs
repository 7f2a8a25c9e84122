//! What keeps plugins bounded: a running-time deadline per call with a
//! wall-clock ceiling ([`deadline`], measured by the [`ticker`]), a memory
//! cap per instance and one for all instances together ([`memory`]), a cap
//! on live instances, and a cap on the size of a reply.

pub mod deadline;
pub mod memory;
pub mod ticker;

use std::time::Duration;

use anyhow::{bail, Context, Result};

pub use deadline::{CallClock, DeadlineExceeded, Interrupt, SliceEnded};
pub use memory::{InstanceLimiter, MemoryBudget, MemoryBudgetExhausted, MemoryReservation};
pub use ticker::{EpochTicker, Running, EPOCH_TICK};

/// How many times the running-time deadline a call may take by the wall
/// clock, unless `--plugin-wall-timeout` says otherwise.
pub const DEFAULT_WALL_MULTIPLE: u32 = 10;

/// Linear memory one plugin instance may hold unless `--plugin-memory` says
/// otherwise.
pub const DEFAULT_INSTANCE_MEMORY: usize = 64 << 20;

/// How plugin instances are shared between connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Isolation {
    /// Instances are pooled and serve any connection, one call at a time:
    /// the fastest, and a plugin's state may carry one client's lines into
    /// another's replies.
    #[default]
    Pooled,
    /// An instance belongs to one connection for its life: per-connection
    /// state is exact and nothing crosses between clients. Each open
    /// connection holds an instance (see `--max-instances`).
    Connection,
    /// A fresh instance for every call: a plugin keeps no state at all.
    Call,
}

impl Isolation {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::Pooled => "pooled",
            Isolation::Connection => "connection",
            Isolation::Call => "call",
        }
    }
}

/// The limits every plugin instance runs under.
#[derive(Debug, Clone, Copy)]
pub struct PluginLimits {
    /// Most running time one call into the plugin may use: the time the
    /// plugin itself ran, not the time it waited for a CPU.
    pub call_timeout: Duration,
    /// Most wall-clock time one call may take, waiting included, so that a
    /// call starved of CPU cannot live forever.
    pub wall_timeout: Duration,
    /// Most linear memory one instance may hold, in bytes.
    pub memory_bytes: usize,
    /// The largest `memory_bytes` of any plugin (some may be given more
    /// than the rest): what the pooling allocator's slots must hold.
    pub largest_memory_bytes: usize,
    /// Most linear memory all instances of all plugins may hold together.
    pub total_memory_bytes: usize,
    /// Most live instances (busy or idle) of one plugin; each call in flight
    /// holds one.
    pub max_instances: usize,
    /// Largest reply one call may return, in bytes (error messages,
    /// greetings and last words included).
    pub reply_bytes: usize,
    /// Log lines one plugin may write per second (0: no limit).
    pub log_lines_per_second: u32,
    /// How instances are shared between connections.
    pub isolation: Isolation,
}

impl Default for PluginLimits {
    fn default() -> Self {
        let call_timeout = Duration::from_millis(100);
        PluginLimits {
            call_timeout,
            wall_timeout: call_timeout * DEFAULT_WALL_MULTIPLE,
            memory_bytes: DEFAULT_INSTANCE_MEMORY,
            largest_memory_bytes: DEFAULT_INSTANCE_MEMORY,
            total_memory_bytes: 2 << 30,
            max_instances: 256,
            reply_bytes: 16 << 20,
            log_lines_per_second: 100,
            isolation: Isolation::Pooled,
        }
    }
}

impl PluginLimits {
    /// A fresh deadline clock for one call, started now.
    pub fn start_clock(&self) -> CallClock {
        CallClock::start(self.call_timeout, self.wall_timeout)
    }
}

/// Parses a size in bytes as people write it: `65536`, `64k`, `64KiB`,
/// `1.5MiB`, `1g`, `2 GB`. Units are binary (`k` and `KB` mean 1024 bytes,
/// as for memory sizes everywhere else in this tool).
pub fn parse_byte_size(raw: &str) -> Result<usize> {
    let bytes = parse_size::Config::new()
        .with_binary()
        .parse_size(raw.trim())
        .with_context(|| format!("expected a size such as 65536, 64k or 1.5MiB, got {raw:?}"))?;
    let bytes = usize::try_from(bytes).with_context(|| format!("size {raw:?} is too large"))?;
    if bytes == 0 {
        bail!("size must be more than zero");
    }
    Ok(bytes)
}

/// Parses a time limit (`100ms`, `2s`), which must be more than zero.
pub fn parse_time_limit(raw: &str) -> Result<Duration> {
    let limit = humantime::parse_duration(raw.trim())
        .with_context(|| format!("expected a time such as 100ms or 2s, got {raw:?}"))?;
    if limit.is_zero() {
        bail!("a time limit must be more than zero");
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("65536").unwrap(), 65536);
        assert_eq!(parse_byte_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_byte_size("64k").unwrap(), 64 << 10);
        assert_eq!(parse_byte_size("16M").unwrap(), 16 << 20);
        assert_eq!(parse_byte_size("1 GiB").unwrap(), 1 << 30);
        assert_eq!(parse_byte_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_byte_size("1.5MiB").unwrap(), 3 << 19);
        assert_eq!(parse_byte_size("2 MB").unwrap(), 2 << 20);
        assert!(parse_byte_size("0").is_err());
        assert!(parse_byte_size("12 parsecs").is_err());
        assert!(parse_byte_size("KiB").is_err());
    }

    #[test]
    fn time_limits() {
        assert_eq!(parse_time_limit("2s").unwrap(), Duration::from_secs(2));
        assert!(parse_time_limit("0s").is_err());
        assert!(parse_time_limit("soon").is_err());
    }
}
