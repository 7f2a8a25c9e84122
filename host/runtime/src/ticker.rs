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
//! tick before it started ([`TickClock::last_tick`]), so it still errs early, never
//! late; the idle period is kept at a tenth of the shortest deadline of any
//! plugin ([`TickClock::keep_idle_tick_within`]), so that error stays within 10 %.
//! The slice of a call that starts during an idle period begins at its
//! first look, up to one idle period late. The first call after the ticker
//! fell asleep wakes it, and counts as a tick itself.
//!
//! Why a call is never missed: a call counts itself as running before it
//! looks whether the ticker sleeps, and the ticker says it sleeps before it
//! looks whether a call runs (both sequentially consistent), so at least
//! one of them sees the other.
//!
//! Each engine has its own ticker and [`TickClock`]: the runtime that owns
//! the engine owns both, and they stop with it.
//!
//! Owns: [`EpochTicker`], [`TickClock`] and [`Running`]. Uses: nothing of
//! this crate.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
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

const SHARDS: usize = 16;
const ONE_STARTED: u64 = 1 << 32;
const RUNNING_MASK: u64 = ONE_STARTED - 1;

/// One counter on a cache line of its own.
#[repr(align(128))]
struct Shard(AtomicU64);

/// What one engine's calls and its ticker share: when the latest tick
/// came, the calls running and started, and whether the ticker sleeps.
pub(crate) struct TickClock {
    /// What tick times count from.
    origin: Instant,
    /// When the latest tick came, in nanoseconds after `origin`.
    last_tick: AtomicU64,
    /// The ticker's period while no call runs, in nanoseconds.
    idle_tick_nanos: AtomicU64,
    /// Calls, counted in shards so that threads calling at once do not
    /// contend for one counter; the ticker adds them up. Each shard holds
    /// the calls running in its low half and the calls ever started
    /// (wrapping) in its high half, so that a call's start is one addition.
    calls: [Shard; SHARDS],
    /// The ticker sleeps until a call starts.
    asleep: AtomicBool,
    /// The ticker's thread, to wake it.
    thread: OnceLock<Thread>,
}

impl TickClock {
    /// A clock whose first tick is now.
    fn new() -> Self {
        TickClock {
            origin: Instant::now(),
            last_tick: AtomicU64::new(0),
            idle_tick_nanos: AtomicU64::new(LONGEST_IDLE_TICK.as_nanos() as u64),
            calls: [const { Shard(AtomicU64::new(0)) }; SHARDS],
            asleep: AtomicBool::new(false),
            thread: OnceLock::new(),
        }
    }

    /// When the latest tick came before now: a call starting now started
    /// after it. The ticker's start counts as a tick, and so does the start
    /// of a call that woke it.
    pub(crate) fn last_tick(&self) -> Instant {
        self.origin + Duration::from_nanos(self.last_tick.load(Ordering::Relaxed))
    }

    /// Keeps the idle period at a tenth of `deadline` or less (never below
    /// [`EPOCH_TICK`]), so that a call first looked at one idle period late
    /// is still stopped within 10 % of that deadline. Called for every
    /// plugin's deadline; the shortest one counts from then on.
    pub(crate) fn keep_idle_tick_within(&self, deadline: Duration) {
        let period = (deadline / 10).clamp(EPOCH_TICK, LONGEST_IDLE_TICK);
        self.idle_tick_nanos
            .fetch_min(period.as_nanos() as u64, Ordering::Relaxed);
    }

    /// The first call after the ticker fell asleep: it counts as a tick
    /// (the latest one is long past) and wakes it.
    #[cold]
    fn wake_ticker(&self) {
        self.note_tick(Instant::now());
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }

    /// Calls running now, and calls started so far (wrapping: only
    /// compared for equality).
    fn census(&self) -> (u64, u64) {
        self.calls.iter().fold((0, 0), |(running, started), shard| {
            let calls = shard.0.load(Ordering::SeqCst);
            (
                running + (calls & RUNNING_MASK),
                started.wrapping_add(calls >> 32),
            )
        })
    }

    /// Notes a tick at `now`; it only moves forward.
    fn note_tick(&self, now: Instant) {
        let nanos = now.saturating_duration_since(self.origin).as_nanos() as u64;
        self.last_tick.fetch_max(nanos, Ordering::Relaxed);
    }
}

/// A plugin call running, from [`Running::begin`] until dropped (on any
/// thread: a call may finish in the slow lane): while one is, the ticker
/// ticks every [`EPOCH_TICK`].
#[must_use = "the call counts as running until this is dropped"]
pub(crate) struct Running<'a> {
    clock: &'a TickClock,
    shard: usize,
}

impl<'a> Running<'a> {
    /// A call of an engine whose calls `clock` counts starts.
    pub(crate) fn begin(clock: &'a TickClock) -> Self {
        let shard = shard_of_this_thread();
        clock.calls[shard]
            .0
            .fetch_add(ONE_STARTED + 1, Ordering::SeqCst);
        if clock.asleep.load(Ordering::SeqCst) {
            clock.wake_ticker();
        }
        Running { clock, shard }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.clock.calls[self.shard]
            .0
            .fetch_sub(1, Ordering::Relaxed);
    }
}

fn shard_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

