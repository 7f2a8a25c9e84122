//! Plugins: finding a plugin file, checking it is a yell plugin component,
//! compiling it once, and calling it through a pool of ready instances.
//!
//! One [`PluginRuntime`] (engine, linker, epoch ticker, slow lane) serves
//! the process. Loading a file gives a [`Plugin`]: the compiled component,
//! pre-linked (`instantiate_pre`) so making an instance is cheap, with its
//! configuration and its [`pool`] of idle instances. Every call runs under
//! the [`limits`](crate::limits): a trap, a deadline or a memory cap ends
//! only that call, and the instance it poisoned is thrown away.
//!
//! The execution model ([`call`]): a call starts inline on the thread that
//! makes it; one still running after its first slice moves to the
//! [`slow_lane`](crate::slow_lane), so plugin time never holds an
//! event-loop thread that other connections need. A plugin that can only
//! compute (it imports nothing but the host's own interfaces) is called
//! synchronously, the cheapest way; a call of it that outlives its slice is
//! cut and runs again in the slow lane.

pub mod cache;
pub mod call;
pub mod chain;
pub mod connections;
pub mod failure;
pub mod locate;
pub mod log;
pub mod pool;
pub mod provenance;
pub mod spec;
pub mod usage;
pub mod wasi;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store};

use crate::limits::{
    CallClock, EpochTicker, InstanceLimiter, Isolation, MemoryBudget, PluginLimits,
};
use crate::slow_lane::SlowLane;
use cache::{CompileCache, Compiled, Digest256};
use call::{Export, Output, Synchronous};
use pool::{Checkout, InstancePool, LiveInstance};
use provenance::{digest_hex, Provenance, TrustPolicy};
use spec::PluginSpec;
use usage::{PluginUsage, PluginUsages};

pub use bindings::yell::plugin::types::{BatchReply, LineError};
pub use failure::{FailureKind, PluginError};

/// Host-side bindings generated from `wit/plugin.wit`. Exports are called
/// asynchronously: a call can then be suspended at the end of its inline
/// slice and finished on another thread.
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "plugin",
        exports: { default: async },
    });
}

/// The same exports called synchronously, on the same instances: no fiber,
/// the cheapest call there is, for plugins that can only compute
/// ([`can_run_synchronously`]). The types and imports are those of
/// [`bindings`].
mod sync_bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "plugin",
        with: {
            "yell:plugin/types": super::bindings::yell::plugin::types,
            "yell:plugin/log": super::bindings::yell::plugin::log,
            "yell:plugin/connection": super::bindings::yell::plugin::connection,
        },
    });
}

/// The WIT world a plugin component must implement, for error messages.
pub const PLUGIN_WORLD: &str = "yell:plugin/plugin@0.1.0";

/// What a plugin instance's store carries: its memory limiter, its plugin's
/// log (for the log import), the deadline clock of the call it runs, and its
/// place in the count of live instances.
pub struct PluginState {
    limiter: InstanceLimiter,
    /// The open client connections, for the `connection.info` import.
    connections: Arc<connections::OpenConnections>,
    log: Arc<log::PluginLog>,
    clock: CallClock,
    /// Set when the plugin said it panicked: its trap is then a panic.
    panicked: bool,
    /// Log lines of a synchronous call, held until it ends: a call cut at
    /// the end of its slice runs again, and its lines must be said once.
    held_log_lines: Option<HeldLogLines>,
    /// WASI, granting nothing by default ([`wasi`]).
    wasi: wasmtime_wasi::WasiCtx,
    /// The WASI resources (streams...) the instance holds.
    table: wasmtime::component::ResourceTable,
    /// Its place among the instances alive (see [`LiveInstance`]).
    live: LiveInstance,
}

impl bindings::yell::plugin::types::Host for PluginState {}

impl wasmtime_wasi::WasiView for PluginState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::yell::plugin::connection::Host for PluginState {
    fn info(&mut self, conn: u64) -> Option<bindings::yell::plugin::connection::ConnectionInfo> {
        self.connections.get(conn).map(|addresses| {
            bindings::yell::plugin::connection::ConnectionInfo {
                peer: addresses.peer.to_string(),
                local: addresses.local.to_string(),
            }
        })
    }
}

