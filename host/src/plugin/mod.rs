//! Plugins: finding a plugin file, checking it is a yell plugin component,
//! compiling it once, and calling it through a pool of ready instances.
//!
//! One [`PluginRuntime`] (engine, linker, epoch ticker) serves the process.
//! Loading a file gives a [`Plugin`]: the compiled component, pre-linked
//! (`instantiate_pre`) so making an instance is cheap, with its
//! configuration and its [`pool`] of idle instances. Every call runs under
//! the [`limits`](crate::limits): a trap, a deadline or a memory cap ends
//! only that call, and the instance it poisoned is thrown away.

pub mod cache;
pub mod chain;
pub mod locate;
pub mod pool;
pub mod spec;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store, Trap};

use crate::limits::{EpochTicker, InstanceLimiter, PluginLimits};
use cache::{CompileCache, Compiled, Digest256};
use pool::InstancePool;

pub use bindings::yell::plugin::types::{BatchReply, LineError};

/// Host-side bindings generated from `wit/plugin.wit`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "plugin",
    });
}

/// The WIT world a plugin component must implement, for error messages.
pub const PLUGIN_WORLD: &str = "yell:plugin/plugin@0.1.0";

/// What a plugin instance's store carries: its memory limiter, and its name
/// for the log import.
pub struct PluginState {
    limiter: InstanceLimiter,
    plugin_name: Arc<str>,
}

impl bindings::yell::plugin::types::Host for PluginState {}

impl bindings::yell::plugin::log::Host for PluginState {
    fn log(&mut self, level: bindings::yell::plugin::log::Level, message: String) {
        use bindings::yell::plugin::log::Level;
        let plugin = &*self.plugin_name;
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// The process-wide wasm machinery every plugin is compiled and run with.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<PluginState>,
    limits: PluginLimits,
    /// Compiled plugins kept across runs; none when turned off.
    cache: Option<CompileCache>,
    /// Keeps call deadlines moving; stops when the runtime is dropped.
    _epoch_ticker: EpochTicker,
}

impl PluginRuntime {
    pub fn new(limits: PluginLimits, cache: Option<CompileCache>) -> Result<Self> {
        let mut config = wasmtime::Config::new();
        // Deadlines: each call gets a number of epoch ticks to finish.
        config.epoch_interruption(true);
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
        let epoch_ticker = EpochTicker::start(&engine).context("starting the epoch ticker")?;
        Ok(PluginRuntime {
            engine,
            linker,
            limits,
            cache,
            _epoch_ticker: epoch_ticker,
        })
    }

    /// Loads the plugin file at `path`: checks it is a component of the
    /// plugin world, compiles it and makes one instance, initialized with
    /// `config`, to prove it works before anything depends on it.
    pub fn load(&self, path: &Path, config: &[(String, String)]) -> Result<Plugin> {
        let file = PluginFile::read(path)?;
        self.load_file(&file, config)
    }

    /// [`load`](Self::load) for a file already read.
    pub fn load_file(&self, file: &PluginFile, config: &[(String, String)]) -> Result<Plugin> {
        let path = &file.path;
        let shown = path.display();
        let (bytes, digest) = (&file.bytes, file.digest);
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
                "plugin {shown}: imports something the host does not offer (a plugin may import only yell:plugin/log)"
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
        let plugin = Plugin {
            name,
            digest,
            pool: InstancePool::new(pre, config.to_vec(), self.limits),
        };
        // Instantiating and initializing one instance now turns a plugin that
        // traps in init or refuses its configuration into a load error.
        plugin
            .pool
            .warm_up(&plugin.name)
            .with_context(|| format!("plugin {shown}: cannot start it"))?;
        Ok(plugin)
    }
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
    /// SHA-256 of the file it was loaded from.
    digest: Digest256,
    pool: InstancePool,
}

/// One instance of a plugin with the store it lives in.
pub struct PluginInstance {
    store: Store<PluginState>,
    bindings: bindings::Plugin,
    deadline_ticks: u64,
}

impl PluginInstance {
    fn arm_deadline(&mut self) {
        self.store.set_epoch_deadline(self.deadline_ticks);
    }

