//! The admin endpoint (`--metrics-addr`), HTTP/1.1 on hyper:
//!
//! | request | answer |
//! |---|---|
//! | `GET`/`HEAD /metrics` | Prometheus text format ([`crate::metrics`]) |
//! | `GET /healthz` | liveness: 200 while the server serves |
//! | `GET /readyz` | readiness: 200 when bound with a plugin generation serving, 503 once draining |
//! | `GET /plugins` | the plugins serving, with their SHA-256 (JSON) |
//! | `POST /reload` | reloads the plugins, answers with the outcome ([`access`] says who may) |
//!
//! Query strings are ignored. An admin connection carries one request; it
//! must send its request head within the header timeout, and at most
//! `max_connections` are served at once (more are closed at once), so
//! neither slow nor many idle connections take the process's file
//! descriptors from the data plane. A failing accept (out of file
//! descriptors) backs off instead of spinning.
//!
//! Owns: serving the admin endpoint, [`Admin`], [`AdminConfig`], [`AdminToken`]. Uses: its
//! access checks, the metrics and the reload queue.

pub mod access;
pub mod client;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::keyvalue::BucketGrants;
use crate::metrics::Metrics;
use crate::reload::{ReloadCause, Reloaded, Reloads};
pub use access::AdminToken;
use yell_runtime::digest_hex;

/// How the admin endpoint is served.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub addr: SocketAddr,
    /// Needed by `POST /reload` when set; required off loopback.
    pub token: Option<AdminToken>,
    /// Admin connections served at once.
    pub max_connections: usize,
    /// How long a connection may take to send its request head.
    pub header_timeout: Duration,
}

impl AdminConfig {
    /// Admin connections served at once, by default: plenty for scrapers
    /// and operators, a trifle of the process's file descriptors.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

    /// The endpoint on `addr`, with the default limits.
    pub fn new(addr: SocketAddr, token: Option<AdminToken>) -> AdminConfig {
        AdminConfig {
            addr,
            token,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            header_timeout: Self::DEFAULT_HEADER_TIMEOUT,
        }
    }
}

/// The longest an admin connection lives: a reload compiles, which can
/// take seconds; a client reading its answer slowly is cut off here.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// Waits after a failed accept, doubling up to the most.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// What the endpoint answers from.
pub struct Admin {
    pub metrics: Metrics,
    pub reloads: Arc<Reloads>,
    /// Cancelled when the server starts draining: not ready any more.
    pub draining: CancellationToken,
    pub token: Option<AdminToken>,
    /// The state buckets granted, shown with each plugin.
    pub buckets: BucketGrants,
}

/// Binds the endpoint's address; refuses an address others can reach
/// without a token (before anything listens).
pub async fn bind(config: &AdminConfig) -> Result<TcpListener> {
    access::check_exposure(config.addr, config.token.as_ref())?;
    TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen for the admin endpoint on {}", config.addr))
}

/// Serves the endpoint until `stop` is cancelled, and keeps the metrics'
/// histograms drained meanwhile.
pub async fn serve(
    listener: TcpListener,
    admin: Arc<Admin>,
    config: AdminConfig,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let mut upkeep = tokio::time::interval(Duration::from_secs(5));
    let mut backoff = ACCEPT_BACKOFF.0;
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            _ = upkeep.tick() => {
                admin.metrics.upkeep();
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = ACCEPT_BACKOFF.0;
                match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        tokio::spawn(serve_connection(
                            stream,
                            admin.clone(),
                            config.header_timeout,
                            slot,
                        ));
                    }
                    // Closed at once: the slot holders are served first.
                    Err(_) => tracing::debug!(%peer, "admin connection refused: too many open"),
                }
            }
            Err(error) => {
                // Out of file descriptors, say: each retry would fail the
                // same way until one is freed, so wait instead of spinning.
                tracing::warn!(%error, "admin endpoint: accept failed; retrying in {backoff:?}");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
            }
        }
    }
}

