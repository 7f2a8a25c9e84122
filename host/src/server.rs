//! The server as a library function: [`run`] takes a plain
//! [`ServerConfig`] and a shutdown future, and does what serving means —
//! loads the plugin chain, binds, reloads on file changes and `SIGHUP`,
//! serves the admin endpoint and the stats line, and drains on shutdown —
//! returning the final figures.
//!
//! Owns: [`run`], [`Server`] and [`ServerConfig`]. Uses: every part of serving.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use yell_runtime::{
    CompileCache, Framing, LineFramer, PluginLimits, PluginRuntime, PluginSpec, TrustPolicy,
};

use crate::admin::{self, Admin, AdminConfig};
use crate::connection::ConnectionContext;
use crate::error_policy::ErrorPolicy;
use crate::keyvalue::StateConfig;
use crate::listener::{ListenOn, Listener};
use crate::metrics::{self, Metrics};
use crate::plugin_imports::host_imports;
use crate::plugin_metrics::PluginMetrics;
use crate::reload::registry_poll::poll_registry_tags;
use crate::reload::watch::watch_plugin_files;
use crate::reload::{LivePipeline, ReloadCause, Reloads};
use crate::stats::report::report_periodically;
use crate::stats::{Stats, Summary};

/// Everything [`run`] needs, checked and resolved (plugin paths located,
/// keys read): what the command line turns into.
#[derive(Debug)]
pub struct ServerConfig {
    /// Where clients connect: an address (port 0: any free port, printed
    /// at start) or an inherited socket.
    pub listen: ListenOn,
    /// The plugin chain, in order.
    pub plugins: Vec<PluginSpec>,
    /// What a plugin file must prove before it loads.
    pub trust: TrustPolicy,
    pub limits: PluginLimits,
    /// Where compiled plugins are kept; `None` compiles at every load.
    pub compile_cache: Option<PathBuf>,
    pub framing: Framing,
    /// Longest line accepted, without its ending.
    pub max_line_length: usize,
    /// How long a connection may complete no line; `None`: forever.
    pub idle_timeout: Option<Duration>,
    /// What a plugin failure does to a connection.
    pub on_plugin_error: ErrorPolicy,
    /// Connections served at once; more are refused.
    pub max_connections: u64,
    /// Reload when plugin files change, with this debounce; `None`: no watch.
    pub watch: Option<Duration>,
    /// How often to log the stats line; `None`: never.
    pub stats_interval: Option<Duration>,
    /// The admin endpoint (metrics, health, reload); `None`: off.
    pub admin: Option<AdminConfig>,
    /// After the shutdown signal: how long to go on serving and accepting
    /// while reporting not-ready, so that load balancers' health checks
    /// notice before connections are closed.
    pub drain_grace: Duration,
    /// After the shutdown signal: how long in all until the process gives
    /// up on connections that have not finished (grace included).
    pub drain_timeout: Duration,
    /// Expect a PROXY protocol header (v1 or v2) on every connection,
    /// within this long; `None`: none expected.
    pub proxy_header_timeout: Option<Duration>,
    /// Plugin state: the backend, its limits, the buckets granted.
    pub state: StateConfig,
    /// Series each plugin may make of the metrics it defines.
    pub plugin_metric_series: usize,
    /// How plugins given as `oci://` references are pulled.
    pub registry: crate::oci::RegistryConfig,
    /// How often tag references are looked up (`--oci-poll`); `None`: only
    /// at a reload.
    pub oci_poll: Option<Duration>,
}

/// Serves until `shutdown` completes, then drains: stops accepting, lets
/// connections finish what they sent (a bounded time), and returns the
/// final figures. Fails before anything listens if a plugin does not load
/// or an address cannot be bound.
///
/// Prints `yell-host listening on ADDR ...` (and, with an admin endpoint,
/// `yell-host metrics on http://ADDR/metrics`) once it accepts
/// connections: scripts read the port from it.
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Summary> {
    let server = Server::bind(config).await?;
    println!("{}", server.listening_line());
    if let Some(admin_addr) = server.admin_addr() {
        println!("yell-host metrics on http://{admin_addr}/metrics");
    }
    server.serve(shutdown).await
}

