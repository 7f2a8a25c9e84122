//! A server in the test's own process, built from the library's config
//! types: for tests that talk bytes and need no process of their own.
//!
//! The configuration starts as the real command line would make it (so
//! the defaults are the binary's, not a copy of them) and the builder's
//! setters change typed fields of [`ServerConfig`]. The server runs on a
//! tokio runtime of its own, on its own threads, so the test talks to it
//! with plain blocking sockets. What a server sets for its whole process
//! (the metrics recorder, the open-file limit) is per test process: the
//! suite runs under cargo-nextest, one process per test.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use clap::Parser;
use yell_host::cli::Cli;
use yell_host::error_policy::ErrorPolicy;
use yell_host::server::{Server, ServerConfig};
use yell_host::stats::Summary;
use yell_runtime::{Framing, PluginSpec};

use super::net::{connect, Endpoint, STEP_TIMEOUT};
use super::paths::{compile_cache, plugin_dir};

/// Builds the configuration of a server in this process.
pub struct ServerBuilder {
    config: ServerConfig,
}

impl ServerBuilder {
    /// What `yell-host --listen 127.0.0.1:0` would serve (the uppercase
    /// plugin), on the tests' compile cache.
    pub fn new() -> Self {
        Self::from_args(&[])
    }

    /// What `yell-host --listen 127.0.0.1:0 ARGS` would serve, with bare
    /// plugin names looked up where `just build-plugins` puts them, on the
    /// tests' compile cache.
    pub fn from_args(args: &[&str]) -> Self {
        let plugin_dir = plugin_dir();
        let plugin_dir = plugin_dir.to_str().expect("a UTF-8 path");
        let command_line = [
            "yell-host",
            "--listen",
            "127.0.0.1:0",
            "--plugin-dir",
            plugin_dir,
        ]
        .into_iter()
        .chain(args.iter().copied());
        let cli = Cli::try_parse_from(command_line).unwrap_or_else(|error| panic!("{error}"));
        let mut config = cli
            .serve
            .config(None)
            .unwrap_or_else(|error| panic!("a server configuration: {error:#}"));
        config.compile_cache = Some(compile_cache());
        ServerBuilder { config }
    }

    /// Serves through the one plugin file `path`.
    pub fn plugin(self, path: impl Into<PathBuf>) -> Self {
        self.chain([path])
    }

    /// Serves through the plugin files `paths`, in order.
    pub fn chain<P: Into<PathBuf>>(mut self, paths: impl IntoIterator<Item = P>) -> Self {
        self.config.plugins = paths
            .into_iter()
            .map(|path| PluginSpec::new(path.into()))
            .collect();
        self
    }

    /// How bytes become lines.
    pub fn framing(mut self, framing: Framing) -> Self {
        self.config.framing = framing;
        self
    }

    /// The longest line accepted, without its ending.
    pub fn max_line_length(mut self, bytes: usize) -> Self {
        self.config.max_line_length = bytes;
        self
    }

    /// What a plugin failure does to a connection.
    pub fn on_plugin_error(mut self, policy: ErrorPolicy) -> Self {
        self.config.on_plugin_error = policy;
        self
    }

    /// Any other change to the configuration.
    pub fn configure(mut self, change: impl FnOnce(&mut ServerConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// Starts the server and waits until it listens; panics if it cannot.
    pub fn start(self) -> InProcessServer {
        self.try_start()
            .unwrap_or_else(|error| panic!("the server did not start: {error:#}"))
    }

    /// Starts the server and waits until it listens, or returns why it
    /// could not (what the binary would print before exiting with 1).
    pub fn try_start(self) -> anyhow::Result<InProcessServer> {
        log_to_the_test();
        let (listening, addresses) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let server = match Server::bind(self.config).await {
                    Ok(server) => server,
                    Err(error) => {
                        let message = format!("{error:#}");
                        let _ = listening.send(Err(error));
                        anyhow::bail!("{message}");
                    }
                };
                let _ = listening.send(Ok((server.local_addr(), server.admin_addr())));
                server
                    .serve(async move {
                        // A dropped sender stops the server too.
                        let _ = stopped.await;
                    })
                    .await
            })
        });
        let (addr, admin_addr) = addresses
            .recv_timeout(STEP_TIMEOUT)
            .expect("the server neither listened nor failed")?;
        Ok(InProcessServer {
            addr,
            admin_addr,
            stop: Some(stop),
            serving: Some(serving),
        })
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// A server running in this process; stopped (without waiting) when
/// dropped.
pub struct InProcessServer {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The admin endpoint, if the configuration has one.
    pub admin_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<JoinHandle<anyhow::Result<Summary>>>,
}

impl InProcessServer {
    /// A connection to the server, with the step timeouts set.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// Shuts the server down as SIGTERM would (drain included) and
    /// returns its final figures.
    pub fn stop(mut self) -> Summary {
        drop(self.stop.take());
        let serving = self.serving.take().expect("a serving thread");
        serving
            .join()
            .expect("the server thread panicked")
            .expect("the server failed")
    }
}

impl Endpoint for InProcessServer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        // The drain finishes on the server's own threads; the test goes on.
        drop(self.stop.take());
    }
}

/// The servers' log lines, on the test's output (shown when it fails):
/// `RUST_LOG`, else warnings.
fn log_to_the_test() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
