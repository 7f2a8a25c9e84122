//! The admin endpoint (`--metrics-addr`): `GET /metrics` for Prometheus in
//! the text exposition format, `GET /healthz` for liveness, and
//! `POST /reload` to reload the plugin chain from disk (what `yell-host
//! reload ADDR` sends), answered once the reload is done or has failed.
//!
//! Counters and gauges are the server's own atomics ([`Stats`]), copied into
//! the `metrics` registry when scraped, so serving metrics adds nothing to
//! the per-batch path; only the plugin call duration is recorded live, into
//! a `metrics` histogram (a lock-free append). The exposition format is
//! rendered by `metrics-exporter-prometheus`; the HTTP side is a few lines of
//! tokio, as the endpoint answers two fixed paths.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::plugin::chain::Pipeline;
use crate::plugin::provenance::digest_hex;
use crate::plugin::FailureKind;
use crate::reload::{reload_in_background, LivePipeline, ReloadCause, Reloaded};
use crate::stats::Stats;

/// The histogram of plugin call durations.
pub const PLUGIN_CALL_SECONDS: &str = "yell_plugin_call_duration_seconds";

/// Bucket bounds of [`PLUGIN_CALL_SECONDS`]: 1 µs to past the default
/// wall-clock ceiling of a call (1 s).
const CALL_BUCKETS: [f64; 15] = [
    1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 500e-6, 1e-3, 10e-3, 50e-3, 100e-3, 0.5, 1.0,
    10.0,
];

/// Installs the Prometheus recorder as the process's `metrics` recorder.
/// Call it before creating the [`Stats`] so its histogram handle records.
pub fn install_recorder() -> Result<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(PLUGIN_CALL_SECONDS.into()), &CALL_BUCKETS)
        .context("configuring the metrics buckets")?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).context("installing the metrics recorder")?;
    Ok(handle)
}

/// What the endpoint reports on.
pub struct MetricsEndpoint {
    pub handle: PrometheusHandle,
    pub stats: Arc<Stats>,
    pub pipeline: Arc<LivePipeline>,
}

impl MetricsEndpoint {
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
        let pipeline = self.pipeline.current();
        metrics::gauge!("yell_plugin_generation").set(pipeline.generation() as f64);
        metrics::gauge!("yell_plugin_instances_pooled").set(pipeline.idle_instances() as f64);
        metrics::gauge!("yell_plugin_instances_live").set(pipeline.live_instances() as f64);
        let runtime = self.pipeline.runtime();
        metrics::gauge!("yell_plugin_instance_memory_bytes")
            .set(runtime.instance_memory_bytes() as f64);
        let slow_lane = runtime.slow_lane();
        metrics::counter!("yell_plugin_calls_moved_total").absolute(slow_lane.moved_calls());
        for (plugin, dropped) in runtime.log_lines_dropped() {
            metrics::counter!("yell_plugin_log_lines_dropped_total", "plugin" => plugin.to_string())
                .absolute(dropped);
        }
        metrics::gauge!("yell_slow_lane_threads").set(slow_lane.threads() as f64);
        metrics::counter!("yell_log_lines_dropped_total").absolute(summary.log_lines_dropped);
        // Every successful reload made a generation after the first.
        metrics::counter!("yell_plugin_reloads_total", "result" => "ok")
            .absolute(pipeline.generation() - 1);
        metrics::counter!("yell_plugin_reloads_total", "result" => "failed")
            .absolute(self.pipeline.failed_reloads());
        metrics::gauge!("yell_uptime_seconds").set(summary.uptime.as_secs_f64());
        let mut rendered = self.handle.render();
        rendered.push_str(&plugin_info(&pipeline));
        rendered
    }

    /// The plugins serving, as JSON (`GET /plugins`): what each file is
    /// (its SHA-256) and how it was vouched for.
    pub fn plugins(&self) -> String {
        let pipeline = self.pipeline.current();
        let stages: Vec<serde_json::Value> = pipeline
            .stages()
            .iter()
            .enumerate()
            .map(|(index, plugin)| {
                serde_json::json!({
                    "position": index + 1,
                    "name": plugin.name(),
                    "path": plugin.path().display().to_string(),
                    "sha256": digest_hex(plugin.digest()),
                    "pinned": plugin.provenance().pinned,
                    "signed_by": plugin.provenance().signed_by,
                })
            })
            .collect();
        let body = serde_json::json!({
            "generation": pipeline.generation(),
            "plugins": stages,
        });
        format!("{body:#}\n")
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

/// A Prometheus label value: backslash, double quote and newline escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

/// How long one request may take to arrive and be answered (a reload
/// compiles, which can take seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Binds the endpoint's address (before the server says it listens, so a
/// bad address fails the start).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr}"))
}

/// Answers metrics requests until shutdown, and keeps the histograms
/// drained meanwhile (the exporter buffers samples until then).
pub async fn serve(
    listener: TcpListener,
    endpoint: Arc<MetricsEndpoint>,
    shutdown: CancellationToken,
) {
    let mut upkeep = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = upkeep.tick() => endpoint.handle.run_upkeep(),
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let endpoint = endpoint.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &endpoint)).await;
                });
            }
        }
    }
}

/// Reads one HTTP request head and answers it; the connection is closed
/// after each response.
async fn answer(mut stream: TcpStream, endpoint: &MetricsEndpoint) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    let request_line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = request_line.split(|&b| b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (status, content_type, body) = match (method, path) {
        (b"GET", b"/metrics") => ("200 OK", "text/plain; version=0.0.4", endpoint.render()),
        (b"GET", b"/healthz") => ("200 OK", "text/plain", "ok\n".to_string()),
        (b"GET", b"/plugins") => ("200 OK", "application/json", endpoint.plugins()),
        (b"POST", b"/reload") => {
            match reload_in_background(&endpoint.pipeline, ReloadCause::Command).await {
                Ok(Reloaded::Swapped { generation, took }) => (
                    "200 OK",
                    "text/plain",
                    format!(
                        "reloaded: generation {generation} serving ({}), loaded in {took:.1?}\n",
                        endpoint.pipeline.current().name()
                    ),
                ),
                Ok(Reloaded::Unchanged { generation }) => (
                    "200 OK",
                    "text/plain",
                    format!("unchanged: generation {generation} serving\n"),
                ),
                Err(error) => (
                    "500 Internal Server Error",
                    "text/plain",
                    format!(
                        "reload failed, generation {} keeps serving: {error:#}\n",
                        endpoint.pipeline.generation()
                    ),
                ),
            }
        }
        (b"GET", b"/reload") => (
            "405 Method Not Allowed",
            "text/plain",
            "a reload changes the server: use POST /reload\n".into(),
        ),
        (b"GET" | b"POST", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try GET /metrics, GET /healthz or POST /reload\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET and POST\n".into(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Asks the admin endpoint at `addr` to reload the plugin chain (what
/// `yell-host reload ADDR` does). Returns the server's answer; an error if
/// the reload failed or the server could not be asked.
pub async fn request_reload(addr: SocketAddr) -> Result<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        let request = format!(
            "POST /reload HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .with_context(|| format!("{addr} did not answer in {REQUEST_TIMEOUT:?}"))??;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default();
    if status.split(' ').nth(1) == Some("200") {
        Ok(body.trim_end().to_string())
    } else if status.is_empty() {
        anyhow::bail!("{addr} closed the connection without an answer")
    } else {
        anyhow::bail!("{}", body.trim_end())
    }
}
