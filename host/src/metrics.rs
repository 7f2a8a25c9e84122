//! Prometheus metrics: the server's figures in the text exposition format,
//! every metric with its `# HELP`, named by Prometheus's conventions (units
//! in names, `_total` on counters), so `promtool check metrics` passes.
//!
//! Server-wide counters and gauges are the server's own atomics
//! ([`Stats`]), copied into the `metrics` registry when scraped, so metrics
//! add nothing to the per-batch path. Per-plugin series (labelled by plugin
//! name, stable across swaps; the generation is a gauge, never a label) come
//! from the plugins' own figures; only plugin call durations are recorded
//! live, into a `metrics` histogram per plugin (a lock-free append). The
//! format itself is rendered by `metrics-exporter-prometheus`.
//!
//! Owns: the Prometheus recorder and what a scrape renders. Uses: the live pipeline and
//! the stats.

use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::plugin_metrics::{escape_label, PluginMetrics};
use crate::reload::LivePipeline;
use crate::stats::Stats;
use yell_runtime::digest_hex;
use yell_runtime::FailureKind;
use yell_runtime::Pipeline;
use yell_runtime::PLUGIN_CALL_SECONDS;

/// Bucket bounds of [`PLUGIN_CALL_SECONDS`]: 1 µs to past the default
/// wall-clock ceiling of a call (1 s).
const CALL_BUCKETS: [f64; 15] = [
    1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 500e-6, 1e-3, 10e-3, 50e-3, 100e-3, 0.5, 1.0,
    10.0,
];

/// The Prometheus recorder, installed as the process's `metrics` recorder
/// (and every metric described) at the first call; later calls, from a
/// second server in the same process, share it. Call it before plugins are
/// loaded, so their call histograms record.
pub fn install_recorder() -> Result<PrometheusHandle> {
    static INSTALLED: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = INSTALLED.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(PLUGIN_CALL_SECONDS.into()), &CALL_BUCKETS)
        .context("configuring the metrics buckets")?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).context("installing the metrics recorder")?;
    describe();
    Ok(INSTALLED.get_or_init(|| handle).clone())
}

/// The `# HELP` of every metric the registry renders.
fn describe() {
    describe_counter!("yell_connections_total", "Client connections accepted.");
    describe_gauge!("yell_connections_active", "Client connections open now.");
    describe_counter!(
        "yell_connections_refused_total",
        "Client connections refused for being past --max-connections."
    );
    describe_counter!("yell_lines_in_total", "Lines received from clients.");
    describe_counter!(
        "yell_lines_out_total",
        "Lines written to clients: replies, error lines, greetings, last words."
    );
    describe_counter!(
        "yell_bytes_in_total",
        Unit::Bytes,
        "Bytes received from clients."
    );
    describe_counter!(
        "yell_bytes_out_total",
        Unit::Bytes,
        "Bytes written to clients."
    );
    describe_counter!(
        "yell_plugin_errors_total",
        "Failed calls of the plugin chain, by kind of failure."
    );
    describe_counter!(
        "yell_plugin_line_errors_total",
        "Lines a plugin answered with an error of its own."
    );
    describe_counter!(
        "yell_lines_too_long_total",
        "Connections closed for sending a line past --max-line-length."
    );
    describe_counter!(
        "yell_idle_timeouts_total",
        "Connections closed by --idle-timeout."
    );
    describe_counter!(
        "yell_proxy_headers_refused_total",
        "Connections closed for a missing, bad, slow or oversized PROXY protocol header."
    );
    describe_gauge!(
        "yell_plugin_generation",
        "The plugin generation serving: 1 at start, one more per successful reload."
    );
    describe_gauge!(
        "yell_plugin_instances_pooled",
        "Idle plugin instances kept ready, all plugins of the chain serving."
    );
    describe_gauge!(
        "yell_plugin_instances_live",
        "Plugin instances alive, busy or idle, all plugins of the chain serving."
    );
    describe_gauge!(
        "yell_plugin_instance_memory_bytes",
        Unit::Bytes,
        "Linear memory held by all plugin instances."
    );
    describe_counter!(
        "yell_plugin_calls_moved_total",
        "Plugin calls that outlived their inline slice and finished in the slow lane."
    );
    describe_gauge!("yell_slow_lane_threads", "Threads of the slow lane now.");
    describe_counter!(
        "yell_log_lines_dropped_total",
        "Log lines dropped because the log's reader did not keep up."
    );
    describe_counter!(
        "yell_plugin_log_lines_dropped_total",
        "Plugin log lines dropped past --plugin-log-rate, by plugin."
    );
    describe_counter!(
        "yell_plugin_reloads_total",
        "Plugin reloads, by result (ok: a new generation serves; failed: the old one stays)."
    );
    describe_gauge!(
        "yell_uptime_seconds",
        Unit::Seconds,
        "Seconds since the server started."
    );
    describe_counter!("yell_plugin_calls_total", "Calls of each plugin.");
    describe_counter!(
        "yell_plugin_lines_total",
        "Lines each plugin answered in batch calls."
    );
    describe_counter!(
        "yell_plugin_call_failures_total",
        "Failed calls of each plugin, by kind of failure."
    );
    describe_histogram!(
        PLUGIN_CALL_SECONDS,
        Unit::Seconds,
        "Duration of each plugin's calls, slow-lane time included."
    );
}

