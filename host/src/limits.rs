//! What keeps a plugin call bounded: a deadline per call (epoch interruption
//! driven by one ticker thread), a memory cap per instance and a cap on the
//! size of a reply.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Engine, StoreLimits, StoreLimitsBuilder};

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
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            call_timeout: Duration::from_millis(100),
            memory_bytes: 64 << 20,
        }
    }
}

impl PluginLimits {
    /// The call timeout in epoch ticks, rounded up, at least one.
    pub fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_nanos();
        (self.call_timeout.as_nanos().div_ceil(tick)).max(1) as u64
    }

    /// The per-store resource limits wasmtime enforces.
    pub fn store_limits(&self) -> StoreLimits {
        StoreLimitsBuilder::new()
            .memory_size(self.memory_bytes)
            // A failed memory.grow would let a careless guest limp on; a trap
            // ends the call with a message that names the cause.
            .trap_on_grow_failure(true)
            .build()
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