impl bindings::yell::plugin::log::Host for PluginState {
    fn log(&mut self, level: bindings::yell::plugin::log::Level, message: String) {
        use bindings::yell::plugin::log::Level;
        let level = match level {
            Level::Trace => log::Level::Trace,
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
            Level::Error => log::Level::Error,
        };
        match &mut self.held_log_lines {
            Some(held) if held.lines.len() < MAX_HELD_LOG_LINES => {
                held.lines.push((level, message))
            }
            // Too many to hold: the call will be made again the way whose
            // lines are written as they come.
            Some(held) => held.overflowed = true,
            None => self.log.write(level, &message),
        }
    }

    fn panicked(&mut self, message: String) {
        // For the operator, whatever the plugin's log rate; the client
        // hears only that the plugin panicked.
        self.panicked = true;
        self.log.panicked(&message);
    }
}

/// Log lines of one synchronous call held until it ends; a call that logs
/// more is made again asynchronously (see [`call::run_synchronously`]).
const MAX_HELD_LOG_LINES: usize = 256;

/// The log lines of a synchronous call, until it ends.
#[derive(Default)]
struct HeldLogLines {
    lines: Vec<(log::Level, String)>,
    /// The call logged more than [`MAX_HELD_LOG_LINES`].
    overflowed: bool,
}

impl PluginState {
    /// Holds the log lines of the call about to run until
    /// [`release_log_lines`](Self::release_log_lines).
    fn hold_log_lines(&mut self) {
        self.held_log_lines = Some(HeldLogLines::default());
    }

    /// Whether the call logged more lines than are held.
    fn log_lines_overflowed(&self) -> bool {
        self.held_log_lines
            .as_ref()
            .is_some_and(|held| held.overflowed)
    }

    /// Writes the held log lines (the call counted), or drops them (it is
    /// made again), and stops holding.
    fn release_log_lines(&mut self, write: bool) {
        let Some(held) = self.held_log_lines.take() else {
            return;
        };
        if write {
            for (level, message) in held.lines {
                self.log.write(level, &message);
            }
        }
    }
}

/// Whether a plugin can be called synchronously: it imports nothing but the
/// host's own interfaces (no WASI, whose host side is asynchronous), so a
/// call can neither wait nor reach anything outside its instance, and
/// running it again from the start (after a cut) gives the same answer.
fn can_run_synchronously(component: &wasmtime::component::Component, engine: &Engine) -> bool {
    component
        .component_type()
        .imports(engine)
        .all(|(name, _)| name.starts_with("yell:plugin/"))
}

/// The process-wide wasm machinery every plugin is compiled and run with.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<PluginState>,
    limits: PluginLimits,
    /// The memory of all instances of all plugins, against its cap.
    budget: MemoryBudget,
    /// Where calls that outlive their inline slice finish.
    slow_lane: SlowLane,
    /// Every plugin's log (rate limits, dropped lines), by plugin name.
    logs: log::PluginLogs,
    /// Every plugin's calls, lines and failures, by plugin name.
    usages: PluginUsages,
    /// The open client connections, for plugins that ask about them.
    connections: Arc<connections::OpenConnections>,
    /// Compiled plugins kept across runs; none when turned off.
    cache: Option<CompileCache>,
    /// What a plugin file must prove before it is compiled.
    trust: TrustPolicy,
    /// Keeps call deadlines moving; stops when the runtime is dropped.
    _epoch_ticker: EpochTicker,
}

impl PluginRuntime {
    pub fn new(
        limits: PluginLimits,
        cache: Option<CompileCache>,
        trust: TrustPolicy,
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
        let epoch_ticker = EpochTicker::start(&engine).context("starting the epoch ticker")?;
        Ok(PluginRuntime {
            engine,
            linker,
            limits,
            budget: MemoryBudget::new(limits.total_memory_bytes),
            logs: log::PluginLogs::new(limits.log_lines_per_second),
            usages: PluginUsages::default(),
            connections: Arc::default(),
            slow_lane: SlowLane::default(),
            cache,
            trust,
            _epoch_ticker: epoch_ticker,
        })
    }

    /// The slow lane every plugin of this runtime finishes slow calls in.
    pub fn slow_lane(&self) -> &SlowLane {
        &self.slow_lane
    }