/// One admin connection: one request, then closed.
async fn serve_connection(
    stream: TcpStream,
    admin: Arc<Admin>,
    header_timeout: Duration,
    _slot: OwnedSemaphorePermit,
) {
    let service = service_fn(move |request| {
        let admin = admin.clone();
        async move { Ok::<_, Infallible>(admin.answer(request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
        Ok(Err(error)) => tracing::debug!("admin connection: {error}"),
        Err(_) => tracing::debug!("admin connection cut after {CONNECTION_LIFETIME:?}"),
        Ok(Ok(())) => {}
    }
}

type Answer = Response<Full<Bytes>>;

impl Admin {
    async fn answer(&self, request: Request<Incoming>) -> Answer {
        let authority = request
            .uri()
            .authority()
            .map(|authority| authority.as_str());
        if let Err(refused) = access::check_host(request.headers(), authority, self.token.as_ref())
        {
            return plain(refused.status, format!("{}\n", refused.why));
        }
        let method = request.method().clone();
        let read = method == Method::GET || method == Method::HEAD;
        // `path()` leaves the query string out: `/metrics?x=1` is /metrics.
        match request.uri().path() {
            "/metrics" if read => text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics.render(),
            ),
            "/healthz" if read => plain(StatusCode::OK, "ok\n".into()),
            "/readyz" if read => self.readiness(),
            "/plugins" if read => text(StatusCode::OK, "application/json", self.plugins()),
            "/reload" if method == Method::POST => self.reload(&request).await,
            "/metrics" | "/healthz" | "/readyz" | "/plugins" => not_allowed(
                "GET, HEAD",
                format!("{method} is not allowed here: use GET\n"),
            ),
            "/reload" => not_allowed(
                "POST",
                "a reload changes the server: use POST /reload\n".into(),
            ),
            _ => plain(
                StatusCode::NOT_FOUND,
                "not found: try GET /metrics, /healthz, /readyz, /plugins or POST /reload\n".into(),
            ),
        }
    }

    /// Ready while a generation serves and the server is not draining.
    fn readiness(&self) -> Answer {
        if self.draining.is_cancelled() {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: draining\n".into(),
            );
        }
        let generation = self.reloads.live().generation();
        plain(
            StatusCode::OK,
            format!("ready: plugin generation {generation} serving\n"),
        )
    }

    /// The plugins serving, as JSON: what each file is (its SHA-256) and
    /// how it was vouched for.
    fn plugins(&self) -> String {
        let pipeline = self.reloads.live().current();
        let stages: Vec<serde_json::Value> = pipeline
            .stages()
            .iter()
            .enumerate()
            .map(|(index, plugin)| {
                serde_json::json!({
                    "position": index + 1,
                    "name": plugin.name(),
                    "path": plugin.origin(),
                    "sha256": digest_hex(plugin.digest()),
                    "pinned": plugin.provenance().pinned,
                    "signed_by": plugin.provenance().signed_by,
                    "buckets": self.buckets.for_plugin(plugin.name()),
                })
            })
            .collect();
        let body = serde_json::json!({
            "generation": pipeline.generation(),
            "plugins": stages,
        });
        format!("{body:#}\n")
    }

    async fn reload(&self, request: &Request<Incoming>) -> Answer {
        if let Err(refused) = access::check_change(request.headers(), self.token.as_ref()) {
            let mut answer = plain(refused.status, format!("{}\n", refused.why));
            if refused.status == StatusCode::UNAUTHORIZED {
                answer
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            return answer;
        }
        match self.reloads.request(ReloadCause::Command).await {
            Ok(Reloaded::Swapped { generation, took }) => plain(
                StatusCode::OK,
                format!(
                    "reloaded: generation {generation} serving ({}), loaded in {took:.1?}\n",
                    self.reloads.live().current().name()
                ),
            ),
            Ok(Reloaded::Unchanged { generation }) => plain(
                StatusCode::OK,
                format!("unchanged: generation {generation} serving\n"),
            ),
            Err(error) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "reload failed, generation {} keeps serving: {error}\n",
                    self.reloads.live().generation()
                ),
            ),
        }
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    answer
}

fn plain(status: StatusCode, body: String) -> Answer {
    text(status, "text/plain; charset=utf-8", body)
}

fn not_allowed(allow: &'static str, body: String) -> Answer {
    let mut answer = plain(StatusCode::METHOD_NOT_ALLOWED, body);
    answer
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    answer
}