/// A server with its plugins loaded and its addresses bound, not yet
/// serving: [`run`] in two steps, for an embedder (or a test) that needs
/// the addresses before connecting, such as one that listens on port 0.
pub struct Server {
    listener: Listener,
    addr: SocketAddr,
    admin: Option<(tokio::net::TcpListener, Arc<Admin>, AdminConfig)>,
    admin_addr: Option<SocketAddr>,
    pipeline: Arc<LivePipeline>,
    reloads: Arc<Reloads>,
    stats: Arc<Stats>,
    hangup: tokio::signal::unix::Signal,
    draining: CancellationToken,
    closing: CancellationToken,
    framing: Framing,
    stats_interval: Option<Duration>,
    drain_grace: Duration,
    drain_timeout: Duration,
}

impl Server {
    /// Loads the plugin chain and binds the addresses of `config`; the
    /// plugin files are watched from here on (with `config.watch`), so a
    /// change made once this returns is seen.
    pub async fn bind(config: ServerConfig) -> Result<Server> {
        raise_open_file_limit();
        // Installed before plugins load, so their call histograms record.
        let recorder = match &config.admin {
            Some(_) => Some(metrics::install_recorder()?),
            None => None,
        };
        let cache = config.compile_cache.as_deref().and_then(|dir| {
            // A cache that cannot be opened costs only compile time.
            CompileCache::open(dir)
                .map_err(|error| tracing::warn!("compiling plugins without a cache: {error:#}"))
                .ok()
        });
        // The state store, opened before anything listens; an embedded
        // file another process holds is waited for within the drain
        // timeout (the old process of an upgrade lets go by then).
        let store = config.state.open(config.drain_timeout).await?;
        let plugin_metrics = Arc::new(PluginMetrics::new(config.plugin_metric_series));
        let imports = host_imports(store, config.state.grants.clone(), plugin_metrics.clone());
        let signed = !config.trust.trusted_keys.is_empty();
        let sources = crate::oci::PluginSources::for_registry(config.registry, signed)?;
        let registry = sources.registry().clone();
        let runtime = PluginRuntime::with_imports(config.limits, cache, config.trust, imports)?
            .with_sources(sources);
        if recorder.is_some() {
            runtime.time_calls();
        }
        let pipeline = Arc::new(LivePipeline::load(runtime, config.plugins)?);
        let reloads = Reloads::new(pipeline.clone());
        let stats = Arc::new(Stats::default());

        // The drain, in the order load balancers need: at the signal,
        // `draining` (readiness turns off, serving goes on); after the grace,
        // `closing` (no more accepts; connections answer what they read, say
        // their last words and close cleanly).
        let draining = CancellationToken::new();
        let closing = CancellationToken::new();
        let context = ConnectionContext {
            pipeline: pipeline.clone(),
            framing: config.framing,
            framer: LineFramer::new(config.max_line_length),
            on_plugin_error: config.on_plugin_error,
            idle_timeout: config.idle_timeout,
            proxy_header_timeout: config.proxy_header_timeout,
            stats: stats.clone(),
            shutdown: closing.clone(),
        };
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("listening for SIGHUP")?;
        let listener = Listener::bind(config.listen, context, config.max_connections).await?;
        let addr = listener.local_addr()?;
        let admin = match (config.admin, recorder) {
            (Some(admin_config), Some(handle)) => {
                let admin_listener = admin::bind(&admin_config).await?;
                let admin = Arc::new(Admin {
                    metrics: Metrics {
                        handle,
                        stats: stats.clone(),
                        pipeline: pipeline.clone(),
                        plugins: plugin_metrics,
                    },
                    reloads: reloads.clone(),
                    draining: draining.clone(),
                    token: admin_config.token.clone(),
                    buckets: config.state.grants.clone(),
                });
                Some((admin_listener, admin, admin_config))
            }
            _ => None,
        };
        if let Some(debounce) = config.watch {
            // Serving does not depend on the watch: without it, SIGHUP and
            // `yell-host reload` still reload.
            if let Err(error) = watch_plugin_files(reloads.clone(), debounce, draining.clone()) {
                tracing::warn!("plugin files will not be reloaded on change: {error:#}");
            }
        }
        if let Some(every) = config.oci_poll {
            poll_registry_tags(reloads.clone(), registry, every, draining.clone());
        }
        let admin_addr = match &admin {
            Some((admin_listener, _, _)) => Some(admin_listener.local_addr()?),
            None => None,
        };
        Ok(Server {
            listener,
            addr,
            admin,
            admin_addr,
            pipeline,
            reloads,
            stats,
            hangup,
            draining,
            closing,
            framing: config.framing,
            stats_interval: config.stats_interval,
            drain_grace: config.drain_grace,
            drain_timeout: config.drain_timeout,
        })
    }

