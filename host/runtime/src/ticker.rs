//! The epoch ticker: the clock plugin deadlines and inline slices are
//! measured by, and how it keeps out of the way while no call needs it.
//!
//! Wasm code notices time only when the engine's epoch advances, and one
//! thread advances it. While a plugin call runs, it ticks every
//! [`EPOCH_TICK`], so the call's slice and deadline are looked at every
//! millisecond. While none runs, it ticks once per idle period (at most
//! [`LONGEST_IDLE_TICK`]), and once no call has started for
//! [`QUIET_TICKS_BEFORE_SLEEP`] idle ticks it sleeps until one does. Each
//! tick wakes a thread that preempts an event-loop thread, which costs
//! several microseconds on a virtual machine: a busy server whose calls all
//! end within microseconds finds no call running at most ticks, and so
//! wakes the ticker about a quarter as often, and an idle server not at all.
//!
//! What that costs a call: one that starts during an idle period is first
//! looked at up to that period late. Its deadline counts the time since the
//! tick before it started ([`last_tick`]), so it still errs early, never
//! late; the idle period is kept at a tenth of the shortest deadline of any
//! plugin ([`keep_idle_tick_within`]), so that error stays within 10 %.
//! The slice of a call that starts during an idle period begins at its
//! first look, up to one idle period late. The first call after the ticker
//! fell asleep wakes it, and counts as a tick itself.
//!
//! Why a call is never missed: a call counts itself as running before it
//! looks whether the ticker sleeps, and the ticker says it sleeps before it
//! looks whether a call runs (both sequentially consistent), so at least
//! one of them sees the other.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use wasmtime::Engine;

/// How often the engine's epoch advances while a call runs: the resolution
/// of deadlines and of the inline slice.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The longest the ticker sleeps between ticks while no call runs.
pub const LONGEST_IDLE_TICK: Duration = Duration::from_millis(4);

/// Idle ticks with no call started before the ticker sleeps until one
/// starts: about a tenth of a second.
pub const QUIET_TICKS_BEFORE_SLEEP: u32 = 25;

/// What tick times count from.
static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// When the latest tick came, in nanoseconds after [`ORIGIN`] (0 before the
/// first).
static LAST_TICK: AtomicU64 = AtomicU64::new(0);

/// The ticker's period while no call runs, in nanoseconds.
static IDLE_TICK_NANOS: AtomicU64 = AtomicU64::new(LONGEST_IDLE_TICK.as_nanos() as u64);

/// Calls, counted in shards so that threads calling at once do not contend
/// for one counter; the ticker adds them up. Each shard holds the calls
/// running in its low half and the calls ever started (wrapping) in its
/// high half, so that a call's start is one addition.
static CALLS: [Shard; SHARDS] = [const { Shard(AtomicU64::new(0)) }; SHARDS];
const SHARDS: usize = 16;
const ONE_STARTED: u64 = 1 << 32;
const RUNNING_MASK: u64 = ONE_STARTED - 1;

/// One counter on a cache line of its own.
#[repr(align(128))]
struct Shard(AtomicU64);

/// Tickers asleep until a call starts.
static ASLEEP: AtomicUsize = AtomicUsize::new(0);

/// Every ticker's thread, to wake them.
static TICKER_THREADS: Mutex<Vec<Thread>> = Mutex::new(Vec::new());

/// When the latest tick came before now: a call starting now started after
/// it. The ticker's start counts as a tick, and so does the start of a call
/// that woke it.
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
        CALLS[shard].0.fetch_add(ONE_STARTED + 1, Ordering::SeqCst);
        if ASLEEP.load(Ordering::SeqCst) > 0 {
            wake_tickers();
        }
        Running { shard }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        CALLS[self.shard].0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The first call after the tickers fell asleep: it counts as a tick (the
/// latest one is long past) and wakes them.
#[cold]
fn wake_tickers() {
    note_tick(Instant::now());
    for thread in TICKER_THREADS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        thread.unpark();
    }
}

fn shard_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

/// Calls running now, and calls started so far (wrapping: only compared
/// for equality).
fn census() -> (u64, u64) {
    CALLS.iter().fold((0, 0), |(running, started), shard| {
        let calls = shard.0.load(Ordering::SeqCst);
        (
            running + (calls & RUNNING_MASK),
            started.wrapping_add(calls >> 32),
        )
    })
}

