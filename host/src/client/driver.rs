//! One connection of the load client: send lines (closed loop: `depth` in
//! flight; open loop: on a schedule), read the replies, check each against
//! the expected one, and time each line from its (intended) send time to
//! the end of its last reply line.
//!
//! Owns: driving one connection of the load test. Uses: the workload and the latency
//! histograms.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::workload::{Runs, Workload};
use crate::stats::latency;

/// How long a reply may be awaited past the end of the run before the
/// server is declared stuck.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many mismatches are kept to show.
const SHOWN_MISMATCHES: usize = 3;

/// What the connections share: the plan, and live totals for progress.
pub struct Shared {
    pub workload: Workload,
    /// The workload's lines laid out for closed-loop bursts.
    pub line_runs: Option<Runs>,
    /// Their expected replies laid out the same way.
    pub reply_runs: Option<Runs>,
    pub depth: usize,
    /// Lines per second per connection, for open-loop runs.
    pub rate_per_connection: Option<f64>,
    /// When the run started: the open-loop schedule counts from here.
    pub run_start: Instant,
    /// Lines sent before this time are not counted (warm-up).
    pub measure_from: Instant,
    /// No line is sent after this time.
    pub send_until: Instant,
    /// With `--lines`: how many lines to send in all, over all connections.
    pub line_budget: Option<u64>,
    /// Lines the connections have claimed from the budget.
    pub lines_claimed: AtomicU64,
    pub live_lines: AtomicU64,
    pub live_errors: AtomicU64,
    /// Latencies of every connection, merged a few times a second.
    pub latencies: Mutex<Histogram<u64>>,
    /// With `--reconnect`: where to connect again after a clean close.
    pub reconnect_to: Option<String>,
}

/// Why a connection stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    Refused,
    Reset,
    Timeout,
    Closed,
}

impl Failure {
    pub fn name(self) -> &'static str {
        match self {
            Failure::Refused => "refused",
            Failure::Reset => "reset",
            Failure::Timeout => "timeout",
            Failure::Closed => "closed",
        }
    }

    fn of(error: &std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        match error.kind() {
            ConnectionRefused => Failure::Refused,
            TimedOut => Failure::Timeout,
            _ => Failure::Reset,
        }
    }
}

/// A reply that was not the expected one.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub sent: Vec<u8>,
    pub got: Vec<u8>,
    pub expected: Vec<u8>,
}

/// What one connection did (counted after the warm-up only).
#[derive(Debug, Default)]
pub struct Outcome {
    pub lines: u64,
    pub mismatches: u64,
    pub shown_mismatches: Vec<Mismatch>,
    pub failure: Option<(Failure, String)>,
    /// Times the connection was made again after the server closed it.
    pub reconnects: u64,
    /// Lines sent again on a new connection because the old one closed
    /// before answering them.
    pub resent: u64,
}

/// How long `--reconnect` keeps trying to connect again.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Reconnections in a row that got no reply at all before `--reconnect`
/// gives up: a server that closes every connection is not draining.
const FRUITLESS_RECONNECTS: u32 = 20;

/// Lines sent at one time and not yet fully answered: `count` lines of
/// the workload's rotation from `first` on. A closed-loop burst is one
/// such run (its lines share their send time, so the replies one read
/// completes are timed and recorded once, not once per line); an open-loop
/// line is a run of its own.
struct InFlight {
    first: usize,
    count: usize,
    since: Instant,
}

struct Connection<'a> {
    shared: &'a Shared,
    stream: TcpStream,
    outcome: Outcome,
    in_flight: VecDeque<InFlight>,
    /// Lines in `in_flight`, all runs together.
    lines_in_flight: usize,
    /// Index of the next line to send in the workload's rotation.
    next_line: usize,
    /// Lines sent so far (the open-loop schedule counts them).
    sent: u64,
    /// What the next send writes (kept from one send to the next).
    burst: Vec<u8>,
    buffer: Vec<u8>,
    filled: usize,
    /// Where the reply of the oldest in-flight line starts in `buffer`, and
    /// how many of its reply lines have arrived.
    reply_start: usize,
    reply_lines_seen: usize,
    latencies: Histogram<u64>,
    last_merge: Instant,
    /// The line budget is used up: send nothing more.
    budget_spent: bool,
    /// Reconnections since the last reply line arrived.
    fruitless_reconnects: u32,
}

