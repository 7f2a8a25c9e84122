//! The slow lane: low-priority threads where plugin calls that outlive
//! their first slice finish, so that plugin time never starves the event
//! loop.
//!
//! A call starts inline on the event-loop thread (most calls finish there
//! in microseconds, with no thread handoff). One still running after its
//! inline slice yields (see [`crate::limits::deadline`]); [`SlowLane::start`]
//! then moves the rest of it, a suspended future, to a slow-lane thread. A
//! synchronous call cut at the end of its slice is made again, all of it
//! here ([`SlowLane::hand_over`]).
//! Those threads run at the lowest scheduling priority (nice 19): the kernel
//! preempts them the moment an event-loop thread has work, so a slow call
//! costs other connections next to nothing while it runs, and
//! as many slow calls run at once as there are instances for them (see the
//! admission limits), never waiting for a fixed number of threads.
//!
//! Threads are made when every one is busy and end after
//! [`IDLE_THREAD_LIFETIME`] without work. While a thread runs a job, the
//! job's CPU time is known ([`cpu_clock`]): that is how a call's running
//! time, rather than its wall-clock time, is measured.
//!
//! Owns: [`SlowLane`], its threads and their CPU clock, and `block_on`. Uses: nothing
//! else of this crate.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::sync::oneshot;

/// How long a slow-lane thread without work waits for some before ending.
pub const IDLE_THREAD_LIFETIME: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// Where slow calls finish. Cheap to clone; threads end by themselves.
#[derive(Clone, Default)]
pub struct SlowLane {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    work: Condvar,
    /// Calls moved here since the start.
    moved: AtomicU64,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Threads waiting for work.
    idle: usize,
    /// Threads alive.
    threads: usize,
}

/// How [`SlowLane::start`] left a call.
pub enum Started<T> {
    /// It finished inline.
    Done(T),
    /// It moved to the slow lane; its result comes here.
    Moved(oneshot::Receiver<T>),
}

impl SlowLane {
    /// Polls `call` once on this thread; if it is not done (it yielded at
    /// the end of its inline slice), moves it to a slow-lane thread.
    pub fn start<T, F>(&self, call: F) -> Started<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let mut call = Box::pin(call);
        // The call's only reason to be pending is its own yield, so nobody
        // needs waking: a pending call is handed over right away.
        let mut cx = Context::from_waker(Waker::noop());
        match call.as_mut().poll(&mut cx) {
            Poll::Ready(value) => Started::Done(value),
            Poll::Pending => Started::Moved(self.move_here(call)),
        }
    }

    /// Runs all of `call` on a slow-lane thread, none of it here: for a
    /// call known to be slow.
    pub fn hand_over<T, F>(&self, call: F) -> oneshot::Receiver<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        self.move_here(Box::pin(call))
    }

    fn move_here<T, F>(&self, call: Pin<Box<F>>) -> oneshot::Receiver<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        self.shared.moved.fetch_add(1, Ordering::Relaxed);
        // A call may wait on the host (a plugin's WASI sleep or socket): its
        // timers and I/O belong to the runtime the call started in.
        let runtime = tokio::runtime::Handle::try_current().ok();
        self.submit(Box::new(move || {
            let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
            // Nobody waiting any more (the connection went away) is fine:
            // the call still ends and gives its instance up.
            let _ = done.send(block_on(call));
        }));
        result
    }

    /// Calls moved to the slow lane since the start.
    pub fn moved_calls(&self) -> u64 {
        self.shared.moved.load(Ordering::Relaxed)
    }

    /// Slow-lane threads alive now (busy or waiting for work).
    pub fn threads(&self) -> usize {
        self.shared.state.lock().expect("slow lane lock").threads
    }

    fn submit(&self, job: Job) {
        let mut state = self.shared.state.lock().expect("slow lane lock");
        state.queue.push_back(job);
        if state.queue.len() <= state.idle {
            self.shared.work.notify_one();
            return;
        }
        // Every thread is busy: one more, so no call waits behind another.
        state.threads += 1;
        drop(state);
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("yell-slow-lane".into())
            .spawn(move || serve(shared));
        if let Err(error) = spawned {
            tracing::warn!("cannot start a slow-lane thread: {error}");
            let mut state = self.shared.state.lock().expect("slow lane lock");
            state.threads -= 1;
            if state.threads == 0 {
                // No thread will ever take the job: drop it, which answers
                // its call with an error and frees its instance.
                state.queue.pop_back();
            }
            // Otherwise the next thread that frees up takes it.
        }
    }
}

