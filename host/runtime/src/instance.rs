//! One plugin instance: the store it lives in and where its exports are,
//! and which export a call runs with what it answers.
//!
//! Owns: [`PluginInstance`], [`Export`], [`Output`]. Uses: the bindings,
//! the store's state and the admission place an instance holds.

use wasmtime::Store;

use crate::admission::InstancePlace;
use crate::bindings::{asynchronous, synchronous};
use crate::reply::BatchReply;
use crate::state::PluginState;

/// One instance of a plugin with the store it lives in.
pub(crate) struct PluginInstance {
    pub(crate) store: Store<PluginState>,
    /// Boxed: an instance moves in and out of the pool for every call.
    pub(crate) exports: Box<InstanceExports>,
    /// Linear memory right after `init`: what the plugin needs to run at
    /// all (a few KiB for Rust, tens of MiB for an interpreter).
    pub(crate) memory_after_init: usize,
}

/// Where an instance's exports are, to call them either way.
pub(crate) struct InstanceExports {
    pub(crate) asynchronous: asynchronous::Plugin,
    /// For plugins that can be called synchronously.
    pub(crate) synchronous: Option<synchronous::Plugin>,
}

impl PluginInstance {
    /// Whether it is of a plugin that can be called synchronously.
    pub(crate) fn runs_synchronously(&self) -> bool {
        self.exports.synchronous.is_some()
    }

    /// Drops the instance and keeps its place, for the instance that
    /// replaces it.
    pub(crate) fn into_place(self) -> InstancePlace {
        let state = self.store.into_data();
        InstancePlace {
            live: state.live,
            memory: Some(state.limiter.into_reservation()),
        }
    }
}

/// Which export of the plugin a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Export {
    /// `transform-batch` on the input.
    Batch,
    /// `transform-raw` on the input.
    Raw,
    /// `connection-opened`: the greeting.
    Opened,
    /// `connection-closed`: the last words.
    Closed,
}

/// What an export answered.
pub(crate) enum Output {
    Batch(BatchReply),
    Raw(Result<Vec<u8>, String>),
    Bytes(Vec<u8>),
}
