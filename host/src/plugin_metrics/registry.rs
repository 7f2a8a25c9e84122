//! The metrics plugins define, and their values: one family per metric
//! name, shared by every plugin that defines it (each series labelled with
//! its plugin) and kept for the life of the process, so the next
//! generation of a plugin carries its series on. Rendered in the
//! Prometheus text format after the host's own metrics.
//!
//! A definition is checked here, once: its name and labels follow
//! Prometheus's conventions (so `promtool check metrics` passes) and do
//! not collide with the host's own `yell_plugin_*` metrics, and a name
//! already defined must be defined the same. Recording into a series
//! takes its family's lock for a moment; a plugin's series are capped, and
//! what cannot be recorded (past the cap, a value its kind refuses) is
//! dropped with one warning per plugin and problem.
//!
//! Owns: [`PluginMetrics`], [`Family`], the definition rules and the
//! rendering. Uses: nothing else of the crate.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A metric as a plugin defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub labels: Vec<String>,
    pub buckets: Vec<f64>,
}

/// What a recording does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Add,
    Set,
    Observe,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Add => "add",
            Operation::Set => "set",
            Operation::Observe => "observe",
        }
    }
}

/// Longest metric name a plugin may define.
pub const MAX_NAME: usize = 64;
/// Longest help text.
pub const MAX_HELP: usize = 512;
/// Most labels of one metric.
pub const MAX_LABELS: usize = 8;
/// Most buckets of a histogram (besides `+Inf`).
pub const MAX_BUCKETS: usize = 32;
/// Longest label value recorded; a longer one records nothing.
pub const MAX_LABEL_VALUE: usize = 128;
/// Series per plugin, by default (`--plugin-metric-series`).
pub const DEFAULT_SERIES_PER_PLUGIN: usize = 1000;

/// The host's own metrics whose names start with `yell_plugin_` (see
/// `metrics`): a plugin's metric must not take one of their names, which
/// would make two families of one name.
const HOST_FAMILIES: [&str; 13] = [
    "yell_plugin_info",
    "yell_plugin_errors_total",
    "yell_plugin_line_errors_total",
    "yell_plugin_generation",
    "yell_plugin_instances_pooled",
    "yell_plugin_instances_live",
    "yell_plugin_instance_memory_bytes",
    "yell_plugin_calls_moved_total",
    "yell_plugin_log_lines_dropped_total",
    "yell_plugin_reloads_total",
    "yell_plugin_calls_total",
    "yell_plugin_lines_total",
    "yell_plugin_call_failures_total",
];
/// The host's histogram of call durations, whose samples are also
/// `_bucket`, `_sum` and `_count`.
const HOST_HISTOGRAM: &str = "yell_plugin_call_duration_seconds";

/// One metric: its definition and its series, by plugin and label values.
pub struct Family {
    /// As first defined (its help text may have changed since).
    definition: Definition,
    help: Mutex<String>,
    /// The family's name on `/metrics`.
    exposed: String,
    series: Mutex<BTreeMap<SeriesKey, Value>>,
}

/// What tells a family's series apart: the plugin, and the label values.
type SeriesKey = (Arc<str>, Vec<String>);

impl Family {
    /// The definition it was made with.
    pub fn definition(&self) -> &Definition {
        &self.definition
    }
}

/// One series' value.
enum Value {
    Number(f64),
    Histogram {
        /// Observations at or below each bucket's bound (not cumulative).
        counts: Vec<u64>,
        /// Observations past the last bound.
        past_last: u64,
        sum: f64,
    },
}

/// Every metric plugins defined in this process.
pub struct PluginMetrics {
    families: Mutex<BTreeMap<String, Arc<Family>>>,
    series_per_plugin: usize,
    /// Series made so far by each plugin, against the cap.
    series_made: Mutex<HashMap<Arc<str>, usize>>,
    /// What has been warned of, once per plugin and problem.
    warned: Mutex<HashSet<(Arc<str>, &'static str)>>,
}

impl PluginMetrics {
    /// A registry capping each plugin at `series_per_plugin` series.
    pub fn new(series_per_plugin: usize) -> PluginMetrics {
        PluginMetrics {
            families: Mutex::default(),
            series_per_plugin,
            series_made: Mutex::default(),
            warned: Mutex::default(),
        }
    }