/// Notes a tick at `now`; ticks of several tickers only move it forward.
fn note_tick(now: Instant) {
    let nanos = now.saturating_duration_since(*ORIGIN).as_nanos() as u64;
    LAST_TICK.fetch_max(nanos, Ordering::Relaxed);
}

/// Advances an engine's epoch on a thread of its own, until dropped: every
/// [`EPOCH_TICK`] while a call runs, every idle period otherwise, and not at
/// all once calls stopped coming, until the next one.
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
                move || tick(&engine, &stop)
            })?;
        TICKER_THREADS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(thread.thread().clone());
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

/// The ticker thread's loop.
fn tick(engine: &Engine, stop: &AtomicBool) {
    let mut period = EPOCH_TICK;
    let mut quiet_ticks = 0;
    let mut started_before = census().1;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(period);
        // Noted before the epoch moves: a call that reads this tick started
        // after it.
        note_tick(Instant::now());
        engine.increment_epoch();
        let (running, started) = census();
        quiet_ticks = match running == 0 && started == started_before {
            true => quiet_ticks + 1,
            false => 0,
        };
        started_before = started;
        period = match running {
            0 => Duration::from_nanos(IDLE_TICK_NANOS.load(Ordering::Relaxed)),
            _ => EPOCH_TICK,
        };
        if quiet_ticks >= QUIET_TICKS_BEFORE_SLEEP {
            sleep_until_a_call_starts(started_before, stop);
            quiet_ticks = 0;
            started_before = census().1;
        }
    }
}

/// Sleeps until a call starts (or the ticker stops), unless one started
/// since the census that counted `started_before` calls.
fn sleep_until_a_call_starts(started_before: u64, stop: &AtomicBool) {
    ASLEEP.fetch_add(1, Ordering::SeqCst);
    // After saying so: a call that starts from here on sees it and wakes
    // this thread (an unpark before the park makes the park return at once).
    let (running, started) = census();
    if running == 0 && started == started_before && !stop.load(Ordering::SeqCst) {
        // May also return for no reason: the loop then ticks on, and comes
        // back here after another quiet spell.
        std::thread::park();
    }
    ASLEEP.fetch_sub(1, Ordering::SeqCst);
}

/// A tick now, for tests that make deadline clocks with no ticker running.
#[cfg(test)]
pub fn tick_for_test() {
    note_tick(Instant::now());
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let id = thread.thread().id();
            thread.thread().unpark();
            let _ = thread.join();
            TICKER_THREADS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|thread| thread.id() != id);
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
    fn a_call_counts_as_running_and_started_until_dropped_anywhere() {
        let (_, started) = census();
        let running = Running::begin();
        let (now_running, now_started) = census();
        assert!(now_running >= 1);
        assert_ne!(now_started, started);
        // Dropped on another thread, as a call that finished in the slow
        // lane (it takes down the shard it went up on).
        std::thread::spawn(move || drop(running)).join().unwrap();
    }

    #[test]
    fn a_call_wakes_a_sleeping_ticker_and_counts_as_a_tick() {
        let engine = Engine::default();
        let ticker = EpochTicker::start(&engine).unwrap();
        // Asleep once no call has started for a quiet spell. Other tests in
        // this process may keep starting calls; the server-level test in
        // `tests/isolation.rs` covers this end to end in a process alone.
        let asleep_by = Instant::now() + Duration::from_secs(5);
        while ASLEEP.load(Ordering::SeqCst) == 0 {
            if Instant::now() > asleep_by {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let before = Instant::now();
        let running = Running::begin();
        assert!(last_tick() >= before, "the waking call counts as a tick");
        // Every sleeping ticker wakes, and none sleeps while a call runs.
        let awake_by = Instant::now() + Duration::from_secs(5);
        while ASLEEP.load(Ordering::SeqCst) > 0 {
            assert!(Instant::now() < awake_by, "the ticker did not wake");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(running);
        drop(ticker);
    }

    #[test]
    fn the_last_tick_is_never_in_the_future() {
        note_tick(Instant::now());
        assert!(last_tick() <= Instant::now());
    }
}
