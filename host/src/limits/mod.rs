//! What keeps plugins bounded: a running-time deadline per call with a
//! wall-clock ceiling ([`deadline`]), a memory cap per instance and one for
//! all instances together ([`memory`]), a cap on live instances, and a cap
//! on the size of a reply.

pub mod deadline;
pub mod memory;

use std::time::Duration;

pub use deadline::{CallClock, DeadlineExceeded, EpochTicker, EPOCH_TICK};
pub use memory::{InstanceLimiter, MemoryBudget, MemoryBudgetExhausted};

/// How many times the running-time deadline a call may take by the wall
/// clock, unless `--plugin-wall-timeout` says otherwise.
pub const DEFAULT_WALL_MULTIPLE: u32 = 10;

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
}

impl Default for PluginLimits {
    fn default() -> Self {
        let call_timeout = Duration::from_millis(100);
        PluginLimits {
            call_timeout,
            wall_timeout: call_timeout * DEFAULT_WALL_MULTIPLE,
            memory_bytes: 64 << 20,
            total_memory_bytes: 2 << 30,
            max_instances: 256,
            reply_bytes: 16 << 20,
            log_lines_per_second: 100,
        }
    }
}

impl PluginLimits {
    /// A fresh deadline clock for one call, started now.
    pub fn start_clock(&self) -> CallClock {
        CallClock::start(self.call_timeout, self.wall_timeout)
    }
}