    /// The open client connections plugins may ask about: a connection is
    /// recorded here while it is served.
    pub fn connections(&self) -> &Arc<connections::OpenConnections> {
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

    /// Loads the plugin file `spec` names: checks its content against its
    /// pin and the trusted keys, checks it is a component of the plugin
    /// world, compiles it and makes one instance, initialized with the
    /// spec's configuration, to prove it works before anything depends on it.
    pub fn load(&self, spec: &PluginSpec) -> Result<Plugin> {
        let file = PluginFile::read(&spec.path)?;
        self.load_file(&file, spec)
    }

    /// [`load`](Self::load) for a file already read (from `spec.path`).
    pub fn load_file(&self, file: &PluginFile, spec: &PluginSpec) -> Result<Plugin> {
        let path = &file.path;
        let shown = path.display();
        let (bytes, digest) = (&file.bytes, file.digest);
        // Before the compiler sees a byte of it.
        let provenance = self
            .trust
            .check(path, &digest, spec.sha256.as_ref())
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
            format!(
                "plugin {shown}: imports something the host does not offer (a plugin may import yell:plugin/log, yell:plugin/connection and WASI 0.2)"
            )
        })?;
        let pre = bindings::PluginPre::new(instance_pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("plugin {shown}: is not a {PLUGIN_WORLD} component (wrong exports)")
            })?;
        let name: Arc<str> = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into())
            .unwrap_or_else(|| "plugin".into());
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
            can_run_synchronously(&component, &self.engine),
        ) {
            (Isolation::Pooled, true) => {
                tracing::info!(
                    "plugin {shown}: imports only the host's interfaces: called synchronously"
                );
                true
            }
            (Isolation::Pooled, false) => {
                tracing::info!("plugin {shown}: imports WASI: called asynchronously");
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
            limits,
            self.budget.clone(),
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
            path: path.clone(),
            digest,
            provenance,
            pool,
            slow_lane: self.slow_lane.clone(),
            pause: call::SynchronousPause::default(),
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

/// A plugin file's bytes, as read at one moment.
pub struct PluginFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`.
    pub digest: Digest256,
}

impl PluginFile {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("plugin {}: cannot read it", path.display()))?;
        Ok(PluginFile {
            path: path.to_path_buf(),
            digest: cache::digest(&bytes),
            bytes,
        })
    }
}

/// A loaded plugin, ready to be called from any thread.
pub struct Plugin {
    name: Arc<str>,
    /// The file it was loaded from.
    path: PathBuf,
    /// SHA-256 of the file's content when it was loaded.
    digest: Digest256,
    /// How that content was vouched for.
    provenance: Provenance,
    /// Its calls, lines and failures (shared with its other generations).
    usage: Arc<PluginUsage>,
    pool: Arc<InstancePool>,
    slow_lane: SlowLane,
    /// When its calls may be synchronous again after one was cut.
    pause: call::SynchronousPause,
}

/// One instance of a plugin with the store it lives in.
pub struct PluginInstance {
    store: Store<PluginState>,
    /// Boxed: an instance moves in and out of the pool for every call.
    exports: Box<InstanceExports>,
    /// Linear memory right after `init`: what the plugin needs to run at
    /// all (a few KiB for Rust, tens of MiB for an interpreter).
    memory_after_init: usize,
}

/// A call moved to the slow lane whose thread went away without answering
/// (it panicked, or no thread could be started).
fn ended_without_an_answer() -> PluginError {
    PluginError::Trapped("the call ended without an answer".into())
}

/// Where an instance's exports are, to call them either way.
struct InstanceExports {
    asynchronous: bindings::Plugin,
    /// For plugins that can be called synchronously.
    synchronous: Option<sync_bindings::Plugin>,
}

impl PluginInstance {
    /// Whether it is of a plugin that can be called synchronously.
    fn runs_synchronously(&self) -> bool {
        self.exports.synchronous.is_some()
    }
}

impl Plugin {
    /// The plugin's name in logs: its file name without extension.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 of the file it was loaded from: a file with the same digest
    /// would load the same plugin.
    pub fn digest(&self) -> &Digest256 {
        &self.digest
    }

    /// How its content was vouched for (pin, signature).
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// Refuses a reply larger than the limit. The host copied it out of the
    /// instance already, but that copy is bounded by the instance's memory
    /// cap; what is refused here never reaches a connection's buffers.
    fn check_reply_size(&self, bytes: usize) -> Result<(), PluginError> {
        let max = self.pool.limits().reply_bytes;
        if bytes > max {
            return Err(PluginError::ReplyTooLarge { bytes, max });
        }
        Ok(())
    }

    /// Transforms a batch of '\n'-ended lines.
    pub async fn transform_batch(
        &self,
        conn: u64,
        lines: Bytes,
    ) -> Result<BatchReply, PluginError> {
        let result = async {
            let Output::Batch(reply) = self.call(Export::Batch, conn, lines).await? else {
                unreachable!("a batch call answers a batch reply")
            };
            // Error messages reach the client too: they count.
            let messages: usize = reply.errors.iter().map(|error| error.message.len()).sum();
            self.check_reply_size(reply.output.len() + messages)?;
            // One end per input line answered (a reply of another shape is
            // refused where it is checked, and counted then).
            self.usage.answered(reply.ends.len());
            Ok(reply)
        }
        .await;
        self.counted(result)
    }

    /// Transforms a raw chunk (no framing).
    pub async fn transform_raw(&self, conn: u64, chunk: Bytes) -> Result<Vec<u8>, PluginError> {
        let result = async {
            let Output::Raw(reply) = self.call(Export::Raw, conn, chunk).await? else {
                unreachable!("a raw call answers a raw reply")
            };
            let reply = reply.map_err(PluginError::Refused)?;
            self.check_reply_size(reply.len())?;
            Ok(reply)
        }
        .await;
        self.counted(result)
    }

    /// Asks for the greeting of a new connection.
    pub async fn connection_opened(&self, conn: u64) -> Result<Vec<u8>, PluginError> {
        let result = self.call_for_bytes(Export::Opened, conn).await;
        self.counted(result)
    }

    /// Tells the plugin a connection ended; returns its last words.
    pub async fn connection_closed(&self, conn: u64) -> Result<Vec<u8>, PluginError> {
        let result = self.call_for_bytes(Export::Closed, conn).await;
        self.counted(result)
    }

    async fn call_for_bytes(&self, export: Export, conn: u64) -> Result<Vec<u8>, PluginError> {
        let Output::Bytes(reply) = self.call(export, conn, Bytes::new()).await? else {
            unreachable!("greetings and last words are bytes")
        };
        self.check_reply_size(reply.len())?;
        Ok(reply)
    }

    /// Counts a failed call in the plugin's figures.
    fn counted<T>(&self, result: Result<T, PluginError>) -> Result<T, PluginError> {
        if let Err(error) = &result {
            self.usage.failed(error.kind());
        }
        result
    }

    /// Counts a reply found malformed where it was checked (outside the
    /// plugin's own calls).
    pub fn note_malformed_reply(&self) {
        self.usage.failed(FailureKind::Refused);
    }

    /// Runs one call on an instance of the pool: synchronously if the
    /// plugin can be called so, otherwise (or after a cut) inline first and
    /// in the slow lane if it outlives its slice (see [`call`]). An instance
    /// whose call failed is thrown away, since a trap may have left it in
    /// any state.
    async fn call(&self, export: Export, conn: u64, input: Bytes) -> Result<Output, PluginError> {
        let started = self.usage.call_starts();
        let result = self.run_call(export, conn, input).await;
        self.usage.called(started);
        result
    }

    async fn run_call(
        &self,
        export: Export,
        conn: u64,
        input: Bytes,
    ) -> Result<Output, PluginError> {
        let done = match self.pool.checkout(conn)? {
            Checkout::Idle(instance) if instance.runs_synchronously() && self.pause.allows() => {
                match call::run_synchronously(instance, export, conn, &input) {
                    Synchronous::Done(done) => done,
                    Synchronous::Cut(place) => {
                        // Again from the start, all of it in the slow lane
                        // (it is known to be slow), on another instance in
                        // the cut one's place.
                        self.pause.cut();
                        let checkout = self.pool.checkout_replacing(place);
                        self.slow_lane
                            .hand_over(call::run(checkout, export, conn, input))
                            .await
                            .map_err(|_| ended_without_an_answer())?
                    }
                }
            }
            checkout => match self
                .slow_lane
                .start(call::run(checkout, export, conn, input))
            {
                crate::slow_lane::Started::Done(done) => done,
                crate::slow_lane::Started::Moved(done) => {
                    done.await.map_err(|_| ended_without_an_answer())?
                }
            },
        };
        self.finished(conn, export, done)
    }

    /// Gives a finished call's instance back, if it has one, and says how
    /// the call went.
    fn finished(&self, conn: u64, export: Export, done: call::Done) -> Result<Output, PluginError> {
        if let Some(instance) = done.instance {
            self.pool.give_back(conn, export, instance);
        }
        done.result
    }

    /// How many idle instances are pooled now.
    pub fn idle_instances(&self) -> usize {
        self.pool.idle_count()
    }

    /// How many instances are alive now, busy or idle.
    pub fn live_instances(&self) -> usize {
        self.pool.live_count()
    }
}
