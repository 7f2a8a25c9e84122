//! Metrics of the plugin's own, on the host's `/metrics` beside the
//! host's: `yell_plugin_<name>` (a counter's ending in `_total`), labelled
//! with the plugin's name and the label values given.
//!
//! ```ignore
//! use yell_plugin::metrics::Counter;
//!
//! // In `LinePlugin::new`, so a definition the host refuses (a name taken
//! // by another kind, say) refuses the plugin at load.
//! let refused = Counter::define("refused", "Lines refused, by reason.", &["reason"]);
//! // In `transform`: counted when the call counts.
//! refused.add(&["too_long"], 1.0);
//! ```
//!
//! Every instance of the plugin, and the next generation after a live
//! swap, that defines the same name records into the same series. Mistakes
//! in the code trap (a definition the host refuses, the wrong number of
//! label values); values the metric cannot take (a negative amount on a
//! counter, a new series past the host's cap) record nothing and the host
//! warns once. A plugin that never calls this module does not import the
//! host's metrics. In a native build (`cargo test`) the values go to
//! [`crate::testing::metrics`], where a test reads them.

/// What a metric is, for the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// What a recording does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Add,
    Set,
    Observe,
}

/// A count that only goes up: requests, hits, refusals.
#[derive(Debug, Clone, Copy)]
pub struct Counter(u32);

/// A level that goes up and down: a size, a depth.
#[derive(Debug, Clone, Copy)]
pub struct Gauge(u32);

/// How observations fall into fixed buckets, with their count and sum:
/// latencies, sizes.
#[derive(Debug, Clone, Copy)]
pub struct Histogram(u32);

impl Counter {
    /// Defines the counter `name` (`[a-z][a-z0-9_]*`), with its help text
    /// and the names of its labels; traps if the host refuses it.
    pub fn define(name: &str, help: &str, labels: &[&str]) -> Counter {
        Counter(host::define(name, help, Kind::Counter, labels, &[]))
    }

    /// Adds `amount` (not negative) to the series of `labels`.
    pub fn add(&self, labels: &[&str], amount: f64) {
        host::record(self.0, labels, amount, Operation::Add);
    }

    /// Adds one.
    pub fn increment(&self, labels: &[&str]) {
        self.add(labels, 1.0);
    }
}

impl Gauge {
    /// Defines the gauge `name`, with its help text and label names; traps
    /// if the host refuses it.
    pub fn define(name: &str, help: &str, labels: &[&str]) -> Gauge {
        Gauge(host::define(name, help, Kind::Gauge, labels, &[]))
    }

    /// Sets the series of `labels` to `value`.
    pub fn set(&self, labels: &[&str], value: f64) {
        host::record(self.0, labels, value, Operation::Set);
    }

    /// Adds `amount` (negative: takes away) to the series of `labels`.
    pub fn add(&self, labels: &[&str], amount: f64) {
        host::record(self.0, labels, amount, Operation::Add);
    }
}

impl Histogram {
    /// Defines the histogram `name`, with its help text, label names and
    /// bucket upper bounds (increasing; the host adds `+Inf`); traps if
    /// the host refuses it.
    pub fn define(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> Histogram {
        Histogram(host::define(name, help, Kind::Histogram, labels, buckets))
    }

    /// Counts `value` into the series of `labels`.
    pub fn observe(&self, labels: &[&str], value: f64) {
        host::record(self.0, labels, value, Operation::Observe);
    }
}

#[cfg(target_arch = "wasm32")]
mod host {
    use super::{Kind, Operation};
    use crate::bindings::yell::plugin::metrics;

    pub(super) fn define(
        name: &str,
        help: &str,
        kind: Kind,
        labels: &[&str],
        buckets: &[f64],
    ) -> u32 {
        metrics::define(&metrics::Definition {
            name: name.to_string(),
            help: help.to_string(),
            kind: match kind {
                Kind::Counter => metrics::Kind::Counter,
                Kind::Gauge => metrics::Kind::Gauge,
                Kind::Histogram => metrics::Kind::Histogram,
            },
            labels: labels.iter().map(|label| label.to_string()).collect(),
            buckets: buckets.to_vec(),
        })
    }

    pub(super) fn record(metric: u32, labels: &[&str], value: f64, operation: Operation) {
        let labels: Vec<String> = labels.iter().map(|label| label.to_string()).collect();
        match operation {
            Operation::Add => metrics::add(metric, &labels, value),
            Operation::Set => metrics::set(metric, &labels, value),
            Operation::Observe => metrics::observe(metric, &labels, value),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod host {
    pub(super) use crate::testing::metrics::{define, record};
}
