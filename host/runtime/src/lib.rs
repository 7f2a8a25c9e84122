//! The yell plugin runtime: loads WebAssembly line-transform components
//! (the `yell:plugin/plugin` world of `wit/plugin.wit`), checks them, and
//! calls them under limits, returning replies that have passed the reply
//! contract, or a typed failure.
//!
//! It knows no command line, sockets or HTTP: an embedder (the yell-host
//! server, `pipe`, the load client's verify mode, a plugin's tests) gives
//! it plain values and bytes.
//!
//! - [`PluginRuntime`]: the engine (with its epoch ticker), the linker, the
//!   slow lane, the memory budget. [`PluginRuntime::load_source`] runs the
//!   load-time checks (digest pin, signature, component, world, imports)
//!   on a [`PluginSource`]'s bytes and gives a [`Plugin`].
//! - [`Pipeline`]: a chain of plugins, what connections call;
//!   [`Pipeline::transform_batch`] answers a [`CheckedReply`] or a
//!   [`PluginError`].
//! - [`LineFramer`] and [`encode_replies`]: the host's own framing, bytes
//!   to batches of lines and replies back to bytes; [`LineSession`] runs a
//!   conversation through them without a socket, and
//!   [`LineSession::converse`] a whole one at once: with
//!   [`PluginRuntime::load_source`] it is what a plugin's tests run, the
//!   checks of the server on the author's machine.
//! - [`HostImport`]: host functions an embedder adds to the linker.
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("yell-runtime-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let path = dir.join("uppercase.wasm");
//! # std::fs::write(&path, include!("../tests/fixtures/uppercase_component.rs"))?;
//! use yell_runtime::{
//!     block_on, Pipeline, PluginLimits, PluginRuntime, PluginSource, PluginSpec, TrustPolicy,
//! };
//!
//! let runtime = PluginRuntime::new(PluginLimits::default(), None, TrustPolicy::default())?;
//! // Bytes from anywhere: a file here, a registry pull or an embedded default.
//! let source = PluginSource::read(&path)?;
//! let plugin = runtime.load_source(&source, &PluginSpec::new(path.clone()))?;
//! let chain = Pipeline::new(1, vec![std::sync::Arc::new(plugin)]);
//! match block_on(chain.transform_batch(7, "hello\nworld\n".into(), 2)) {
//!     Ok(reply) => {
//!         assert_eq!(reply.output(), b"HELLO\nWORLD\n");
//!         assert_eq!(reply.ends(), [6, 12]);
//!     }
//!     Err(failure) => panic!("{} failure: {failure}", failure.kind().name()),
//! }
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod admission;
mod bindings;
mod cache;
mod call;
mod chain;
mod connections;
mod deadline;
mod engine;
mod failure;
mod framing;
mod instance;
mod limits;
mod log;
mod memory;
mod plugin;
mod pool;
mod provenance;
mod reply;
mod session;
mod slow_lane;
mod source;
mod spec;
mod state;
mod ticker;
mod usage;
mod wasi;

pub use cache::{digest, CompileCache, Digest256};
pub use chain::Pipeline;
pub use connections::{Addresses, OpenConnection, OpenConnections};
pub use deadline::DeadlineExceeded;
pub use engine::{HostImport, PluginRuntime, HOST_WAITING_BATCH_LINES, PLUGIN_WORLD};
pub use failure::{FailureKind, PluginError};
pub use framing::{
    encode_replies, push_error_line, write_error_text, Batch, FrameError, Framing, LineFramer,
};
pub use limits::{Isolation, PluginLimits, DEFAULT_INSTANCE_MEMORY, DEFAULT_WALL_MULTIPLE};
pub use plugin::Plugin;
pub use provenance::{digest_hex, parse_digest, Provenance, SignerKey, TrustPolicy, TrustedKey};
pub use reply::{BatchReply, CheckedReply, LineError, MalformedReply};
pub use session::{Conversation, FailureOf, LineSession, SessionFailure};
pub use slow_lane::block_on;
pub use source::{
    plugin_name, signature_path, DetachedSignature, FileReader, PluginSource, SourceReader,
};
pub use spec::{DirGrant, Grants, HeldDir, OwnLimits, PluginSpec};
pub use state::PluginState;
pub use usage::{PluginUsage, PLUGIN_CALL_SECONDS};