/// Advances an engine's epoch on a thread of its own, until dropped: every
/// [`EPOCH_TICK`] while a call runs, every idle period otherwise, and not at
/// all once calls stopped coming, until the next one.
pub(crate) struct EpochTicker {
    clock: Arc<TickClock>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine`'s epoch.
    pub(crate) fn start(engine: &Engine) -> std::io::Result<Self> {
        let clock = Arc::new(TickClock::new());
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        clock.note_tick(Instant::now());
        let thread = std::thread::Builder::new()
            .name("yell-epoch".into())
            .spawn({
                let (clock, stop) = (clock.clone(), stop.clone());
                move || tick(&engine, &clock, &stop)
            })?;
        let _ = clock.thread.set(thread.thread().clone());
        Ok(EpochTicker {
            clock,
            stop,
            thread: Some(thread),
        })
    }

    /// The clock this ticker's engine's calls count on.
    pub(crate) fn clock(&self) -> &Arc<TickClock> {
        &self.clock
    }
}

/// The ticker thread's loop.
fn tick(engine: &Engine, clock: &TickClock, stop: &AtomicBool) {
    let mut period = EPOCH_TICK;
    let mut quiet_ticks = 0;
    let mut started_before = clock.census().1;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(period);
        // Noted before the epoch moves: a call that reads this tick started
        // after it.
        clock.note_tick(Instant::now());
        engine.increment_epoch();
        let (running, started) = clock.census();
        quiet_ticks = match running == 0 && started == started_before {
            true => quiet_ticks + 1,
            false => 0,
        };
        started_before = started;
        period = match running {
            0 => Duration::from_nanos(clock.idle_tick_nanos.load(Ordering::Relaxed)),
            _ => EPOCH_TICK,
        };
        if quiet_ticks >= QUIET_TICKS_BEFORE_SLEEP {
            sleep_until_a_call_starts(clock, started_before, stop);
            quiet_ticks = 0;
            started_before = clock.census().1;
        }
    }
}

/// Sleeps until a call starts (or the ticker stops), unless one started
/// since the census that counted `started_before` calls.
fn sleep_until_a_call_starts(clock: &TickClock, started_before: u64, stop: &AtomicBool) {
    clock.asleep.store(true, Ordering::SeqCst);
    // After saying so: a call that starts from here on sees it and wakes
    // this thread (an unpark before the park makes the park return at once).
    let (running, started) = clock.census();
    if running == 0 && started == started_before && !stop.load(Ordering::SeqCst) {
        // May also return for no reason: the loop then ticks on, and comes
        // back here after another quiet spell.
        std::thread::park();
    }
    clock.asleep.store(false, Ordering::SeqCst);
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_period_keeps_within_a_tenth_of_the_shortest_deadline() {
        let clock = TickClock::new();
        clock.keep_idle_tick_within(Duration::from_secs(10));
        let before = Duration::from_nanos(clock.idle_tick_nanos.load(Ordering::Relaxed));
        assert_eq!(before, LONGEST_IDLE_TICK);
        clock.keep_idle_tick_within(Duration::from_millis(20));
        let now = Duration::from_nanos(clock.idle_tick_nanos.load(Ordering::Relaxed));
        assert_eq!(now, Duration::from_millis(2));
        clock.keep_idle_tick_within(Duration::from_millis(1));
        let floor = Duration::from_nanos(clock.idle_tick_nanos.load(Ordering::Relaxed));
        assert_eq!(floor, EPOCH_TICK);
    }

    #[test]
    fn a_call_counts_as_running_and_started_until_dropped_anywhere() {
        let clock = Arc::new(TickClock::new());
        let (_, started) = clock.census();
        let running = Running::begin(&clock);
        let (now_running, now_started) = clock.census();
        assert_eq!(now_running, 1);
        assert_ne!(now_started, started);
        // Dropped on another thread, as a call that finished in the slow
        // lane (it takes down the shard it went up on).
        std::thread::scope(|scope| {
            scope.spawn(move || drop(running));
        });
        assert_eq!(clock.census().0, 0);
    }

    #[test]
    fn a_call_wakes_a_sleeping_ticker_and_counts_as_a_tick() {
        let engine = Engine::default();
        let ticker = EpochTicker::start(&engine).unwrap();
        let clock = ticker.clock().clone();
        // Asleep once no call of this engine has started for a quiet spell:
        // the calls of other engines in this process do not count.
        let asleep_by = Instant::now() + Duration::from_secs(5);
        while !clock.asleep.load(Ordering::SeqCst) {
            assert!(Instant::now() < asleep_by, "the ticker did not fall asleep");
            std::thread::sleep(Duration::from_millis(10));
        }
        let before = Instant::now();
        let running = Running::begin(&clock);
        assert!(
            clock.last_tick() >= before,
            "the waking call counts as a tick"
        );
        // The ticker wakes, and does not sleep while a call runs.
        let awake_by = Instant::now() + Duration::from_secs(5);
        while clock.asleep.load(Ordering::SeqCst) {
            assert!(Instant::now() < awake_by, "the ticker did not wake");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(running);
        drop(ticker);
    }

    #[test]
    fn the_last_tick_is_never_in_the_future() {
        let clock = TickClock::new();
        clock.note_tick(Instant::now());
        assert!(clock.last_tick() <= Instant::now());
    }
}