    /// The plugin's exports with the store to call them in.
    fn exports(
        &mut self,
    ) -> (
        &bindings::exports::yell::plugin::transform::Guest,
        &mut Store<PluginState>,
    ) {
        (self.bindings.yell_plugin_transform(), &mut self.store)
    }
}

impl Plugin {
    /// The plugin's name in logs: its file name without extension.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the file it was loaded from: a file with the same digest
    /// would load the same plugin.
    pub fn digest(&self) -> &Digest256 {
        &self.digest
    }

    /// Runs `call` on an idle instance; an instance whose call failed is
    /// thrown away, since a trap may have left it in any state.
    fn with_instance<R>(
        &self,
        call: impl FnOnce(&mut PluginInstance) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let mut instance = self
            .pool
            .checkout(&self.name)
            .map_err(PluginError::from_start)?;
        instance.arm_deadline();
        match call(&mut instance) {
            Ok(value) => {
                self.pool.give_back(instance);
                Ok(value)
            }
            Err(error) => Err(PluginError::from_call(error)),
        }
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
    pub fn transform_batch(&self, conn: u64, lines: &[u8]) -> Result<BatchReply, PluginError> {
        let reply = self.with_instance(|instance| {
            let (exports, store) = instance.exports();
            exports.call_transform_batch(store, conn, lines)
        })?;
        self.check_reply_size(reply.output.len())?;
        Ok(reply)
    }

    /// Transforms a raw chunk (no framing).
    pub fn transform_raw(&self, conn: u64, chunk: &[u8]) -> Result<Vec<u8>, PluginError> {
        let reply = self
            .with_instance(|instance| {
                let (exports, store) = instance.exports();
                exports.call_transform_raw(store, conn, chunk)
            })?
            .map_err(PluginError::Refused)?;
        self.check_reply_size(reply.len())?;
        Ok(reply)
    }

    /// Asks for the greeting of a new connection.
    pub fn connection_opened(&self, conn: u64) -> Result<Vec<u8>, PluginError> {
        let reply = self.with_instance(|instance| {
            let (exports, store) = instance.exports();
            exports.call_connection_opened(store, conn)
        })?;
        self.check_reply_size(reply.len())?;
        Ok(reply)
    }

    /// Tells the plugin a connection ended; returns its last words.
    pub fn connection_closed(&self, conn: u64) -> Result<Vec<u8>, PluginError> {
        let reply = self.with_instance(|instance| {
            let (exports, store) = instance.exports();
            exports.call_connection_closed(store, conn)
        })?;
        self.check_reply_size(reply.len())?;
        Ok(reply)
    }

    /// How many idle instances are pooled now.
    pub fn idle_instances(&self) -> usize {
        self.pool.idle_count()
    }
}

/// Why a call into a plugin gave no answer. Its `Display` is what the client
/// sees after `ERR plugin: `, so it says what happened without internals.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The call ran past its deadline and was interrupted.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The guest trapped (a panic, an out-of-bounds access, a stack overflow,
    /// the memory cap...).
    #[error("trapped: {0}")]
    Trapped(String),
    /// No instance could be made to run the call.
    #[error("cannot start an instance: {0}")]
    Start(String),
    /// The reply was larger than the reply size limit.
    #[error("reply too large: {bytes} bytes, the limit is {max}")]
    ReplyTooLarge { bytes: usize, max: usize },
    /// The plugin itself answered with an error.
    #[error("{0}")]
    Refused(String),
    /// One plugin of a chain failed.
    #[error("{stage}: {error}")]
    InStage {
        stage: Arc<str>,
        error: Box<PluginError>,
    },
}

impl PluginError {
    fn from_call(error: wasmtime::Error) -> Self {
        // The wasm backtrace is for the operator, not the client.
        tracing::debug!("plugin call failed: {error:?}");
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginError::DeadlineExceeded,
            Some(trap) => PluginError::Trapped(trap.to_string()),
            // Errors raised by the host on the guest's behalf, such as the
            // memory cap refusing to grow a memory: the root cause says it.
            None => PluginError::Trapped(error.root_cause().to_string()),
        }
    }

    fn from_start(error: anyhow::Error) -> Self {
        PluginError::Start(format!("{error:#}"))
    }

    /// A short stable name for the kind of failure, for logs and stats.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::DeadlineExceeded => "deadline",
            PluginError::Trapped(_) => "trap",
            PluginError::Start(_) => "start",
            PluginError::ReplyTooLarge { .. } => "reply_too_large",
            PluginError::Refused(_) => "refused",
            PluginError::InStage { error, .. } => error.kind(),
        }
    }
}
