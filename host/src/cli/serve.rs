//! The server's options (`yell-host [serve] ...`), checked and resolved into
//! a [`ServerConfig`]: plugins located, pins matched to plugins, keys and
//! token read.
//!
//! Owns: [`ServeArgs`]. Uses: the option parsers of the plugin options and
//! values, and the checks of the admin endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use yell_runtime::{CompileCache, PluginLimits, TrustPolicy, TrustedKey};

use super::plugin_options::{
    chain_specs, largest_memory, pin_specs, ConfigEntry, PinEntry, SandboxArgs,
};
use super::registry_options::RegistryArgs;
use super::state_options::StateArgs;
use super::values::{parse_byte_size, ErrorPolicyArg, FramingArg, IsolationArg};
use crate::admin::access::check_exposure;
use crate::admin::{AdminConfig, AdminToken};
use crate::listener::ListenOn;
use crate::locate::locate_chain;
use crate::plugin_metrics::DEFAULT_SERIES_PER_PLUGIN;
use crate::server::ServerConfig;

/// Options of the server.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port, printed at start).
    /// Ignored when a listening socket is passed by socket activation
    /// (`LISTEN_FDS`, as systemd does).
    #[arg(
        short,
        long,
        default_value = "127.0.0.1:1234",
        overrides_with = "listen"
    )]
    pub listen: SocketAddr,

    /// Let several processes listen on the same address (`SO_REUSEPORT`):
    /// the kernel spreads new connections between them.
    #[arg(long)]
    pub reuse_port: bool,

    /// The plugin component: a path, or a bare name (`uppercase.wasm`, or
    /// just `uppercase`) looked up, first match wins, in the plugin folder
    /// (--plugin-dir), the data folder ($XDG_DATA_HOME/yell-host/plugins,
    /// else ~/.local/share/yell-host/plugins, which `just install` fills),
    /// and the plugins built into this binary (uppercase, reverse, rot13,
    /// filter, splitter, counter); or a registry reference,
    /// oci://HOST[:PORT]/REPO:TAG or oci://HOST[:PORT]/REPO@sha256:DIGEST.
    /// Given several times, a chain: each plugin's reply lines are the
    /// next one's input lines.
    #[arg(short, long, default_value = "uppercase.wasm")]
    pub plugin: Vec<PathBuf>,

    /// A folder where bare plugin names are looked up first, before the
    /// data folder and the built-in plugins.
    #[arg(long, env = "YELL_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,

    /// Configuration handed to a plugin at init, as KEY=VALUE; repeatable.
    /// In a chain, say which plugin: NAME:KEY=VALUE, NAME being the file
    /// name without `.wasm`, or the plugin's position (1, 2, ...).
    #[arg(long = "plugin-config", value_name = "[NAME:]KEY=VALUE", value_parser = ConfigEntry::parse)]
    pub plugin_config: Vec<ConfigEntry>,

    /// Pin a plugin to the SHA-256 of its content (as `sha256sum` prints
    /// it): other content is refused at start and at every swap, and the
    /// plugin serving stays. In a chain, NAME:SHA256; repeatable.
    #[arg(long = "plugin-sha256", value_name = "[NAME:]SHA256", value_parser = PinEntry::parse)]
    pub plugin_sha256: Vec<PinEntry>,

    /// Load only plugins signed by this key (an ed25519 public key in PEM):
    /// each X.wasm needs its signature in X.wasm.sig (`yell-host sign`).
    /// Repeatable: a signature by any of the keys will do.
    #[arg(long = "trusted-key", value_name = "FILE")]
    pub trusted_key: Vec<PathBuf>,

    /// Do not reload the plugins when their files change (SIGHUP and
    /// `yell-host reload` still do).
    #[arg(long)]
    pub no_watch: bool,

    /// How long a plugin file being written in place must be left alone
    /// before it is loaded (a file renamed into place, or closed after
    /// writing, is loaded at once).
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration)]
    pub watch_debounce: Duration,

    /// Where compiled plugins are kept, so that a restart or a swap back to a
    /// known plugin does not compile it again [default:
    /// $XDG_CACHE_HOME/yell-host or ~/.cache/yell-host].
    #[arg(long, env = "YELL_COMPILE_CACHE", value_name = "DIR")]
    pub compile_cache: Option<PathBuf>,

    /// Compile every plugin on every load; keep nothing on disk (overrides
    /// `--compile-cache`).
    #[arg(long)]
    pub no_compile_cache: bool,

    /// How bytes are cut up for the plugin: `lines` (split on '\n', batched)
    /// or `raw` (each chunk read, as it came).
    #[arg(long, value_enum, default_value_t = FramingArg::Lines)]
    pub framing: FramingArg,

    /// Longest line accepted, without the line ending (bytes, or with a
    /// unit: `64KiB`); a client sending a longer one gets an error line and
    /// is closed.
    #[arg(long, default_value = "64KiB", value_parser = parse_byte_size)]
    pub max_line_length: usize,

    /// What plugins are granted beyond the sandbox, and their limits.
    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// Most linear memory all plugin instances may use together; a call
    /// that would need more is refused (`ERR plugin: overloaded: ...`).
    #[arg(long, default_value = "2GiB", value_parser = parse_byte_size)]
    pub plugin_memory_total: usize,

    /// Most instances of one plugin alive at once (each call in flight,
    /// slow ones included, holds one); a call past it is refused
    /// (`ERR plugin: overloaded: ...`).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_instances: u32,

    /// Largest reply one plugin call may return (e.g. `16MiB`); a larger one
    /// is answered as a plugin error.
    #[arg(long, default_value = "16MiB", value_parser = parse_byte_size)]
    pub max_reply: usize,

    /// How plugin instances are shared: `pooled` (any connection, fastest),
    /// `connection` (one instance per connection for its life: nothing
    /// crosses between clients) or `call` (a fresh instance per call: no
    /// state at all).
    #[arg(long, value_enum, default_value_t = IsolationArg::Pooled)]
    pub isolation: IsolationArg,

    /// Log lines one plugin may write per second (bursts of as many); past
    /// it they are dropped and counted. 0: no limit.
    #[arg(long, default_value_t = 100)]
    pub plugin_log_rate: u32,

    /// A connection that completes no line for this long (or whose client
    /// reads none of its replies for this long) is closed with an error
    /// line; `0s` never closes.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// Log a stats line (lines/s, open connections, p99 plugin call time)
    /// this often while there is traffic; `0s` turns it off.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub stats_interval: Duration,

    /// Serve the admin endpoint on this address: Prometheus metrics
    /// (`/metrics`), `/healthz`, `/readyz`, `/plugins` and `POST /reload`;
    /// off unless given. An address other than loopback needs
    /// `--admin-token-file`.
    #[arg(long, visible_alias = "admin-addr")]
    pub metrics_addr: Option<SocketAddr>,

    /// A file holding the admin token: `POST /reload` then needs
    /// `Authorization: Bearer TOKEN` (`yell-host reload --token-file FILE`
    /// sends it). Required for a `--metrics-addr` other than loopback.
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// Admin connections served at once; more are closed at once.
    #[arg(long, default_value_t = AdminConfig::DEFAULT_MAX_CONNECTIONS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub admin_max_connections: u32,

    /// How long an admin connection may take to send its request head
    /// before it is closed.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub admin_header_timeout: Duration,

    /// Most connections served at once; each one past it gets an error line
    /// and is closed.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Behind a TCP load balancer that sends the PROXY protocol (HAProxy's
    /// `send-proxy`/`send-proxy-v2`, nginx `proxy_protocol on`, AWS NLB):
    /// every connection must start with a v1 or v2 header, which gives the
    /// real client address; a connection without a valid one is closed.
    #[arg(long)]
    pub proxy_protocol: bool,

    /// How long a connection's PROXY header may take to arrive.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub proxy_header_timeout: Duration,

    /// On SIGTERM or Ctrl-C, go on serving and accepting this long while
    /// `/readyz` says not ready, so load balancers stop sending first
    /// (behind one, set it above the health check's interval × its fall
    /// count).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub drain_grace: Duration,

    /// On SIGTERM or Ctrl-C, the longest the drain may take in all (grace
    /// included): connections not done by then are closed.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,

    /// What a plugin failure means for the connection: answer an error line
    /// and go on (`error`), answer it and close (`close`), or pass the input
    /// through unchanged (`pass`).
    #[arg(long, value_enum, default_value_t = ErrorPolicyArg::Error)]
    pub on_plugin_error: ErrorPolicyArg,

    #[command(flatten)]
    pub state: StateArgs,

    /// Plugins from OCI registries.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// Look up the plugins given by tag (oci://...:TAG) this often (each
    /// wait jittered by up to a tenth) and swap in a plugin whose tag
    /// moved [default: never; POST /reload always looks].
    #[arg(long, value_name = "TIME", value_parser = humantime::parse_duration)]
    pub oci_poll: Option<Duration>,

    /// Series each plugin may make of the metrics it defines (one per
    /// metric and set of label values); a recording that would make one
    /// more records nothing, with one warning.
    #[arg(long, default_value_t = DEFAULT_SERIES_PER_PLUGIN as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub plugin_metric_series: u32,
}

