//! The deadline of a plugin call, and what it measures.
//!
//! `--plugin-timeout` bounds a call's *running time*: the time the plugin
//! itself ran, not the time it waited for a CPU. Once slow calls are moved
//! to the slow lane ([`crate::slow_lane`]) and run interleaved with the event
//! loop at the lowest priority, a wall-clock deadline would cut well-behaved
//! calls that merely waited their turn. A wall-clock ceiling
//! (`--plugin-wall-timeout`, by default ten times the timeout) still bounds
//! how long any call can live.
//!
//! How it is measured: wasm code checks the engine's epoch, which the
//! ticker ([`crate::ticker`]) advances every [`EPOCH_TICK`] while a call
//! runs; when a call's epoch deadline passes, [`CallClock::on_epoch`]
//! decides. On an event-loop thread a call runs inline for its first
//! [`INLINE_SLICE`] (running time there is wall time: nothing else runs on
//! that thread meanwhile), then yields so that the rest runs in the slow
//! lane, where running time is the thread's CPU time. A synchronous call
//! (see `call`) cannot yield: at the end of its slice it is
//! cut instead ([`SliceEnded`]) and runs again from the start in the slow
//! lane, where its running time counts afresh.
//!
//! The clock is not read when a call starts: most calls end within
//! microseconds, and a clock read each would cost more than the rest of
//! this bookkeeping. A call's time counts from the tick before it started
//! (`TickClock::last_tick`), so the deadline errs early, never late: by up to
//! one idle period of the ticker for the first look (a tenth of the
//! deadline at most), then met to within one tick (1 ms).
//!
//! Owns: [`CallClock`] and the wall-clock ceiling. Uses: the ticker's tick interval and the
//! slow lane's CPU clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::time::Sleep;
use wasmtime::UpdateDeadline;

use crate::slow_lane;
use crate::ticker::EPOCH_TICK;

/// How long a call may run on an event-loop thread, from its first look,
/// before it moves to the slow lane. Every other connection served by that
/// thread waits about this long for each slow call that starts (plus up to
/// one idle period of the ticker, if no other call was running).
pub const INLINE_SLICE: Duration = Duration::from_millis(1);

/// Why a call was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineExceeded {
    /// The call ran (on a CPU) for longer than its timeout.
    #[error("deadline exceeded: ran longer than {}", humantime::format_duration(*.0))]
    RunningTime(Duration),
    /// The call lasted longer than the wall-clock ceiling, waiting included.
    #[error("deadline exceeded: took longer than {} of wall-clock time", humantime::format_duration(*.0))]
    WallClock(Duration),
}

/// Why a call was interrupted at an epoch: its deadline, or (a synchronous
/// call on an event-loop thread) the end of its inline slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    Deadline(DeadlineExceeded),
    SliceEnded,
}

/// A synchronous call reached the end of its inline slice on an event-loop
/// thread and was cut: not a failure of the plugin; the call runs again in
/// the slow lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the call's inline slice ended")]
pub struct SliceEnded;

impl From<Interrupt> for wasmtime::Error {
    fn from(interrupt: Interrupt) -> Self {
        match interrupt {
            Interrupt::Deadline(deadline) => wasmtime::Error::new(deadline),
            Interrupt::SliceEnded => wasmtime::Error::new(SliceEnded),
        }
    }
}

/// The time one call has used, kept in its store while it runs.
#[derive(Debug, Clone)]
pub struct CallClock {
    /// Running time allowed.
    budget: Duration,
    /// Wall-clock time allowed.
    ceiling: Duration,
    /// The latest tick before the call started: its wall-clock time counts
    /// from here (a little early, never late).
    started_after: Instant,
    /// When the call's deadline first passed: its inline slice counts from
    /// here, so that a fast call that happens to span a tick goes on.
    first_look: Option<Instant>,
    /// Running time spent on an event-loop thread before the call moved to
    /// the slow lane.
    inline_running: Duration,
    /// The slow-lane thread's CPU time when this call's time there began.
    cpu_baseline: Option<Duration>,
    /// The call is synchronous: it cannot yield at the end of its inline
    /// slice, so it is cut there.
    synchronous: bool,
}