/// Runs one connection until the plan's end; never panics on the peer's
/// behaviour.
pub async fn drive(stream: TcpStream, shared: Arc<Shared>) -> Outcome {
    let mut connection = Connection {
        shared: &shared,
        stream,
        outcome: Outcome::default(),
        in_flight: VecDeque::new(),
        lines_in_flight: 0,
        next_line: 0,
        sent: 0,
        burst: Vec::new(),
        buffer: vec![0; 64 * 1024],
        filled: 0,
        reply_start: 0,
        reply_lines_seen: 0,
        latencies: latency::empty(),
        last_merge: Instant::now(),
        budget_spent: false,
        fruitless_reconnects: 0,
    };
    if let Err((failure, message)) = connection.run().await {
        shared.live_errors.fetch_add(1, Relaxed);
        connection.outcome.failure = Some((failure, message));
    }
    connection.merge_latencies();
    let _ = connection.stream.shutdown().await;
    connection.outcome
}

type Step = Result<(), (Failure, String)>;

impl Connection<'_> {
    async fn run(&mut self) -> Step {
        let shared = self.shared;
        let give_up = shared.send_until + REPLY_TIMEOUT;
        // One timer for the whole run, moved only when the next wake-up
        // moves: a timer made per read would be registered and removed
        // again for nearly every read.
        let mut timer = std::pin::pin!(tokio::time::sleep_until(give_up));
        let mut timer_at = give_up;
        // When the last replies were taken, if nothing happened since: one
        // clock read serves both their latency and the next send.
        let mut replies_taken_at = None;
        loop {
            let now = replies_taken_at.take().unwrap_or_else(Instant::now);
            // Send what the plan allows now.
            let due = self.claim(self.lines_due(now));
            if due > 0 {
                self.send(due, now).await?;
                continue;
            }
            let sending_over = now >= shared.send_until || self.budget_spent;
            if sending_over && self.lines_in_flight == 0 {
                return Ok(());
            }
            // Otherwise wait for replies, or for the next scheduled send.
            let wake = match shared.rate_per_connection {
                Some(_) if !sending_over && self.lines_in_flight < shared.depth => {
                    self.next_send_time().min(shared.send_until)
                }
                _ => give_up,
            };
            if wake != timer_at {
                timer.as_mut().reset(wake);
                timer_at = wake;
            }
            if self.lines_in_flight == 0 {
                timer.as_mut().await;
                continue;
            }
            let space = self.make_room();
            let read = tokio::select! {
                biased;
                read = self.stream.read(&mut self.buffer[space..]) => read,
                _ = timer.as_mut() => {
                    if wake >= give_up {
                        return Err((Failure::Timeout, format!("no reply for {REPLY_TIMEOUT:?} after the end of the run")));
                    }
                    continue;
                }
            };
            match read {
                Ok(0) if shared.reconnect_to.is_some() => self.reconnect().await?,
                Ok(0) => return Err((Failure::Closed, "the server closed the connection".into())),
                Ok(read) => replies_taken_at = Some(self.take_replies(read)),
                Err(error) => return Err((Failure::of(&error), format!("read: {error}"))),
            }
        }
    }

    /// The server closed the connection cleanly (a drain): connects again
    /// and resends every line it had not answered (whole: a reply cut short
    /// is dropped, and comes again in full).
    async fn reconnect(&mut self) -> Step {
        let addr = self
            .shared
            .reconnect_to
            .as_deref()
            .expect("reconnecting only with --reconnect");
        if self.fruitless_reconnects >= FRUITLESS_RECONNECTS {
            return Err((
                Failure::Closed,
                format!(
                    "the server closed {FRUITLESS_RECONNECTS} connections in a row without a reply"
                ),
            ));
        }
        self.fruitless_reconnects += 1;
        let give_up = Instant::now() + RECONNECT_TIMEOUT;
        let stream = loop {
            match TcpStream::connect(addr).await {
                Ok(stream) => break stream,
                Err(error) if Instant::now() >= give_up => {
                    return Err((Failure::of(&error), format!("reconnect to {addr}: {error}")))
                }
                // A balancer may need a moment to route around the server.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let _ = stream.set_nodelay(true);
        self.stream = stream;
        self.outcome.reconnects += 1;
        self.filled = 0;
        self.reply_start = 0;
        self.reply_lines_seen = 0;
        let lines = &self.shared.workload.lines;
        let mut burst = Vec::new();
        for run in &self.in_flight {
            let mut index = run.first;
            for _ in 0..run.count {
                burst.extend_from_slice(&lines[index]);
                index = next_in_rotation(index, lines.len());
            }
        }
        self.outcome.resent += self.lines_in_flight as u64;
        self.stream.write_all(&burst).await.map_err(|error| {
            (
                Failure::of(&error),
                format!("write after reconnecting: {error}"),
            )
        })
    }

    /// When the next line is due in an open-loop run.
    fn next_send_time(&self) -> Instant {
        let rate = self.shared.rate_per_connection.unwrap_or(f64::INFINITY);
        let start = self.shared.run_start;
        start + Duration::from_secs_f64(self.sent as f64 / rate)
    }

    /// Takes up to `want` lines from the line budget, if there is one.
    fn claim(&mut self, want: usize) -> usize {
        let shared = self.shared;
        let (Some(budget), true) = (shared.line_budget, want > 0) else {
            return want;
        };
        let before = shared.lines_claimed.fetch_add(want as u64, Relaxed);
        let granted = budget.saturating_sub(before).min(want as u64) as usize;
        if granted < want {
            self.budget_spent = true;
        }
        granted
    }

    /// How many lines to send now.
    fn lines_due(&self, now: Instant) -> usize {
        let shared = self.shared;
        if now >= shared.send_until || self.budget_spent {
            return 0;
        }
        let room = shared.depth - self.lines_in_flight.min(shared.depth);
        match shared.rate_per_connection {
            // Closed loop: a new burst once the last one is answered.
            None => {
                if self.lines_in_flight == 0 {
                    shared.depth
                } else {
                    0
                }
            }
            Some(rate) => {
                let elapsed = now.saturating_duration_since(shared.run_start);
                let scheduled = (elapsed.as_secs_f64() * rate) as u64 + 1;
                (scheduled.saturating_sub(self.sent) as usize).min(room)
            }
        }
    }

    async fn send(&mut self, count: usize, now: Instant) -> Step {
        let shared = self.shared;
        let lines = &shared.workload.lines;
        let mut burst = std::mem::take(&mut self.burst);
        burst.clear();
        if shared.rate_per_connection.is_none() {
            // Closed loop: the burst is one run.
            self.in_flight.push_back(InFlight {
                first: self.next_line,
                count,
                since: now,
            });
        }
        let laid_out = match shared.rate_per_connection {
            None => shared
                .line_runs
                .as_ref()
                .and_then(|runs| runs.run(self.next_line, count)),
            Some(_) => None,
        };
        if let Some(run) = laid_out {
            // Closed loop: the burst is copied whole.
            burst.extend_from_slice(run);
            self.next_line = (self.next_line + count) % lines.len();
            self.sent += count as u64;
        } else {
            for _ in 0..count {
                let index = self.next_line;
                self.next_line = next_in_rotation(index, lines.len());
                burst.extend_from_slice(&lines[index]);
                if shared.rate_per_connection.is_some() {
                    // Open loop: latency counts from when the line should
                    // have gone, so a stalled server cannot hide behind a
                    // late send.
                    self.in_flight.push_back(InFlight {
                        first: index,
                        count: 1,
                        since: self.next_send_time().min(now),
                    });
                }
                self.sent += 1;
            }
        }
        self.lines_in_flight += count;
        let written = self.stream.write_all(&burst).await;
        self.burst = burst;
        match written {
            Ok(()) => Ok(()),
            // The server closed while nothing was being read (an open-loop
            // client between replies): the burst is in flight, and goes
            // again on the new connection.
            Err(error)
                if shared.reconnect_to.is_some()
                    && matches!(
                        error.kind(),
                        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                    ) =>
            {
                self.reconnect().await
            }
            Err(error) => Err((Failure::of(&error), format!("write: {error}"))),
        }
    }

    /// Moves the unfinished reply to the front of the buffer (growing it if
    /// needed); returns where the next read goes.
    fn make_room(&mut self) -> usize {
        if self.reply_start > 0 {
            self.buffer.copy_within(self.reply_start..self.filled, 0);
            self.filled -= self.reply_start;
            self.reply_start = 0;
        }
        if self.filled == self.buffer.len() {
            self.buffer.resize(self.buffer.len() * 2, 0);
        }
        self.filled
    }

    /// Accounts for `read` new bytes: completes in-flight lines whose reply
    /// lines have all arrived, checking each and timing it. Returns the
    /// time it took as the replies' arrival.
    fn take_replies(&mut self, read: usize) -> Instant {
        let now = Instant::now();
        // Where the search for the next newline goes on from: the bytes
        // before were searched by earlier reads.
        let mut scan = self.filled;
        self.filled += read;
        self.fruitless_reconnects = 0;
        let mut tally = Tally::default();
        loop {
            // The oldest run's expected replies, all there and right: taken
            // with one comparison.
            if let Some(end) = self.expected_run_here() {
                self.complete_oldest_run(end, now, &mut tally);
                scan = end;
                continue;
            }
            // The oldest line's expected reply, whole and right: taken as a
            // block, without looking for its newlines one by one.
            if let Some(end) = self.expected_reply_here() {
                self.complete_oldest(end, true, now, &mut tally);
                scan = end;
                continue;
            }
            let Some(newline) = memchr::memchr(b'\n', &self.buffer[scan..self.filled]) else {
                break;
            };
            let end = scan + newline + 1;
            scan = end;
            let Some(oldest) = self.in_flight.front() else {
                // More reply lines than lines sent: the server is wrong.
                self.outcome.mismatches += 1;
                self.reply_start = end;
                continue;
            };
            self.reply_lines_seen += 1;
            if self.reply_lines_seen < self.shared.workload.reply_lines(oldest.first) {
                continue;
            }
            let right = match &self.shared.workload.expected {
                Some(expected) => {
                    self.buffer[self.reply_start..end] == *expected[oldest.first].bytes
                }
                None => true,
            };
            self.complete_oldest(end, right, now, &mut tally);
        }
        if let Some(oldest) = self.in_flight.front() {
            let since = oldest.since;
            record_latency(&mut self.latencies, now, since, tally.unrecorded);
        }
        self.outcome.lines += tally.completed;
        self.shared.live_lines.fetch_add(tally.completed, Relaxed);
        if now.duration_since(self.last_merge) > Duration::from_millis(250) {
            self.merge_latencies();
            self.last_merge = now;
        }
        now
    }

    /// Where the replies of the oldest in-flight run (of several lines)
    /// end, if all of them are in the buffer and are exactly the expected
    /// ones (and no reply line of the run was counted yet).
    fn expected_run_here(&self) -> Option<usize> {
        let runs = self.shared.reply_runs.as_ref()?;
        let oldest = self.in_flight.front()?;
        if self.reply_lines_seen > 0 || oldest.count < 2 {
            return None;
        }
        let want = runs.run(oldest.first, oldest.count)?;
        let end = self.reply_start + want.len();
        (end <= self.filled && self.buffer[self.reply_start..end] == *want).then_some(end)
    }

    /// The oldest in-flight run is answered, rightly, up to `end`.
    fn complete_oldest_run(&mut self, end: usize, now: Instant, tally: &mut Tally) {
        let Some(run) = self.in_flight.pop_front() else {
            return;
        };
        self.lines_in_flight -= run.count;
        if run.since >= self.shared.measure_from {
            tally.completed += run.count as u64;
            tally.unrecorded += run.count as u64;
        }
        record_latency(
            &mut self.latencies,
            now,
            run.since,
            std::mem::take(&mut tally.unrecorded),
        );
        self.reply_start = end;
        self.reply_lines_seen = 0;
    }

    /// Where the oldest in-flight line's reply ends, if all of it is in the
    /// buffer and is exactly the expected reply (and no reply line of it
    /// was counted yet).
    fn expected_reply_here(&self) -> Option<usize> {
        let expected = self.shared.workload.expected.as_ref()?;
        if self.reply_lines_seen > 0 {
            return None;
        }
        let want = &expected[self.in_flight.front()?.first].bytes;
        let end = self.reply_start + want.len();
        // Matching bytes end a reply only if they end a line.
        let whole_lines = want.last() == Some(&b'\n');
        (whole_lines && end <= self.filled && self.buffer[self.reply_start..end] == **want)
            .then_some(end)
    }

    /// The oldest in-flight line's reply is complete and ends at `end`;
    /// `right` says whether it is the expected one.
    fn complete_oldest(&mut self, end: usize, right: bool, now: Instant, tally: &mut Tally) {
        let shared = self.shared;
        let Some(oldest) = self.in_flight.front_mut() else {
            return;
        };
        let index = oldest.first;
        let since = oldest.since;
        let counted = since >= shared.measure_from;
        oldest.first = next_in_rotation(index, shared.workload.lines.len());
        oldest.count -= 1;
        let run_answered = oldest.count == 0;
        self.lines_in_flight -= 1;
        if !right && counted {
            self.outcome.mismatches += 1;
            if let (true, Some(expected)) = (
                self.outcome.shown_mismatches.len() < SHOWN_MISMATCHES,
                &shared.workload.expected,
            ) {
                self.outcome.shown_mismatches.push(Mismatch {
                    sent: shared.workload.lines[index].clone(),
                    got: self.buffer[self.reply_start..end].to_vec(),
                    expected: expected[index].bytes.clone(),
                });
            }
        }
        if counted {
            tally.completed += 1;
            tally.unrecorded += 1;
        }
        if run_answered {
            self.in_flight.pop_front();
            record_latency(
                &mut self.latencies,
                now,
                since,
                std::mem::take(&mut tally.unrecorded),
            );
        }
        self.reply_start = end;
        self.reply_lines_seen = 0;
    }

    fn merge_latencies(&mut self) {
        let mut shared = self.shared.latencies.lock().expect("latency lock");
        shared.add(&self.latencies).expect("same bounds");
        self.latencies.reset();
    }
}

/// The line after `index` in a rotation of `lines` lines. Per line sent and
/// answered, so without a division.
fn next_in_rotation(index: usize, lines: usize) -> usize {
    if index + 1 >= lines {
        0
    } else {
        index + 1
    }
}

/// Lines completed by one read.
#[derive(Default)]
struct Tally {
    /// Counted ones (sent after the warm-up).
    completed: u64,
    /// Counted ones of the oldest run whose latency is not recorded yet:
    /// they share one (one send time, one arrival).
    unrecorded: u64,
}

/// Records the latency of `lines` lines sent at `since` and answered `now`.
fn record_latency(latencies: &mut Histogram<u64>, now: Instant, since: Instant, lines: u64) {
    if lines > 0 {
        let nanos = now.saturating_duration_since(since).as_nanos() as u64;
        latencies.saturating_record_n(nanos.max(1), lines);
    }
}