    /// The family `definition` defines: made now, or the one already
    /// defined under its name if it is defined the same (its help text
    /// then becomes the new one). An error says why the definition is refused.
    pub fn define(&self, plugin: &str, definition: Definition) -> Result<Arc<Family>, String> {
        check_definition(&definition)?;
        let mut families = self.families.lock().expect("plugin metrics lock");
        if let Some(family) = families.get(&definition.name) {
            let had = &family.definition;
            if had.kind != definition.kind
                || had.labels != definition.labels
                || had.buckets != definition.buckets
            {
                return Err(format!(
                    "metric {:?} (plugin {plugin}): already defined as {}, here as {}; a metric keeps its kind, labels and buckets for the life of the process",
                    definition.name,
                    describe(had),
                    describe(&definition)
                ));
            }
            // The same metric (the next generation, say): the series carry
            // on, under the newest help text.
            *family.help.lock().expect("plugin metric lock") = definition.help;
            return Ok(family.clone());
        }
        let family = Arc::new(Family {
            exposed: exposed_name(&definition),
            help: Mutex::new(definition.help.clone()),
            series: Mutex::default(),
            definition,
        });
        families.insert(family.definition.name.clone(), family.clone());
        Ok(family)
    }

    /// Checks a recording of `family` by `operation` with `labels`: an
    /// error is a mistake in the plugin's code (the wrong number of label
    /// values, an operation the kind has not).
    pub fn check_recording(
        family: &Family,
        operation: Operation,
        labels: &[String],
    ) -> Result<(), String> {
        let definition = &family.definition;
        let allowed = match definition.kind {
            Kind::Counter => operation == Operation::Add,
            Kind::Gauge => matches!(operation, Operation::Add | Operation::Set),
            Kind::Histogram => operation == Operation::Observe,
        };
        if !allowed {
            return Err(format!(
                "metric {:?} is a {}: it has no `{}`",
                definition.name,
                definition.kind.name(),
                operation.name()
            ));
        }
        if labels.len() != definition.labels.len() {
            return Err(format!(
                "metric {:?} has {} labels ({}), recorded with {} values",
                definition.name,
                definition.labels.len(),
                definition.labels.join(", "),
                labels.len()
            ));
        }
        Ok(())
    }

    /// Records `value` into `plugin`'s series of `family` with `labels`
    /// (a checked recording). A value the kind refuses, a label value past
    /// [`MAX_LABEL_VALUE`], or a new series past the cap records nothing,
    /// with one warning per plugin and problem.
    pub fn record(
        &self,
        family: &Family,
        plugin: &Arc<str>,
        operation: Operation,
        labels: Vec<String>,
        value: f64,
    ) {
        let definition = &family.definition;
        let refused = match definition.kind {
            Kind::Counter if !(value.is_finite() && value >= 0.0) => {
                Some("a counter added a negative or non-finite amount")
            }
            Kind::Gauge if operation == Operation::Add && !value.is_finite() => {
                Some("a gauge added a non-finite amount")
            }
            Kind::Histogram if value.is_nan() => Some("a histogram observed NaN"),
            _ => None,
        };
        if let Some(problem) = refused {
            return self.warn_once(plugin, problem, &definition.name);
        }
        if labels.iter().any(|value| value.len() > MAX_LABEL_VALUE) {
            return self.warn_once(
                plugin,
                "a label value longer than 128 bytes",
                &definition.name,
            );
        }
        let mut series = family.series.lock().expect("plugin metric lock");
        // One lookup of the series, made when seen the first time.
        let entry = match series.entry((plugin.clone(), labels)) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(vacant) => {
                if !self.make_series(plugin) {
                    drop(series);
                    return self.warn_once(
                        plugin,
                        "more series than --plugin-metric-series allows",
                        &definition.name,
                    );
                }
                vacant.insert(match definition.kind {
                    Kind::Histogram => Value::Histogram {
                        counts: vec![0; definition.buckets.len()],
                        past_last: 0,
                        sum: 0.0,
                    },
                    _ => Value::Number(0.0),
                })
            }
        };
        match entry {
            Value::Number(number) => match operation {
                Operation::Set => *number = value,
                _ => *number += value,
            },
            Value::Histogram {
                counts,
                past_last,
                sum,
            } => {
                match definition.buckets.iter().position(|bound| value <= *bound) {
                    Some(bucket) => counts[bucket] += 1,
                    None => *past_last += 1,
                }
                *sum += value;
            }
        }
    }

