//! The engine every plugin is compiled and run with, and loading: the
//! load-time checks (provenance, that it is a component of the plugin
//! world, that it imports only what the host offers), compiling once (or
//! from the compile cache), and one instance made and initialized to prove
//! the plugin starts before anything depends on it.
//!
//! One [`PluginRuntime`] (engine, linker, epoch ticker, slow lane) serves
//! the process. Loading gives a [`Plugin`]: the compiled component,
//! pre-linked (`instantiate_pre`) so making an instance is cheap, with its
//! configuration and its pool of idle instances. Every call runs under the
//! limits: a trap, a deadline or a memory cap ends only that call, and the
//! instance it poisoned is thrown away.
//!
//! The embedder may add host imports ([`HostImport`]): each adds itself to
//! the linker, and a component that does not import it loads and runs as
//! if it did not exist.
//!
//! Owns: [`PluginRuntime`] and [`HostImport`]. Uses: every part of a
//! plugin's life (source, provenance, cache, pool, plugin) and the shared
//! machinery (ticker, slow lane, memory budget, logs, usage figures).

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::Engine;

use crate::bindings::asynchronous as bindings;
use crate::cache::{self, CompileCache, Compiled};
use crate::call::SynchronousPause;
use crate::connections::OpenConnections;
use crate::failure::PluginError;
use crate::limits::{Isolation, PluginLimits};
use crate::log::PluginLogs;
use crate::memory::MemoryBudget;
use crate::plugin::Plugin;
use crate::pool::InstancePool;
use crate::provenance::{digest_hex, TrustPolicy};
use crate::reply::ReplyContract;
use crate::slow_lane::SlowLane;
use crate::source::{FileReader, PluginSource, SourceReader};
use crate::spec::PluginSpec;
use crate::state::PluginState;
use crate::ticker::EpochTicker;
use crate::usage::{PluginUsage, PluginUsages};

/// Host functions the embedder offers plugins beyond the host's own
/// (`yell:plugin/log`, `yell:plugin/connection`) and WASI: a key-value
/// store, plugin metrics... Each adds its functions to the linker once,
/// when the runtime is made; a plugin that does not import them never sees
/// them. Functions reach their own data through
/// [`PluginState::extension`].
pub trait HostImport: Send + Sync {
    /// Names the import in logs and errors (`wasi:keyvalue`).
    fn name(&self) -> &str;

    /// Adds the import's functions to `linker`.
    fn add_to_linker(&self, linker: &mut Linker<PluginState>) -> wasmtime::Result<()>;

    /// What the functions need to know of `plugin` (its grants, say): put
    /// into each of its instances' stores, where they find it with
    /// [`PluginState::extension`]. `None` for nothing.
    fn plugin_data(&self, plugin: &PluginSpec) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        let _ = plugin;
        None
    }

    /// Whether the component import `import` (such as
    /// `wasi:keyvalue/store@0.2.0-draft2`) is one of this import's: by
    /// default, an interface of the package [`name`](Self::name) names
    /// (`wasi:keyvalue`), or the interface it names
    /// (`yell:plugin/metrics`).
    fn offers(&self, import: &str) -> bool {
        import
            .strip_prefix(self.name())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('@'))
    }

    /// Whether its functions may wait (on a store, the network): a plugin
    /// that imports them is called asynchronously and given at most
    /// [`HOST_WAITING_BATCH_LINES`] lines per call. One whose functions
    /// only compute and do what they do through
    /// [`PluginState::when_call_counts`] (metrics) says false, and leaves
    /// its plugins as cheap to call as those that import nothing.
    fn waits(&self) -> bool {
        true
    }
}

/// The WIT world a plugin component must implement, for error messages.
pub const PLUGIN_WORLD: &str = "yell:plugin/plugin@0.1.0";

/// The host's own interfaces, which every plugin may import and which
/// only compute.
const OWN_IMPORTS: [&str; 3] = [
    "yell:plugin/types@",
    "yell:plugin/log@",
    "yell:plugin/connection@",
];