impl CallClock {
    /// A clock for a call starting now, after the tick at `started_after`
    /// (the engine's latest, `TickClock::last_tick`).
    pub fn start(budget: Duration, ceiling: Duration, started_after: Instant) -> Self {
        CallClock {
            budget,
            ceiling,
            started_after,
            first_look: None,
            inline_running: Duration::ZERO,
            // A call started in the slow lane (a fresh instance's first call
            // after its `init`) counts from now, not from the job's start.
            cpu_baseline: slow_lane::cpu_clock().map(|clock| clock.now),
            synchronous: false,
        }
    }

    /// The same limits, for a new synchronous call starting now, after the
    /// tick at `started_after`.
    pub fn restart_synchronous(&mut self, started_after: Instant) {
        self.restart(started_after);
        self.synchronous = true;
    }

    /// Wall-clock time the call may take.
    pub fn ceiling(&self) -> Duration {
        self.ceiling
    }

    /// The same limits, for a new call starting now, after the tick at
    /// `started_after`.
    pub fn restart(&mut self, started_after: Instant) {
        *self = CallClock::start(self.budget, self.ceiling, started_after);
    }

    /// The call's running time and wall-clock time so far (zero for a call
    /// that was never looked at: it ended within a tick).
    pub fn elapsed(&self) -> (Duration, Duration) {
        let wall = match self.first_look {
            Some(_) => self.started_after.elapsed(),
            None => Duration::ZERO,
        };
        (self.running(wall, slow_lane::cpu_clock()), wall)
    }

    /// Running time given the wall-clock time: wall time on an event-loop
    /// thread; in the slow lane, the time run inline plus the CPU time
    /// since the call's time there began (the job's start, until a look
    /// fixes the baseline).
    fn running(&self, wall: Duration, lane: Option<slow_lane::CpuClock>) -> Duration {
        match lane {
            None => wall,
            Some(lane) => {
                let baseline = self.cpu_baseline.unwrap_or(lane.job_start);
                self.inline_running + lane.now.saturating_sub(baseline)
            }
        }
    }

