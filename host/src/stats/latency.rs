//! Latency histograms that many threads record into without contending:
//! one HDR histogram per shard, a shard per recording thread, merged when
//! read.
//!
//! Owns: the latency histograms. Uses: nothing else of this crate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use hdrhistogram::Histogram;

/// Enough shards that the runtime's worker threads rarely share one.
const SHARDS: usize = 16;

/// Values above this (nanoseconds: a minute) are clamped to it.
const HIGHEST_NS: u64 = 60_000_000_000;

/// A histogram of nanosecond durations, recordable from any thread.
pub struct ShardedHistogram {
    shards: Box<[Mutex<Histogram<u64>>]>,
}

impl Default for ShardedHistogram {
    fn default() -> Self {
        ShardedHistogram {
            shards: (0..SHARDS).map(|_| Mutex::new(empty())).collect(),
        }
    }
}

/// A histogram for 1 ns to a minute with 2 significant digits (1% error).
pub fn empty() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_NS, 2).expect("valid histogram bounds")
}

fn shard_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

impl ShardedHistogram {
    /// Records one duration in nanoseconds.
    pub fn record(&self, nanos: u64) {
        let mut shard = self.shards[shard_of_this_thread()]
            .lock()
            .expect("histogram shard lock");
        shard.saturating_record(nanos.clamp(1, HIGHEST_NS));
    }

    /// Takes everything recorded since the last drain, leaving it empty.
    pub fn drain(&self) -> Histogram<u64> {
        let mut merged = empty();
        for shard in self.shards.iter() {
            let mut shard = shard.lock().expect("histogram shard lock");
            merged.add(&*shard).expect("same bounds");
            shard.reset();
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_from_many_threads_and_drains() {
        let histogram = ShardedHistogram::default();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let histogram = &histogram;
                scope.spawn(move || {
                    for i in 1..=1000u64 {
                        histogram.record(i * 1000 + t);
                    }
                });
            }
        });
        let drained = histogram.drain();
        assert_eq!(drained.len(), 4000);
        let median = drained.value_at_quantile(0.5);
        assert!((490_000..=510_000).contains(&median), "{median}");
        assert_eq!(histogram.drain().len(), 0);
    }
}