/// A slow-lane thread: runs jobs until none comes for a while.
fn serve(shared: Arc<Shared>) {
    /// Uncounts the thread however it ends, a panicking job included.
    struct Counted(Arc<Shared>);
    impl Drop for Counted {
        fn drop(&mut self) {
            if let Ok(mut state) = self.0.state.lock() {
                state.threads -= 1;
            }
        }
    }
    let _counted = Counted(shared.clone());
    lower_this_threads_priority();
    let mut state = shared.state.lock().expect("slow lane lock");
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            job();
            state = shared.state.lock().expect("slow lane lock");
            continue;
        }
        state.idle += 1;
        let (woken, waited) = shared
            .work
            .wait_timeout(state, IDLE_THREAD_LIFETIME)
            .expect("slow lane lock");
        state = woken;
        state.idle -= 1;
        if waited.timed_out() && state.queue.is_empty() {
            return;
        }
    }
}

/// Puts the calling thread at the lowest priority of its scheduling class
/// (nice 19): the kernel then runs it only in the time event-loop threads
/// leave, and preempts it as soon as one of them wakes up. Not
/// `SCHED_IDLE`: that would let any busy process on the machine starve slow
/// calls entirely, where nice 19 still leaves them a small share.
fn lower_this_threads_priority() {
    use thread_priority::{set_current_thread_priority, ThreadPriority};
    if let Err(error) = set_current_thread_priority(ThreadPriority::Min) {
        tracing::debug!("slow-lane thread keeps its priority: {error:?}");
    }
}

thread_local! {
    /// This thread's CPU time when the job it runs began; `None` outside
    /// [`block_on`].
    static JOB_STARTED_AT_CPU: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// CPU time of the thread running a job, for measuring running time.
#[derive(Debug, Clone, Copy)]
pub struct CpuClock {
    /// The thread's CPU time now.
    pub now: Duration,
    /// The thread's CPU time when the current job began.
    pub job_start: Duration,
}

/// The CPU clock of the job this thread runs, or `None` on a thread that
/// runs no job through [`block_on`] (an event-loop thread).
pub fn cpu_clock() -> Option<CpuClock> {
    let job_start = JOB_STARTED_AT_CPU.get()?;
    Some(CpuClock {
        now: thread_cpu_time(),
        job_start,
    })
}

fn thread_cpu_time() -> Duration {
    cpu_time::ThreadTime::try_now()
        .map(|time| time.as_duration())
        .unwrap_or_default()
}

/// Runs `job` to completion on this thread, blocking it; its CPU time is
/// measured meanwhile (`cpu_clock`). For slow-lane threads, and for
/// plugin calls made outside the event loop (loading, reloading, the load
/// client's expected replies).
pub fn block_on<F: Future>(job: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let outer = JOB_STARTED_AT_CPU.replace(Some(thread_cpu_time()));
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut job = std::pin::pin!(job);
    let output = loop {
        match job.as_mut().poll(&mut cx) {
            Poll::Ready(output) => break output,
            Poll::Pending => std::thread::park(),
        }
    };
    JOB_STARTED_AT_CPU.set(outer);
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pending once (like a call yielding at the end of its slice), then done.
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = Option<String>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            if self.0 {
                return Poll::Ready(std::thread::current().name().map(str::to_owned));
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_call_done_inline_stays_inline() {
        let lane = SlowLane::default();
        assert!(matches!(lane.start(async { 7 }), Started::Done(7)));
        assert_eq!(lane.moved_calls(), 0);
        assert_eq!(lane.threads(), 0);
    }

    #[test]
    fn a_call_that_yields_finishes_in_the_slow_lane() {
        let lane = SlowLane::default();
        let results: Vec<_> = (0..8)
            .map(|_| match lane.start(YieldOnce(false)) {
                Started::Moved(result) => result,
                Started::Done(_) => panic!("finished inline"),
            })
            .collect();
        for result in results {
            let thread = result.blocking_recv().unwrap();
            assert_eq!(thread.as_deref(), Some("yell-slow-lane"));
        }
        assert_eq!(lane.moved_calls(), 8);
        assert!(lane.threads() >= 1);
    }

    #[test]
    fn a_call_handed_over_runs_only_in_the_slow_lane() {
        let lane = SlowLane::default();
        let here = std::thread::current().id();
        let result = lane.hand_over(async move { std::thread::current().id() != here });
        assert!(result.blocking_recv().unwrap());
        assert_eq!(lane.moved_calls(), 1);
    }

    #[test]
    fn jobs_measure_their_cpu_time() {
        assert!(cpu_clock().is_none());
        let spent = block_on(async {
            let start = cpu_clock().unwrap();
            let mut n = 0u64;
            while cpu_clock().unwrap().now < start.job_start + Duration::from_millis(5) {
                n = std::hint::black_box(n + 1);
            }
            cpu_clock().unwrap().now - start.job_start
        });
        assert!(spent >= Duration::from_millis(5));
        assert!(cpu_clock().is_none());
    }
}