    /// Counts a new series of `plugin`; false past the cap.
    fn make_series(&self, plugin: &Arc<str>) -> bool {
        let mut made = self.series_made.lock().expect("plugin metrics lock");
        let count = made.entry(plugin.clone()).or_default();
        if *count >= self.series_per_plugin {
            return false;
        }
        *count += 1;
        true
    }

    fn warn_once(&self, plugin: &Arc<str>, problem: &'static str, metric: &str) {
        let first = self
            .warned
            .lock()
            .expect("plugin metrics lock")
            .insert((plugin.clone(), problem));
        if first {
            tracing::warn!(
                plugin = &**plugin,
                "metric {metric:?}: {problem}: not recorded (said once for this plugin)"
            );
        }
    }

    /// Appends every family with a series to `out`, in the Prometheus text
    /// format.
    pub fn render(&self, out: &mut String) {
        let families: Vec<Arc<Family>> = self
            .families
            .lock()
            .expect("plugin metrics lock")
            .values()
            .cloned()
            .collect();
        for family in families {
            let series = family.series.lock().expect("plugin metric lock");
            if series.is_empty() {
                continue;
            }
            let definition = &family.definition;
            let name = &family.exposed;
            let help = escape_help(&family.help.lock().expect("plugin metric lock"));
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {}", definition.kind.name());
            for ((plugin, values), value) in series.iter() {
                let labels = label_text(plugin, &definition.labels, values);
                match value {
                    Value::Number(number) => {
                        let _ = writeln!(out, "{name}{{{labels}}} {}", number_text(*number));
                    }
                    Value::Histogram {
                        counts,
                        past_last,
                        sum,
                    } => {
                        let mut cumulative = 0;
                        for (bound, count) in definition.buckets.iter().zip(counts) {
                            cumulative += count;
                            let _ = writeln!(
                                out,
                                "{name}_bucket{{{labels},le=\"{}\"}} {cumulative}",
                                number_text(*bound)
                            );
                        }
                        cumulative += past_last;
                        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
                        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", number_text(*sum));
                        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
                    }
                }
            }
        }
    }
}

/// The name on `/metrics`: `yell_plugin_<name>`, a counter's ending in
/// `_total` as Prometheus's conventions want.
fn exposed_name(definition: &Definition) -> String {
    let name = format!("yell_plugin_{}", definition.name);
    match definition.kind {
        Kind::Counter if !name.ends_with("_total") => name + "_total",
        _ => name,
    }
}

fn describe(definition: &Definition) -> String {
    let mut text = format!("a {}", definition.kind.name());
    if !definition.labels.is_empty() {
        let _ = write!(text, " with labels [{}]", definition.labels.join(", "));
    }
    if !definition.buckets.is_empty() {
        let bounds: Vec<String> = definition.buckets.iter().map(|b| b.to_string()).collect();
        let _ = write!(text, " with buckets [{}]", bounds.join(", "));
    }
    text
}

