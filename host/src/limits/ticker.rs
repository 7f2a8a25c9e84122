//! The epoch ticker: the clock plugin deadlines and inline slices are
//! measured by, and how it keeps out of the way while no call needs it.
//!
//! Wasm code notices time only when the engine's epoch advances, and one
//! thread advances it. While a plugin call runs, it ticks every
//! [`EPOCH_TICK`], so the call's slice and deadline are looked at every
//! millisecond. While none runs, it ticks once per idle period (at most
//! [`LONGEST_IDLE_TICK`]). Each tick wakes a thread that preempts an
//! event-loop thread, which costs several microseconds on a virtual
//! machine: a busy server whose calls all end within microseconds finds no
//! call running at most ticks, and so wakes the ticker about a quarter as
//! often, and an idle server about 250 times a second rather than 1,000.
//!
//! What that costs a call: one that starts during an idle period is first
//! looked at up to that period late. Its deadline counts the time since the
//! tick before it started ([`last_tick`]), so it still errs early, never
//! late; the idle period is kept at a tenth of the shortest deadline of any
//! plugin ([`keep_idle_tick_within`]), so that error stays within 10 %.
//! The slice of a call that starts during an idle period begins at its
//! first look, up to one idle period late.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::Engine;

/// How often the engine's epoch advances while a call runs: the resolution
/// of deadlines and of the inline slice.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The longest the ticker sleeps while no call runs.
pub const LONGEST_IDLE_TICK: Duration = Duration::from_millis(4);

/// What tick times count from.
static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// When the latest tick came, in nanoseconds after [`ORIGIN`] (0 before the
/// first).
static LAST_TICK: AtomicU64 = AtomicU64::new(0);

/// The ticker's period while no call runs, in nanoseconds.
static IDLE_TICK_NANOS: AtomicU64 = AtomicU64::new(LONGEST_IDLE_TICK.as_nanos() as u64);

/// Calls running, counted in shards so that threads calling at once do not
/// contend for one counter; the ticker adds them up.
static RUNNING: [Shard; SHARDS] = [const { Shard(AtomicUsize::new(0)) }; SHARDS];
const SHARDS: usize = 16;

/// One counter on a cache line of its own.
#[repr(align(128))]
struct Shard(AtomicUsize);

/// When the latest tick came before now: a call starting now started after
/// it. The ticker's start counts as a tick.
pub fn last_tick() -> Instant {
    *ORIGIN + Duration::from_nanos(LAST_TICK.load(Ordering::Relaxed))
}

/// Keeps the idle period at a tenth of `deadline` or less (never below
/// [`EPOCH_TICK`]), so that a call first looked at one idle period late is
/// still stopped within 10 % of that deadline. Called for every plugin's
/// deadline; the shortest one counts from then on.
pub fn keep_idle_tick_within(deadline: Duration) {
    let period = (deadline / 10).clamp(EPOCH_TICK, LONGEST_IDLE_TICK);
    IDLE_TICK_NANOS.fetch_min(period.as_nanos() as u64, Ordering::Relaxed);
}

/// A plugin call running, from [`Running::begin`] until dropped (on any
/// thread: a call may finish in the slow lane): while one is, the ticker
/// ticks every [`EPOCH_TICK`].
#[must_use = "the call counts as running until this is dropped"]
pub struct Running {
    shard: usize,
}

impl Running {
    pub fn begin() -> Self {
        let shard = shard_of_this_thread();
        RUNNING[shard].0.fetch_add(1, Ordering::Relaxed);
        Running { shard }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING[self.shard].0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn shard_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

fn a_call_is_running() -> bool {
    RUNNING
        .iter()
        .any(|shard| shard.0.load(Ordering::Relaxed) > 0)
}

/// The ticker's next sleep: a tick while a call runs, the idle period
/// otherwise.
fn next_period() -> Duration {
    if a_call_is_running() {
        EPOCH_TICK
    } else {
        Duration::from_nanos(IDLE_TICK_NANOS.load(Ordering::Relaxed))
    }
}

/// Notes a tick at `now`; ticks of several tickers only move it forward.
fn note_tick(now: Instant) {
    let nanos = now.saturating_duration_since(*ORIGIN).as_nanos() as u64;
    LAST_TICK.fetch_max(nanos, Ordering::Relaxed);
}

/// A tick now, for tests that make deadline clocks with no ticker running.
#[cfg(test)]
pub fn tick_for_test() {
    note_tick(Instant::now());
}

/// Advances an engine's epoch on a thread of its own, until dropped: every
/// [`EPOCH_TICK`] while a call runs, every idle period otherwise.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        note_tick(Instant::now());
        let thread = std::thread::Builder::new()
            .name("yell-epoch".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    let mut period = EPOCH_TICK;
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(period);
                        // Noted before the epoch moves: a call that reads
                        // this tick started after it.
                        note_tick(Instant::now());
                        engine.increment_epoch();
                        period = next_period();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_period_keeps_within_a_tenth_of_the_shortest_deadline() {
        // Shared by every test in this process: only ever lowered.
        keep_idle_tick_within(Duration::from_secs(10));
        let before = Duration::from_nanos(IDLE_TICK_NANOS.load(Ordering::Relaxed));
        assert!(before <= LONGEST_IDLE_TICK);
        keep_idle_tick_within(Duration::from_millis(20));
        let now = Duration::from_nanos(IDLE_TICK_NANOS.load(Ordering::Relaxed));
        assert!(now <= Duration::from_millis(2));
        assert!(now >= EPOCH_TICK);
    }

    #[test]
    fn a_running_call_asks_for_every_tick() {
        let running = Running::begin();
        assert!(a_call_is_running());
        assert_eq!(next_period(), EPOCH_TICK);
        // Dropped on another thread, as a call that finished in the slow
        // lane: its own shard goes down.
        std::thread::spawn(move || drop(running)).join().unwrap();
    }

    #[test]
    fn the_last_tick_is_never_in_the_future() {
        note_tick(Instant::now());
        assert!(last_tick() <= Instant::now());
    }
}
