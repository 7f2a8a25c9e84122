//! What each plugin has done, by plugin name: calls, lines answered,
//! failures by kind, and call durations. Kept by name, not by loaded
//! plugin, so a plugin's figures go on across swaps (a dashboard sees one
//! series per plugin, not one per generation).
//!
//! Counts are relaxed atomics; durations go to a `metrics` histogram (a
//! no-op unless a Prometheus recorder was installed before the plugin was
//! first loaded).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::failure::FailureKind;

/// The histogram of plugin call durations, labelled by plugin.
pub const PLUGIN_CALL_SECONDS: &str = "yell_plugin_call_duration_seconds";

/// One plugin's figures.
pub struct PluginUsage {
    calls: AtomicU64,
    lines: AtomicU64,
    failures: [AtomicU64; FailureKind::ALL.len()],
    call_seconds: metrics::Histogram,
}

impl PluginUsage {
    fn new(name: &str) -> PluginUsage {
        PluginUsage {
            calls: AtomicU64::new(0),
            lines: AtomicU64::new(0),
            failures: Default::default(),
            call_seconds: metrics::histogram!(PLUGIN_CALL_SECONDS, "plugin" => name.to_string()),
        }
    }

    /// One call ended (well or not) after `took`.
    pub fn called(&self, took: Duration) {
        self.calls.fetch_add(1, Relaxed);
        self.call_seconds.record(took.as_secs_f64());
    }

    /// A batch call answered `lines` lines.
    pub fn answered(&self, lines: usize) {
        self.lines.fetch_add(lines as u64, Relaxed);
    }

    pub fn failed(&self, kind: FailureKind) {
        self.failures[kind.index()].fetch_add(1, Relaxed);
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }

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
}

impl PluginUsages {
    /// The figures of the plugin called `name`, made at its first load.
    pub fn of(&self, name: &Arc<str>) -> Arc<PluginUsage> {
        self.by_name
            .lock()
            .expect("plugin usage lock")
            .entry(name.clone())
            .or_insert_with(|| Arc::new(PluginUsage::new(name)))
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
