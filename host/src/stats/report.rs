//! The periodic stats line (`--stats-interval`): lines per second over the
//! interval, open connections, and the interval's p99 plugin call time,
//! logged through tracing. Quiet while the server is idle.
//!
//! Owns: the periodic stats line. Uses: the stats its parent declares.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{human_duration, Quantiles, Stats};

/// Logs a stats line every `interval` until shutdown.
pub async fn report_periodically(
    stats: Arc<Stats>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await; // the first tick is immediate
    let mut last_lines = stats.counters().lines;
    let mut last_time = Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let counters = stats.counters();
        let now = Instant::now();
        let lines = counters.lines - last_lines;
        let seconds = (now - last_time).as_secs_f64();
        (last_lines, last_time) = (counters.lines, now);
        let calls = stats.drain_interval();
        if lines == 0 && counters.connections_active == 0 {
            continue;
        }
        let call_time = Quantiles::of(&calls);
        tracing::info!(
            lines_per_second = (lines as f64 / seconds).round() as u64,
            connections_active = counters.connections_active,
            plugin_calls = calls.len(),
            plugin_call_p99 = %human_duration(call_time.p99),
            "stats"
        );
    }
}
