//! What keeps plugins bounded: a running-time deadline per call with a
//! wall-clock ceiling (`deadline`, measured by the `ticker`), a memory
//! cap per instance and one for all instances together (`memory`), a cap
//! on live instances, and a cap on the size of a reply.
//!
//! Owns: [`PluginLimits`] and [`Isolation`], the values the embedder sets.
//! Uses: the deadline clock each call starts.

use std::time::Duration;

use crate::deadline::CallClock;

/// How many times the running-time deadline a call may take by the wall
/// clock, unless `--plugin-wall-timeout` says otherwise.
pub const DEFAULT_WALL_MULTIPLE: u32 = 10;

/// Linear memory one plugin instance may hold unless `--plugin-memory` says
/// otherwise.
pub const DEFAULT_INSTANCE_MEMORY: usize = 64 << 20;

/// How plugin instances are shared between connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    /// A fresh deadline clock for one call, started now, after the tick at
    /// `started_after`.
    pub(crate) fn start_clock(&self, started_after: std::time::Instant) -> CallClock {
        CallClock::start(self.call_timeout, self.wall_timeout, started_after)
    }
}