    /// Where clients connect (the port chosen, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the admin endpoint listens, if there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// `yell-host listening on ADDR (plugin P → Q, framing F)`: the line
    /// [`run`] prints, and scripts read the port from.
    pub fn listening_line(&self) -> String {
        let plugin_paths: Vec<String> = self
            .pipeline
            .specs()
            .iter()
            .map(|spec| spec.path.display().to_string())
            .collect();
        format!(
            "yell-host listening on {} (plugin {}, framing {})",
            self.local_addr(),
            plugin_paths.join(" → "),
            self.framing.name()
        )
    }

    /// Serves until `shutdown` completes, then drains (see [`run`]).
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Summary> {
        let Server {
            listener,
            addr: _,
            admin,
            admin_addr: _,
            pipeline: _,
            reloads,
            stats,
            hangup,
            draining,
            closing,
            framing: _,
            stats_interval,
            drain_grace,
            drain_timeout,
        } = self;
        // The admin endpoint outlives the drain, so readiness can say so.
        let admin_stop = CancellationToken::new();
        if let Some((admin_listener, admin, admin_config)) = admin {
            tokio::spawn(admin::serve(
                admin_listener,
                admin,
                admin_config,
                admin_stop.clone(),
            ));
        }
        if let Some(interval) = stats_interval {
            tokio::spawn(report_periodically(stats, interval, draining.clone()));
        }
        tokio::spawn(reload_on_hangup(hangup, reloads, draining.clone()));
        let signalled = Arc::new(std::sync::OnceLock::new());
        tokio::spawn({
            let signalled = signalled.clone();
            async move {
                shutdown.await;
                let _ = signalled.set(tokio::time::Instant::now());
                draining.cancel();
                if !drain_grace.is_zero() {
                    tracing::info!(
                        "draining: not ready; serving for {} more before closing connections",
                        humantime::format_duration(drain_grace)
                    );
                    tokio::time::sleep(drain_grace).await;
                }
                closing.cancel();
            }
        });
        // What is left of the drain timeout once accepting stops.
        let summary = listener
            .run(move || {
                let since_signal = signalled
                    .get()
                    .map_or(Duration::ZERO, |signalled| signalled.elapsed());
                drain_timeout.saturating_sub(since_signal)
            })
            .await;
        admin_stop.cancel();
        Ok(summary)
    }
}

/// Reloads every plugin from disk at each SIGHUP, until the drain begins.
async fn reload_on_hangup(
    mut hangup: tokio::signal::unix::Signal,
    reloads: Arc<Reloads>,
    draining: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = draining.cancelled() => return,
            signal = hangup.recv() => {
                if signal.is_none() {
                    return;
                }
                // Errors are logged by the reload, and the old plugins serve on.
                let _ = reloads.request(ReloadCause::Signal).await;
            }
        }
    }
}

/// A future that completes at the first Ctrl-C (SIGINT) or SIGTERM. The
/// signals are listened for from this call on, so call it before
/// [`run`]: a signal sent right after the listening line is not missed.
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!("{name}: shutting down");
    })
}

/// Raises this process's soft limit on open files as far as it may go (to
/// the hard limit, or the system's maximum where the hard limit is
/// unlimited, as on macOS): each connection is a file descriptor, and the
/// usual soft limit of 1024 would refuse connections long before
/// `--max-connections`.
pub fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!("open file limit: {limit}"),
        Err(error) => tracing::debug!("could not raise the open file limit: {error}"),
    }
}
