//! What keeps a plugin call bounded: a deadline per call (epoch interruption
//! driven by one ticker thread), a memory cap per instance and a cap on the
//! size of a reply.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Engine, ResourceLimiter};

/// How often the engine's epoch advances. A call's deadline is a number of
/// ticks, so this is the deadline's resolution; 10 ms costs nothing
/// measurable and keeps a 100 ms deadline within 10%.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The limits every plugin instance runs under.
#[derive(Debug, Clone, Copy)]
pub struct PluginLimits {
    /// Longest a single call into the plugin may run before it is interrupted.
    pub call_timeout: Duration,
    /// Most linear memory one instance may hold, in bytes.
    pub memory_bytes: usize,
    /// Largest reply one call may return, in bytes.
    pub reply_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            call_timeout: Duration::from_millis(100),
            memory_bytes: 64 << 20,
            reply_bytes: 16 << 20,
        }
    }
}

impl PluginLimits {
    /// The call timeout in epoch ticks, rounded up, at least one.
    pub fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_nanos();
        (self.call_timeout.as_nanos().div_ceil(tick)).max(1) as u64
    }

    /// A fresh limiter for one instance's store.
    pub fn instance_limiter(&self) -> InstanceLimiter {
        InstanceLimiter {
            max_memory: self.memory_bytes,
            memory: 0,
        }
    }
}

/// Most table elements an instance may have; far above what compiled Rust
/// needs (function tables hold a few hundred entries).
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Caps one instance's linear memory and tracks how much it holds, so that an
/// instance that grew large can be dropped rather than pooled.
#[derive(Debug)]
pub struct InstanceLimiter {
    max_memory: usize,
    /// Bytes of linear memory the instance holds now, all memories together.
    memory: usize,
}

impl InstanceLimiter {
    /// Bytes of linear memory the instance holds.
    pub fn memory_bytes(&self) -> usize {
        self.memory
    }
}

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory - current + desired;
        if total > self.max_memory {
            // A trap rather than a failed memory.grow: a careless guest would
            // limp on, and the message names the cause.
            return Err(wasmtime::format_err!(
                "memory limit exceeded: the plugin asked for {} MiB, the limit is {} MiB",
                total.div_ceil(1 << 20),
                self.max_memory >> 20
            ));
        }
        self.memory = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(wasmtime::format_err!(
                "table limit exceeded: the plugin asked for {desired} elements"
            ));
        }
        Ok(true)
    }
}

/// Advances an engine's epoch every [`EPOCH_TICK`] on a thread of its own,
/// until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let thread = std::thread::Builder::new()
            .name("yell-epoch".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                }
            })?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
