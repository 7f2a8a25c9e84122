//! What each plugin has done, by plugin name: calls, lines answered,
//! failures by kind, and call durations. Kept by name, not by loaded
//! plugin, so a plugin's figures go on across swaps (a dashboard sees one
//! series per plugin, not one per generation).
//!
//! Counts are relaxed atomics; durations go to a `metrics` histogram, and
//! are measured only when they are exported ([`PluginUsages::time_calls`]
//! before the plugin was first loaded).
//!
//! Owns: [`PluginUsage`] and [`PluginUsages`]. Uses: the failure kinds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::failure::FailureKind;

/// The histogram of plugin call durations, labelled by plugin.
pub const PLUGIN_CALL_SECONDS: &str = "yell_plugin_call_duration_seconds";

/// One plugin's figures.
pub struct PluginUsage {
    calls: AtomicU64,
    lines: AtomicU64,
    failures: [AtomicU64; FailureKind::ALL.len()],
    /// Call durations, when they are exported: timing a call takes two
    /// clock reads, a tenth of a fast call's cost.
    call_seconds: Option<metrics::Histogram>,
}

impl PluginUsage {
    fn new(name: &str, timed: bool) -> PluginUsage {
        PluginUsage {
            calls: AtomicU64::new(0),
            lines: AtomicU64::new(0),
            failures: Default::default(),
            call_seconds: timed
                .then(|| metrics::histogram!(PLUGIN_CALL_SECONDS, "plugin" => name.to_string())),
        }
    }

    /// A call starts: the time it starts, if its duration is recorded.
    pub fn call_starts(&self) -> Option<Instant> {
        self.call_seconds.as_ref().map(|_| Instant::now())
    }

    /// The call that started at `started` ([`call_starts`](Self::call_starts))
    /// ended, well or not.
    pub fn called(&self, started: Option<Instant>) {
        self.calls.fetch_add(1, Relaxed);
        if let (Some(histogram), Some(started)) = (&self.call_seconds, started) {
            histogram.record(started.elapsed().as_secs_f64());
        }
    }

    /// A batch call answered `lines` lines.
    pub fn answered(&self, lines: usize) {
        self.lines.fetch_add(lines as u64, Relaxed);
    }

    /// A call failed so.
    pub fn failed(&self, kind: FailureKind) {
        self.failures[kind.index()].fetch_add(1, Relaxed);
    }

    /// Calls made, well or not.
    pub fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }

    /// Lines answered.
    pub fn lines(&self) -> u64 {
        self.lines.load(Relaxed)
    }

    /// Failed calls of each kind, in the order of [`FailureKind::ALL`].
    pub fn failures(&self) -> [u64; FailureKind::ALL.len()] {
        std::array::from_fn(|index| self.failures[index].load(Relaxed))
    }
}

/// Every plugin's figures, by name.
#[derive(Default)]
pub struct PluginUsages {
    by_name: Mutex<HashMap<Arc<str>, Arc<PluginUsage>>>,
    /// Whether call durations are recorded, for plugins loaded from now.
    timed: AtomicBool,
}

impl PluginUsages {
    /// Records the durations of the calls of plugins loaded from now on
    /// (once a `metrics` recorder that exports them is installed).
    pub fn time_calls(&self) {
        self.timed.store(true, Relaxed);
    }

    /// The figures of the plugin called `name`, made at its first load.
    pub fn of(&self, name: &Arc<str>) -> Arc<PluginUsage> {
        self.by_name
            .lock()
            .expect("plugin usage lock")
            .entry(name.clone())
            .or_insert_with(|| Arc::new(PluginUsage::new(name, self.timed.load(Relaxed))))
            .clone()
    }

    /// Every plugin ever loaded, by name, sorted.
    pub fn all(&self) -> Vec<(Arc<str>, Arc<PluginUsage>)> {
        let mut all: Vec<_> = self
            .by_name
            .lock()
            .expect("plugin usage lock")
            .iter()
            .map(|(name, usage)| (name.clone(), usage.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}