    /// Called when the call's epoch deadline passed: stop it, let it go on
    /// for some ticks, or (on an event-loop thread, past the inline slice)
    /// yield so it can be moved to the slow lane (a synchronous call is cut
    /// instead).
    pub fn on_epoch(&mut self) -> Result<UpdateDeadline, Interrupt> {
        let now = Instant::now();
        let seen = now - *self.first_look.get_or_insert(now);
        // Counted from the tick before the start: a deadline may come a
        // little early, never late.
        let wall = now.saturating_duration_since(self.started_after);
        if wall >= self.ceiling {
            return Err(Interrupt::Deadline(DeadlineExceeded::WallClock(
                self.ceiling,
            )));
        }
        let lane = slow_lane::cpu_clock();
        if let Some(lane) = lane {
            self.cpu_baseline.get_or_insert(lane.job_start);
        }
        let running = self.running(wall, lane);
        if running >= self.budget {
            return Err(Interrupt::Deadline(DeadlineExceeded::RunningTime(
                self.budget,
            )));
        }
        if lane.is_none() {
            // On an event-loop thread: look again at the next tick until
            // the slice is used up, then yield to move to the slow lane. A
            // fast call that happens to span a tick is not moved: the slice
            // counts from the first look.
            if seen < INLINE_SLICE {
                return Ok(UpdateDeadline::Continue(1));
            }
            if self.synchronous {
                return Err(Interrupt::SliceEnded);
            }
            self.inline_running = wall;
            return Ok(UpdateDeadline::Yield(1));
        }
        // Look again when the budget or the ceiling could run out at the
        // earliest: CPU time never runs faster than the wall clock. The
        // deadline fires after between n-1 and n ticks (a tick is
        // EPOCH_TICK while this call runs), so this never overshoots by more
        // than one tick.
        let left = (self.budget - running).min(self.ceiling - wall);
        let ticks = (left.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64;
        Ok(UpdateDeadline::Continue(ticks))
    }
}

/// `call`, bounded by the wall clock while it waits on the host too: the
/// epoch deadline stops a plugin that runs, not one parked in a WASI sleep
/// or read. The timer is made only when the call first waits, so the calls
/// that finish at once (nearly all) pay no clock read for it; it counts
/// from then, so the ceiling may come up to one inline slice late, never
/// early. `None` when the ceiling passed (the call is dropped, and its
/// instance with it).
pub(crate) async fn within_wall_clock<F: Future>(ceiling: Duration, call: F) -> Option<F::Output> {
    WallClockCeiling {
        call: std::pin::pin!(call),
        ceiling,
        timer: None,
    }
    .await
}

struct WallClockCeiling<'a, F> {
    call: Pin<&'a mut F>,
    ceiling: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<F: Future> Future for WallClockCeiling<'_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = self.call.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if self.timer.is_none() && tokio::runtime::Handle::try_current().is_ok() {
            self.timer = Some(Box::pin(tokio::time::sleep(self.ceiling)));
        }
        match self.timer.as_mut().map(|timer| timer.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(None),
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock for a call starting now, as if the ticker had just ticked.
    fn start(budget: Duration, ceiling: Duration) -> CallClock {
        CallClock::start(budget, ceiling, Instant::now())
    }

    fn spin_for(duration: Duration) {
        let started = Instant::now();
        while started.elapsed() < duration {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn inline_calls_are_looked_at_every_tick_then_yield() {
        let mut clock = start(Duration::from_secs(1), Duration::from_secs(10));
        // The first look starts the slice.
        assert!(matches!(clock.on_epoch(), Ok(UpdateDeadline::Continue(1))));
        spin_for(INLINE_SLICE);
        assert!(matches!(clock.on_epoch(), Ok(UpdateDeadline::Yield(1))));
    }

    #[test]
    fn synchronous_calls_are_cut_at_the_end_of_the_slice() {
        let mut clock = start(Duration::from_secs(1), Duration::from_secs(10));
        clock.restart_synchronous(Instant::now());
        assert!(matches!(clock.on_epoch(), Ok(UpdateDeadline::Continue(1))));
        spin_for(INLINE_SLICE);
        assert_eq!(clock.on_epoch().err(), Some(Interrupt::SliceEnded));
        // The next call is asynchronous again unless it says otherwise.
        clock.restart(Instant::now());
        assert!(matches!(clock.on_epoch(), Ok(UpdateDeadline::Continue(1))));
        spin_for(INLINE_SLICE);
        assert!(matches!(clock.on_epoch(), Ok(UpdateDeadline::Yield(1))));
    }

    #[test]
    fn synchronous_calls_in_the_slow_lane_are_never_cut() {
        slow_lane::block_on(async {
            let mut clock = start(Duration::from_secs(1), Duration::from_secs(10));
            clock.restart_synchronous(Instant::now());
            assert!(clock.on_epoch().is_ok());
            spin_for(2 * INLINE_SLICE);
            assert!(matches!(clock.on_epoch(), Ok(UpdateDeadline::Continue(_))));
        });
    }

    #[test]
    fn inline_calls_past_a_short_budget_are_stopped() {
        // The time before the first look counts in full.
        let mut clock = start(Duration::from_micros(200), Duration::from_secs(10));
        spin_for(Duration::from_micros(300));
        assert_eq!(
            clock.on_epoch().err(),
            Some(Interrupt::Deadline(DeadlineExceeded::RunningTime(
                Duration::from_micros(200)
            )))
        );
    }

    #[test]
    fn in_the_slow_lane_running_time_is_cpu_time() {
        slow_lane::block_on(async {
            let mut clock = start(Duration::from_millis(20), Duration::from_secs(10));
            // Sleeping is not running: the budget is untouched.
            std::thread::sleep(Duration::from_millis(30));
            match clock.on_epoch() {
                Ok(UpdateDeadline::Continue(ticks)) => assert!(ticks >= 1),
                _ => panic!("a call that slept was stopped"),
            }
            let spun = slow_lane::cpu_clock().unwrap().now;
            while slow_lane::cpu_clock().unwrap().now < spun + Duration::from_millis(25) {
                std::hint::spin_loop();
            }
            assert_eq!(
                clock.on_epoch().err(),
                Some(Interrupt::Deadline(DeadlineExceeded::RunningTime(
                    Duration::from_millis(20)
                )))
            );
        });
    }

    #[test]
    fn the_wall_clock_ceiling_bounds_waiting_too() {
        slow_lane::block_on(async {
            let mut clock = start(Duration::from_secs(1), Duration::from_millis(10));
            assert!(clock.on_epoch().is_ok());
            std::thread::sleep(Duration::from_millis(15));
            assert_eq!(
                clock.on_epoch().err(),
                Some(Interrupt::Deadline(DeadlineExceeded::WallClock(
                    Duration::from_millis(10)
                )))
            );
        });
    }
}
