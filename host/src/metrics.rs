//! The Prometheus endpoint (`--metrics-addr`): `GET /metrics` in the text
//! exposition format, `GET /healthz` for liveness.
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

use crate::plugin::Plugin;
use crate::stats::{Stats, PLUGIN_FAILURE_KINDS};

/// The histogram of plugin call durations.
pub const PLUGIN_CALL_SECONDS: &str = "yell_plugin_call_duration_seconds";

/// Bucket bounds of [`PLUGIN_CALL_SECONDS`]: 1 µs to the 100 ms deadline.
const CALL_BUCKETS: [f64; 12] = [
    1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 500e-6, 1e-3, 10e-3, 50e-3, 100e-3,
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
    pub plugin: Arc<Plugin>,
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
        for (kind, count) in PLUGIN_FAILURE_KINDS.iter().zip(summary.plugin_failures) {
            metrics::counter!("yell_plugin_errors_total", "kind" => *kind).absolute(count);
        }
        metrics::counter!("yell_plugin_line_errors_total").absolute(summary.line_errors);
        metrics::counter!("yell_lines_too_long_total").absolute(summary.lines_too_long);
        metrics::counter!("yell_idle_timeouts_total").absolute(summary.idle_timeouts);
        metrics::gauge!("yell_plugin_generation").set(self.plugin.generation() as f64);
        metrics::gauge!("yell_plugin_instances_pooled").set(self.plugin.idle_instances() as f64);
        metrics::gauge!("yell_uptime_seconds").set(summary.uptime.as_secs_f64());
        self.handle.render()
    }
}

/// How long one request may take to arrive and be answered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

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
        (b"GET", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics or /healthz\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