/// Whether a plugin can be called synchronously: it imports nothing but the
/// host's own interfaces and host imports that do not wait (no WASI, whose
/// host side is asynchronous), so a call can neither wait nor reach
/// anything outside its instance but through what is held until it counts,
/// and running it again from the start (after a cut) gives the same answer.
fn can_run_synchronously(
    component: &wasmtime::component::Component,
    engine: &Engine,
    imports: &[Arc<dyn HostImport>],
) -> bool {
    component.component_type().imports(engine).all(|(name, _)| {
        OWN_IMPORTS.iter().any(|own| name.starts_with(own))
            || imports
                .iter()
                .any(|import| !import.waits() && import.offers(name))
    })
}

/// The most lines one call of a plugin that uses the embedder's host
/// imports that wait takes: each of its lines may wait on a store (a
/// commit, a network round trip), and those waits add up inside one
/// call's wall-clock ceiling; at this many, a millisecond each stays far
/// below it.
pub const HOST_WAITING_BATCH_LINES: usize = 64;

/// Whether `component` imports any of the embedder's `imports` that wait.
fn waits_on_host(
    component: &wasmtime::component::Component,
    engine: &Engine,
    imports: &[Arc<dyn HostImport>],
) -> bool {
    component.component_type().imports(engine).any(|(name, _)| {
        imports
            .iter()
            .any(|import| import.waits() && import.offers(name))
    })
}

/// The process-wide wasm machinery every plugin is compiled and run with.
pub struct PluginRuntime {
    /// Host functions the embedder added, for every instance's store data.
    imports: Vec<Arc<dyn HostImport>>,
    engine: Engine,
    linker: Linker<PluginState>,
    limits: PluginLimits,
    /// The memory of all instances of all plugins, against its cap.
    budget: MemoryBudget,
    /// Where calls that outlive their inline slice finish.
    slow_lane: SlowLane,
    /// Every plugin's log (rate limits, dropped lines), by plugin name.
    logs: PluginLogs,
    /// Every plugin's calls, lines and failures, by plugin name.
    usages: PluginUsages,
    /// The open client connections, for plugins that ask about them.
    connections: Arc<OpenConnections>,
    /// Compiled plugins kept across runs; none when turned off.
    cache: Option<CompileCache>,
    /// What a plugin file must prove before it is compiled.
    trust: TrustPolicy,
    /// Keeps call deadlines moving; stops when the runtime is dropped.
    epoch_ticker: EpochTicker,
    /// Where plugins' bytes are read (files, unless the embedder says).
    sources: Arc<dyn SourceReader>,
}

impl PluginRuntime {
    /// A runtime whose plugins run under `limits`, compiled through `cache`
    /// (none: compiled at every load), loading only what `trust` accepts.
    pub fn new(
        limits: PluginLimits,
        cache: Option<CompileCache>,
        trust: TrustPolicy,
    ) -> Result<Self> {
        Self::with_imports(limits, cache, trust, Vec::new())
    }