/// Running time one plugin call may use unless `--plugin-timeout` says
/// otherwise.
const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_millis(100);

impl ServeArgs {
    /// Checks the options and resolves them into the server's
    /// configuration: plugins located, pins matched to plugins, keys and
    /// token read.
    /// `inherited` is the listening socket passed by socket activation, if
    /// any ([`crate::listener::inherited_socket`]).
    pub fn config(self, inherited: Option<std::net::TcpListener>) -> Result<ServerConfig> {
        if self.drain_timeout <= self.drain_grace {
            bail!("--drain-timeout must be longer than --drain-grace");
        }
        if self.admin_header_timeout.is_zero() {
            bail!("--admin-header-timeout must be more than zero");
        }
        let paths = locate_chain(&self.plugin, self.plugin_dir.as_deref())?;
        let mut plugins = chain_specs(paths, &self.plugin_config, "--plugin-config")?;
        pin_specs(&mut plugins, &self.plugin_sha256, "--plugin-sha256")?;
        let memory_bytes = self.sandbox.apply(&mut plugins)?;
        let (call_timeout, wall_timeout) = self
            .sandbox
            .time_limits(&mut plugins, DEFAULT_PLUGIN_TIMEOUT)?;
        let largest_memory_bytes = largest_memory(&plugins, memory_bytes);
        let names: Vec<String> = plugins
            .iter()
            .map(|plugin| yell_runtime::plugin_name(&plugin.path))
            .collect();
        let state = self.state.config(&names)?;
        let registry = self.registry.config(largest_memory_bytes)?;
        let oci_poll = match self.oci_poll {
            Some(every) if every.is_zero() => bail!("--oci-poll must be more than zero"),
            Some(every) => {
                check_pins_can_follow_tags(&plugins)?;
                Some(every)
            }
            None => None,
        };
        let trust = TrustPolicy {
            trusted_keys: self
                .trusted_key
                .iter()
                .map(|path| TrustedKey::read(path))
                .collect::<Result<_>>()?,
        };
        let token = self
            .admin_token_file
            .as_deref()
            .map(AdminToken::read)
            .transpose()?;
        if let Some(addr) = self.metrics_addr {
            check_exposure(addr, token.as_ref())?;
        }
        let admin = match self.metrics_addr {
            Some(addr) => Some(AdminConfig {
                addr,
                token,
                max_connections: self.admin_max_connections as usize,
                header_timeout: self.admin_header_timeout,
            }),
            None if token.is_some() => {
                bail!("--admin-token-file is for the admin endpoint: give --metrics-addr too")
            }
            None => None,
        };
        let compile_cache = if self.no_compile_cache {
            None
        } else {
            self.compile_cache
                .clone()
                .or_else(CompileCache::default_dir)
        };
        let listen = match inherited {
            Some(socket) => ListenOn::Inherited(socket),
            None => ListenOn::Address {
                addr: self.listen,
                reuse_port: self.reuse_port,
            },
        };
        Ok(ServerConfig {
            listen,
            plugins,
            trust,
            limits: PluginLimits {
                call_timeout,
                wall_timeout,
                memory_bytes,
                largest_memory_bytes,
                total_memory_bytes: self.plugin_memory_total,
                max_instances: self.max_instances as usize,
                reply_bytes: self.max_reply,
                log_lines_per_second: self.plugin_log_rate,
                isolation: self.isolation.into(),
            },
            compile_cache,
            framing: self.framing.into(),
            max_line_length: self.max_line_length,
            idle_timeout: nonzero(self.idle_timeout),
            on_plugin_error: self.on_plugin_error.into(),
            max_connections: u64::from(self.max_connections),
            watch: (!self.no_watch).then_some(self.watch_debounce),
            stats_interval: nonzero(self.stats_interval),
            admin,
            drain_grace: self.drain_grace,
            drain_timeout: self.drain_timeout,
            proxy_header_timeout: self.proxy_protocol.then_some(self.proxy_header_timeout),
            state,
            plugin_metric_series: self.plugin_metric_series as usize,
            registry,
            oci_poll,
        })
    }
}

/// With `--oci-poll`, a plugin given by tag is expected to change: a
/// `--plugin-sha256` pin on it would refuse every move. A signature
/// (`--trusted-key`) is what trusts a tag that moves.
fn check_pins_can_follow_tags(plugins: &[yell_runtime::PluginSpec]) -> Result<()> {
    for plugin in plugins {
        let shown = plugin.path.to_string_lossy();
        let is_tag = crate::oci::is_reference(&plugin.path) && !shown.contains("@sha256:");
        if is_tag && plugin.sha256.is_some() {
            bail!(
                "--plugin-sha256 pins {shown}, which --oci-poll follows as its tag moves: each move would be refused. Pin the digest in the reference (oci://...@sha256:...) instead of polling, or trust what the tag moves to by its signature (--trusted-key)"
            );
        }
    }
    Ok(())
}

/// A duration option where `0s` means "never".
fn nonzero(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}