/// Whether `name` is `[a-z][a-z0-9_]*`.
fn is_snake_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The rules a definition must follow, each refusal saying which.
fn check_definition(definition: &Definition) -> Result<(), String> {
    let name = &definition.name;
    let refuse = |why: String| Err(format!("metric {name:?}: {why}"));
    if name.is_empty() || name.len() > MAX_NAME || !is_snake_case(name) {
        return refuse(format!("a name is [a-z][a-z0-9_]*, 1 to {MAX_NAME} bytes"));
    }
    for reserved in ["_count", "_sum", "_bucket"] {
        if name.ends_with(reserved) {
            return refuse(format!(
                "a name must not end in {reserved}, which Prometheus keeps for histograms' samples"
            ));
        }
    }
    if definition.kind != Kind::Counter && name.ends_with("_total") {
        return refuse("only a counter's name may end in _total".into());
    }
    let exposed = exposed_name(definition);
    let host_histogram = [
        HOST_HISTOGRAM.to_string(),
        format!("{HOST_HISTOGRAM}_bucket"),
        format!("{HOST_HISTOGRAM}_sum"),
        format!("{HOST_HISTOGRAM}_count"),
    ];
    let samples_of_this = match definition.kind {
        Kind::Histogram => vec![
            exposed.clone(),
            format!("{exposed}_bucket"),
            format!("{exposed}_sum"),
            format!("{exposed}_count"),
        ],
        _ => vec![exposed.clone()],
    };
    if samples_of_this
        .iter()
        .any(|sample| HOST_FAMILIES.contains(&sample.as_str()) || host_histogram.contains(sample))
    {
        return refuse(format!("{exposed} is one of the host's own metrics"));
    }
    if definition.help.trim().is_empty() {
        return refuse("a metric needs a help text (its # HELP)".into());
    }
    if definition.help.len() > MAX_HELP {
        return refuse(format!("the help text is longer than {MAX_HELP} bytes"));
    }
    if definition.labels.len() > MAX_LABELS {
        return refuse(format!("more than {MAX_LABELS} labels"));
    }
    let mut seen = HashSet::new();
    for label in &definition.labels {
        if label.len() > MAX_NAME || !is_snake_case(label) {
            return refuse(format!(
                "label {label:?}: a label name is [a-z][a-z0-9_]*, 1 to {MAX_NAME} bytes"
            ));
        }
        if matches!(label.as_str(), "plugin" | "le" | "quantile") {
            return refuse(format!(
                "label {label:?} is the host's (plugin) or Prometheus's (le, quantile)"
            ));
        }
        if !seen.insert(label) {
            return refuse(format!("label {label:?} is named twice"));
        }
    }
    match definition.kind {
        Kind::Histogram => {
            if definition.buckets.is_empty() || definition.buckets.len() > MAX_BUCKETS {
                return refuse(format!(
                    "a histogram has 1 to {MAX_BUCKETS} bucket bounds (+Inf is added)"
                ));
            }
            if definition.buckets.iter().any(|bound| !bound.is_finite())
                || definition.buckets.windows(2).any(|pair| pair[0] >= pair[1])
            {
                return refuse("bucket bounds must be finite and increasing".into());
            }
        }
        _ if !definition.buckets.is_empty() => {
            return refuse(format!("a {} has no buckets", definition.kind.name()));
        }
        _ => {}
    }
    Ok(())
}

/// The labels of one series: the plugin's, then the definition's.
fn label_text(plugin: &str, names: &[String], values: &[String]) -> String {
    let mut text = format!("plugin=\"{}\"", escape_label(plugin));
    for (name, value) in names.iter().zip(values) {
        let _ = write!(text, ",{name}=\"{}\"", escape_label(value));
    }
    text
}