    /// [`new`](Self::new), offering plugins the host functions `imports`
    /// besides the host's own and WASI.
    pub fn with_imports(
        limits: PluginLimits,
        cache: Option<CompileCache>,
        trust: TrustPolicy,
        imports: Vec<Arc<dyn HostImport>>,
    ) -> Result<Self> {
        let mut config = wasmtime::Config::new();
        // Deadlines: each call gets a number of epoch ticks to finish.
        config.epoch_interruption(true);
        if limits.isolation == Isolation::Call {
            // A fresh instance per call: the pooling allocator keeps memory
            // slots mapped and resets them copy-on-write, which makes
            // instantiating several times cheaper than mapping anew.
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling_for(
                &limits,
            )));
        }
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("setting up the wasm engine")?;
        let mut linker = Linker::new(&engine);
        bindings::Plugin::add_to_linker::<PluginState, HasSelf<PluginState>>(
            &mut linker,
            |state| state,
        )
        .map_err(anyhow::Error::from)
        .context("linking the host's plugin imports")?;
        // Components from other languages' toolchains import WASI; it is
        // linked granting nothing (see `wasi`).
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        for import in &imports {
            import
                .add_to_linker(&mut linker)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("linking the host import {}", import.name()))?;
        }
        let epoch_ticker = EpochTicker::start(&engine).context("starting the epoch ticker")?;
        Ok(PluginRuntime {
            imports,
            engine,
            linker,
            limits,
            budget: MemoryBudget::new(limits.total_memory_bytes),
            logs: PluginLogs::new(limits.log_lines_per_second),
            usages: PluginUsages::default(),
            connections: Arc::default(),
            slow_lane: SlowLane::default(),
            cache,
            trust,
            epoch_ticker,
            sources: Arc::new(FileReader),
        })
    }

    /// Reads plugins' bytes through `sources` from now on (a registry
    /// besides files, say) instead of from files.
    pub fn with_sources(mut self, sources: Arc<dyn SourceReader>) -> Self {
        self.sources = sources;
        self
    }

    /// The bytes `spec` names now, read as [`load`](Self::load) reads them.
    pub fn read_source(&self, spec: &PluginSpec) -> Result<PluginSource> {
        self.sources.read(spec)
    }

    /// Calls moved to the slow lane since the start, and the slow lane's
    /// threads alive now.
    pub fn slow_lane_figures(&self) -> (u64, usize) {
        (self.slow_lane.moved_calls(), self.slow_lane.threads())
    }

    /// The open client connections plugins may ask about: a connection is
    /// recorded here while it is served.
    pub fn connections(&self) -> &Arc<OpenConnections> {
        &self.connections
    }

    /// Whether plugins load only with a signature by a trusted key.
    pub fn requires_signatures(&self) -> bool {
        !self.trust.trusted_keys.is_empty()
    }

    /// Records the duration of every call of the plugins loaded from now
    /// on, for the `metrics` recorder installed before.
    pub fn time_calls(&self) {
        self.usages.time_calls();
    }

    /// Every plugin's calls, lines and failures, by plugin name.
    pub fn usages(&self) -> Vec<(Arc<str>, Arc<PluginUsage>)> {
        self.usages.all()
    }

    /// Every plugin's log lines dropped by the rate limit, by plugin name.
    pub fn log_lines_dropped(&self) -> Vec<(Arc<str>, u64)> {
        self.logs.dropped()
    }

    /// Linear memory held by all instances of all plugins now.
    pub fn instance_memory_bytes(&self) -> usize {
        self.budget.used()
    }

    /// Loads the plugin `spec` names, read through the runtime's sources
    /// (files unless [`with_sources`](Self::with_sources) said otherwise):
    /// see [`load_source`](Self::load_source).
    pub fn load(&self, spec: &PluginSpec) -> Result<Plugin> {
        self.load_source(&self.sources.read(spec)?, spec)
    }

    /// Loads a plugin from its bytes: checks them against the spec's pin
    /// and the trusted keys, checks they are a component of the plugin
    /// world importing only what the host offers, compiles it and makes one
    /// instance, initialized with the spec's configuration, to prove it
    /// works before anything depends on it.
    pub fn load_source(&self, source: &PluginSource, spec: &PluginSpec) -> Result<Plugin> {
        let shown = &source.origin;
        let (bytes, digest) = (&source.bytes, source.digest);
        // Before the compiler sees a byte of it.
        let provenance = self
            .trust
            .check(shown, &source.signature, &digest, spec.sha256.as_ref())
            .with_context(|| format!("plugin {shown}"))?;
        tracing::info!(
            "plugin {shown}: sha256 {} ({provenance})",
            digest_hex(&digest)
        );
        check_is_component(bytes).with_context(|| format!("plugin {shown}"))?;
        let started = std::time::Instant::now();
        let (component, compiled) =
            cache::compile(self.cache.as_ref(), &self.engine, bytes, &digest)
                .with_context(|| format!("plugin {shown}: cannot compile it"))?;
        let took = format!("{:.1?}", started.elapsed());
        match compiled {
            Compiled::Cached => {
                tracing::info!("plugin {shown}: compiled code loaded from the cache in {took}")
            }
            Compiled::Fresh => tracing::info!("plugin {shown}: compiled in {took}"),
        }
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                let added: String = self
                    .imports
                    .iter()
                    .map(|import| format!(", {}", import.name()))
                    .collect();
                format!(
                    "plugin {shown}: imports something the host does not offer (a plugin may import yell:plugin/log, yell:plugin/connection, WASI 0.2{added})"
                )
            })?;
        let pre = bindings::PluginPre::new(instance_pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("plugin {shown}: is not a {PLUGIN_WORLD} component (wrong exports)")
            })?;
        let name = source.name.clone();
        let waits_on_host = waits_on_host(&component, &self.engine, &self.imports);
        if waits_on_host {
            tracing::info!(
                "plugin {shown}: uses a host import: at most {HOST_WAITING_BATCH_LINES} lines per call"
            );
        }
        if !spec.grants.is_empty() {
            tracing::info!("plugin {shown}: granted {}", spec.grants.describe());
        }
        let own_limits = spec.limits.describe();
        if !own_limits.is_empty() {
            tracing::info!("plugin {shown}: its own limits: {own_limits}");
        }
        let limits = spec.limits.over(self.limits);
        // Pooled instances only: a connection's own instance keeps state a
        // cut would lose, and a fresh instance per call is made the
        // asynchronous way anyway.
        let synchronous = match (
            limits.isolation,
            can_run_synchronously(&component, &self.engine, &self.imports),
        ) {
            (Isolation::Pooled, true) => {
                tracing::info!(
                    "plugin {shown}: imports only what computes (the host's interfaces, metrics): called synchronously"
                );
                true
            }
            (Isolation::Pooled, false) => {
                tracing::info!(
                    "plugin {shown}: imports WASI or a host import that waits (state): called asynchronously"
                );
                false
            }
            (isolation, _) => {
                tracing::info!(
                    "plugin {shown}: called asynchronously (--isolation {})",
                    isolation.name()
                );
                false
            }
        };
        let pool = Arc::new(InstancePool::new(
            pre,
            synchronous,
            self.connections.clone(),
            self.logs.of(&name),
            spec.config.clone(),
            spec.grants.clone(),
            self.imports
                .iter()
                .filter_map(|import| import.plugin_data(spec))
                .collect(),
            limits,
            self.budget.clone(),
            self.epoch_ticker.clock().clone(),
        ));
        // Instantiating and initializing one instance now turns a plugin that
        // traps in init or refuses its configuration into a load error.
        let started = std::time::Instant::now();
        pool.warm_up().map_err(|error| match error {
            PluginError::Start(why) => anyhow::anyhow!("plugin {shown}: cannot start it: {why}"),
            other => anyhow::anyhow!("plugin {shown}: cannot start it: {other}"),
        })?;
        tracing::info!(
            "plugin {shown}: first instance made and initialized in {:.1?}",
            started.elapsed()
        );
        Ok(Plugin {
            usage: self.usages.of(&name),
            name,
            origin: source.origin.clone(),
            digest,
            provenance,
            contract: ReplyContract {
                max_bytes: limits.reply_bytes,
            },
            pool,
            slow_lane: self.slow_lane.clone(),
            pause: SynchronousPause::default(),
            max_batch_lines: waits_on_host.then_some(HOST_WAITING_BATCH_LINES),
        })
    }
}

/// Instance slots for `--isolation call`: enough for every plugin of a
/// chain of a few to have `--max-instances` calls in flight (a call past the
/// slots is refused as overloaded, like one past the instance limit).
fn pooling_for(limits: &PluginLimits) -> wasmtime::PoolingAllocationConfig {
    const SLOTS_PER_INSTANCE_LIMIT: usize = 4;
    let slots = u32::try_from(limits.max_instances * SLOTS_PER_INSTANCE_LIMIT).unwrap_or(u32::MAX);
    let mut pooling = wasmtime::PoolingAllocationConfig::default();
    pooling
        .total_component_instances(slots)
        .total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots)
        .total_stacks(slots)
        .max_memory_size(limits.largest_memory_bytes.max(limits.memory_bytes));
    pooling
}

/// Tells apart a component, a core module and something that is not wasm, so
/// the error says what to do.
fn check_is_component(bytes: &[u8]) -> Result<()> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        bail!("is not a WebAssembly file (it does not start with the wasm magic bytes)");
    }
    if bytes[4..8] == CORE_MODULE_VERSION {
        bail!(
            "is a core WebAssembly module, not a component: `wasm-tools component new` turns it into one (`just build-plugins` does this)"
        );
    }
    Ok(())
}
