//! Host-side bindings generated from `wit/plugin.wit`, twice over the same
//! instances: [`asynchronous`] exports can be suspended at the end of their
//! inline slice and finished on another thread; [`synchronous`] ones are
//! plain calls, the cheapest there are, for plugins that can only compute.
//!
//! Owns: the generated types. Uses: nothing of this crate.

/// Exports called asynchronously: a call can then be suspended at the end of
/// its inline slice and finished on another thread.
#[allow(missing_docs)]
pub mod asynchronous {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "plugin",
        exports: { default: async },
    });
}

/// The same exports called synchronously, on the same instances: no fiber,
/// the cheapest call there is, for plugins that can only compute. The types
/// and imports are those of [`asynchronous`].
#[allow(missing_docs)]
pub mod synchronous {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "plugin",
        with: {
            "yell:plugin/types": super::asynchronous::yell::plugin::types,
            "yell:plugin/log": super::asynchronous::yell::plugin::log,
            "yell:plugin/connection": super::asynchronous::yell::plugin::connection,
        },
    });
}