/// A label value as the text format wants it: `\`, `"` and newlines
/// escaped.
pub fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A help text as the text format wants it, on one line: `\` and
/// newlines escaped (and other control characters left out).
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// A sample value in the text format (`+Inf`, `-Inf`, `NaN` as it spells
/// them).
fn number_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(name: &str, labels: &[&str]) -> Definition {
        Definition {
            name: name.into(),
            help: "Things counted.".into(),
            kind: Kind::Counter,
            labels: labels.iter().map(|label| label.to_string()).collect(),
            buckets: Vec::new(),
        }
    }

    fn rendered(metrics: &PluginMetrics) -> String {
        let mut out = String::new();
        metrics.render(&mut out);
        out
    }

    #[test]
    fn a_counter_renders_with_total_and_the_plugin_label() {
        let metrics = PluginMetrics::new(10);
        let family = metrics.define("tally", counter("hits", &["verb"])).unwrap();
        let plugin: Arc<str> = "tally".into();
        metrics.record(&family, &plugin, Operation::Add, vec!["get".into()], 2.0);
        metrics.record(&family, &plugin, Operation::Add, vec!["get".into()], 1.0);
        assert_eq!(
            rendered(&metrics),
            "# HELP yell_plugin_hits_total Things counted.\n# TYPE yell_plugin_hits_total counter\nyell_plugin_hits_total{plugin=\"tally\",verb=\"get\"} 3\n"
        );
    }

    #[test]
    fn a_histogram_renders_cumulative_buckets_sum_and_count() {
        let metrics = PluginMetrics::new(10);
        let definition = Definition {
            name: "size_bytes".into(),
            help: "Line sizes.".into(),
            kind: Kind::Histogram,
            labels: Vec::new(),
            buckets: vec![1.0, 10.0],
        };
        let family = metrics.define("p", definition).unwrap();
        let plugin: Arc<str> = "p".into();
        for value in [0.5, 5.0, 5.0, 100.0] {
            metrics.record(&family, &plugin, Operation::Observe, Vec::new(), value);
        }
        let text = rendered(&metrics);
        assert!(text.contains("yell_plugin_size_bytes_bucket{plugin=\"p\",le=\"1\"} 1\n"));
        assert!(text.contains("yell_plugin_size_bytes_bucket{plugin=\"p\",le=\"10\"} 3\n"));
        assert!(text.contains("yell_plugin_size_bytes_bucket{plugin=\"p\",le=\"+Inf\"} 4\n"));
        assert!(text.contains("yell_plugin_size_bytes_sum{plugin=\"p\"} 110.5\n"));
        assert!(text.contains("yell_plugin_size_bytes_count{plugin=\"p\"} 4\n"));
    }

    #[test]
    fn a_name_keeps_its_kind_labels_and_buckets_and_its_series() {
        let metrics = PluginMetrics::new(10);
        let first = metrics.define("a", counter("hits", &[])).unwrap();
        let plugin: Arc<str> = "a".into();
        metrics.record(&first, &plugin, Operation::Add, Vec::new(), 5.0);
        let mut gauge = counter("hits", &[]);
        gauge.kind = Kind::Gauge;
        let refused = metrics.define("a", gauge).err().unwrap();
        assert!(
            refused.contains("already defined as a counter, here as a gauge"),
            "{refused}"
        );
        let relabelled = metrics
            .define("a", counter("hits", &["verb"]))
            .err()
            .unwrap();
        assert!(relabelled.contains("with labels [verb]"), "{relabelled}");
        // The next generation, with a new help text: the series carries on.
        let mut again = counter("hits", &[]);
        again.help = "Hits, counted.".into();
        let second = metrics.define("a", again).unwrap();
        metrics.record(&second, &plugin, Operation::Add, Vec::new(), 1.0);
        let text = rendered(&metrics);
        assert!(
            text.contains("# HELP yell_plugin_hits_total Hits, counted.\n"),
            "{text}"
        );
        assert!(
            text.contains("yell_plugin_hits_total{plugin=\"a\"} 6\n"),
            "{text}"
        );
    }

    #[test]
    fn definitions_follow_prometheus_and_stay_off_the_hosts_names() {
        let metrics = PluginMetrics::new(10);
        let refused = |definition: Definition| metrics.define("p", definition).err().unwrap();
        assert!(refused(counter("Hits", &[])).contains("[a-z][a-z0-9_]*"));
        assert!(refused(counter("", &[])).contains("[a-z][a-z0-9_]*"));
        assert!(refused(counter("hits_count", &[])).contains("_count"));
        assert!(refused(counter("calls", &[])).contains("host's own"));
        assert!(refused(counter("calls_total", &[])).contains("host's own"));
        assert!(refused(counter("hits", &["plugin"])).contains("host's"));
        assert!(refused(counter("hits", &["a", "a"])).contains("twice"));
        assert!(refused(counter("hits", &["Verb"])).contains("label"));
        let mut gauge = counter("depth_total", &[]);
        gauge.kind = Kind::Gauge;
        assert!(refused(gauge).contains("_total"));
        let mut histogram = counter("call_duration", &[]);
        histogram.kind = Kind::Histogram;
        histogram.buckets = vec![0.1];
        assert!(
            metrics.define("p", histogram.clone()).is_ok(),
            "yell_plugin_call_duration is no host name"
        );
        histogram.name = "call_duration_seconds".into();
        assert!(refused(histogram.clone()).contains("host's own"));
        histogram.name = "latency".into();
        histogram.buckets = vec![1.0, 1.0];
        assert!(refused(histogram.clone()).contains("increasing"));
        histogram.buckets = Vec::new();
        assert!(refused(histogram).contains("bucket"));
        let mut no_help = counter("hits", &[]);
        no_help.help = " ".into();
        assert!(refused(no_help).contains("help"));
    }

    #[test]
    fn recordings_check_their_kind_and_labels() {
        let metrics = PluginMetrics::new(10);
        let family = metrics.define("p", counter("hits", &["verb"])).unwrap();
        let set = PluginMetrics::check_recording(&family, Operation::Set, &["a".into()]);
        assert!(set.unwrap_err().contains("is a counter: it has no `set`"));
        let labels = PluginMetrics::check_recording(&family, Operation::Add, &[]);
        assert!(labels
            .unwrap_err()
            .contains("has 1 labels (verb), recorded with 0"));
    }

    #[test]
    fn values_a_kind_refuses_and_series_past_the_cap_record_nothing() {
        let metrics = PluginMetrics::new(2);
        let family = metrics.define("p", counter("hits", &["who"])).unwrap();
        let plugin: Arc<str> = "p".into();
        metrics.record(&family, &plugin, Operation::Add, vec!["a".into()], -1.0);
        metrics.record(&family, &plugin, Operation::Add, vec!["a".into()], f64::NAN);
        metrics.record(&family, &plugin, Operation::Add, vec!["x".repeat(129)], 1.0);
        for who in ["a", "b", "c", "a"] {
            metrics.record(&family, &plugin, Operation::Add, vec![who.into()], 1.0);
        }
        let text = rendered(&metrics);
        assert!(text.contains("who=\"a\"} 2\n"), "{text}");
        assert!(text.contains("who=\"b\"} 1\n"), "{text}");
        assert!(!text.contains("who=\"c\""), "{text}");
        // Another plugin has a cap of its own.
        let other: Arc<str> = "q".into();
        metrics.record(&family, &other, Operation::Add, vec!["c".into()], 1.0);
        assert!(rendered(&metrics).contains("plugin=\"q\",who=\"c\"} 1\n"));
    }

    #[test]
    fn a_label_value_escapes_backslash_quote_and_newline() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("a\nb"), r"a\nb");
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let metrics = PluginMetrics::new(10);
        let mut definition = counter("hits", &["who"]);
        definition.help = "A \\ and\na newline".into();
        let family = metrics.define("p", definition).unwrap();
        let plugin: Arc<str> = "p".into();
        metrics.record(
            &family,
            &plugin,
            Operation::Add,
            vec!["a\"b\\c\nd".into()],
            1.0,
        );
        let text = rendered(&metrics);
        assert!(
            text.contains("# HELP yell_plugin_hits_total A \\\\ and\\na newline\n"),
            "{text}"
        );
        assert!(text.contains("who=\"a\\\"b\\\\c\\nd\"} 1\n"), "{text}");
    }

    #[test]
    fn gauges_set_and_add() {
        let metrics = PluginMetrics::new(10);
        let mut definition = counter("depth", &[]);
        definition.kind = Kind::Gauge;
        let family = metrics.define("p", definition).unwrap();
        let plugin: Arc<str> = "p".into();
        metrics.record(&family, &plugin, Operation::Set, Vec::new(), 10.0);
        metrics.record(&family, &plugin, Operation::Add, Vec::new(), -2.5);
        assert!(rendered(&metrics).contains("yell_plugin_depth{plugin=\"p\"} 7.5\n"));
        metrics.record(&family, &plugin, Operation::Set, Vec::new(), f64::INFINITY);
        assert!(rendered(&metrics).contains("yell_plugin_depth{plugin=\"p\"} +Inf\n"));
    }
}