/// What a scrape reports on.
pub struct Metrics {
    pub handle: PrometheusHandle,
    pub stats: Arc<Stats>,
    pub pipeline: Arc<LivePipeline>,
    /// The metrics plugins defined, rendered after the host's.
    pub plugins: Arc<PluginMetrics>,
}

impl Metrics {
    /// Copies the server's figures into the registry and renders it.
    pub fn render(&self) -> String {
        let summary = self.stats.counters();
        metrics::counter!("yell_connections_total").absolute(summary.connections);
        metrics::gauge!("yell_connections_active").set(summary.connections_active as f64);
        metrics::counter!("yell_connections_refused_total").absolute(summary.connections_refused);
        metrics::counter!("yell_lines_in_total").absolute(summary.lines);
        metrics::counter!("yell_lines_out_total").absolute(summary.lines_out);
        metrics::counter!("yell_bytes_in_total").absolute(summary.bytes_in);
        metrics::counter!("yell_bytes_out_total").absolute(summary.bytes_out);
        for (kind, count) in FailureKind::ALL.iter().zip(summary.plugin_failures) {
            metrics::counter!("yell_plugin_errors_total", "kind" => kind.name()).absolute(count);
        }
        metrics::counter!("yell_plugin_line_errors_total").absolute(summary.line_errors);
        metrics::counter!("yell_lines_too_long_total").absolute(summary.lines_too_long);
        metrics::counter!("yell_idle_timeouts_total").absolute(summary.idle_timeouts);
        metrics::counter!("yell_proxy_headers_refused_total")
            .absolute(summary.proxy_headers_refused);
        let pipeline = self.pipeline.current();
        metrics::gauge!("yell_plugin_generation").set(pipeline.generation() as f64);
        metrics::gauge!("yell_plugin_instances_pooled").set(pipeline.idle_instances() as f64);
        metrics::gauge!("yell_plugin_instances_live").set(pipeline.live_instances() as f64);
        let runtime = self.pipeline.runtime();
        metrics::gauge!("yell_plugin_instance_memory_bytes")
            .set(runtime.instance_memory_bytes() as f64);
        let (moved_calls, slow_lane_threads) = runtime.slow_lane_figures();
        metrics::counter!("yell_plugin_calls_moved_total").absolute(moved_calls);
        metrics::gauge!("yell_slow_lane_threads").set(slow_lane_threads as f64);
        for (plugin, dropped) in runtime.log_lines_dropped() {
            metrics::counter!("yell_plugin_log_lines_dropped_total", "plugin" => plugin.to_string())
                .absolute(dropped);
        }
        for (plugin, usage) in runtime.usages() {
            let name = plugin.to_string();
            metrics::counter!("yell_plugin_calls_total", "plugin" => name.clone())
                .absolute(usage.calls());
            metrics::counter!("yell_plugin_lines_total", "plugin" => name.clone())
                .absolute(usage.lines());
            for (kind, count) in FailureKind::ALL.iter().zip(usage.failures()) {
                metrics::counter!(
                    "yell_plugin_call_failures_total",
                    "plugin" => name.clone(),
                    "kind" => kind.name()
                )
                .absolute(count);
            }
        }
        metrics::counter!("yell_log_lines_dropped_total").absolute(summary.log_lines_dropped);
        // Every successful reload made a generation after the first.
        metrics::counter!("yell_plugin_reloads_total", "result" => "ok")
            .absolute(pipeline.generation() - 1);
        metrics::counter!("yell_plugin_reloads_total", "result" => "failed")
            .absolute(self.pipeline.failed_reloads());
        metrics::gauge!("yell_uptime_seconds").set(summary.uptime.as_secs_f64());
        let mut rendered = self.handle.render();
        rendered.push_str(&plugin_info(&pipeline));
        self.plugins.render(&mut rendered);
        rendered
    }

    /// Drains the histograms' buffered samples; call it every few seconds
    /// (the exporter buffers samples until then).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// `yell_plugin_info`: one series per plugin serving, its content's SHA-256
/// as a label. Rendered from the pipeline at each scrape rather than kept in
/// the registry, so a swapped-out plugin's series goes with it.
fn plugin_info(pipeline: &Pipeline) -> String {
    let mut out = String::from(
        "# HELP yell_plugin_info The plugins serving: name, position in the chain and the SHA-256 of their content.\n# TYPE yell_plugin_info gauge\n",
    );
    for (index, plugin) in pipeline.stages().iter().enumerate() {
        out.push_str(&format!(
            "yell_plugin_info{{plugin=\"{}\",position=\"{}\",sha256=\"{}\"}} 1\n",
            escape_label(plugin.name()),
            index + 1,
            digest_hex(plugin.digest())
        ));
    }
    out
}
