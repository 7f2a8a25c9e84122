//! What a plugin instance's store carries, and the host side of the
//! imports every plugin may use (`yell:plugin/log`, `yell:plugin/connection`,
//! WASI).
//!
//! Owns: [`PluginState`] and what it holds of a synchronous call until the
//! call counts (log lines, the effects of the embedder's host imports).
//! Uses: the bindings, the limits an instance runs under (memory, deadline
//! clock, admission place), the plugin log and the open connections.

use std::sync::Arc;

use crate::admission::LiveInstance;
use crate::bindings::asynchronous as bindings;
use crate::connections::OpenConnections;
use crate::deadline::CallClock;
use crate::log::{self, PluginLog};
use crate::memory::InstanceLimiter;

/// What a plugin instance's store carries (host imports reach it in their
/// functions): its memory limiter, its plugin's
/// log (for the log import), the deadline clock of the call it runs, and its
/// place in the count of live instances.
pub struct PluginState {
    pub(crate) limiter: InstanceLimiter,
    /// The open client connections, for the `connection.info` import.
    pub(crate) connections: Arc<OpenConnections>,
    pub(crate) log: Arc<PluginLog>,
    pub(crate) clock: CallClock,
    /// Set when the plugin said it panicked: its trap is then a panic.
    pub(crate) panicked: bool,
    /// What a synchronous call did outside its instance (log lines, host
    /// imports' effects), held until it ends: a call cut at the end of its
    /// slice runs again, and what it did must happen once.
    pub(crate) held: Option<HeldUntilCounted>,
    /// WASI, granting nothing by default (see `wasi`).
    pub(crate) wasi: wasmtime_wasi::WasiCtx,
    /// The WASI resources (streams...) the instance holds.
    pub(crate) table: wasmtime::component::ResourceTable,
    /// Its place among the instances alive (see `LiveInstance`).
    pub(crate) live: LiveInstance,
    /// What the embedder's host imports know of the plugin.
    pub(crate) extensions: Extensions,
}

/// What the embedder's host imports know of one plugin, shared by its
/// instances (see `HostImport::plugin_data`).
pub(crate) type Extensions = Vec<Arc<dyn std::any::Any + Send + Sync>>;

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
        match &mut self.held {
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
/// more is made again asynchronously (see `call::run_synchronously`).
const MAX_HELD_LOG_LINES: usize = 256;

/// Host imports' effects of one synchronous call held until it ends (a
/// metric recorded per line of a large batch); a call with more is made
/// again asynchronously, where they happen as they come.
const MAX_HELD_EFFECTS: usize = 16 * 1024;

/// Something a host import does outside the instance, once the call counts.
type Effect = Box<dyn FnOnce() + Send>;

/// What a synchronous call did outside its instance, until it ends.
#[derive(Default)]
pub(crate) struct HeldUntilCounted {
    lines: Vec<(log::Level, String)>,
    effects: Vec<Effect>,
    /// The call logged or did more than is held.
    overflowed: bool,
}

impl PluginState {
    /// What a host import said of this instance's plugin (its
    /// `HostImport::plugin_data`), found by its type.
    pub fn extension<T: std::any::Any + Send + Sync>(&self) -> Option<&T> {
        self.extensions
            .iter()
            .find_map(|data| data.downcast_ref::<T>())
    }

    /// The instance's resource table, where a host import keeps the
    /// handles it gives the plugin.
    pub fn resources(&mut self) -> &mut wasmtime::component::ResourceTable {
        &mut self.table
    }

    /// Does `effect` (something a host import does outside the instance,
    /// such as recording a metric) once the call running now counts: at
    /// once in a call that cannot be made again, at its end in a
    /// synchronous call, and never if that call is cut and made again from
    /// the start (the new call does it instead). So a call that is made
    /// twice does it once.
    pub fn when_call_counts(&mut self, effect: impl FnOnce() + Send + 'static) {
        match &mut self.held {
            Some(held) if held.effects.len() < MAX_HELD_EFFECTS => {
                held.effects.push(Box::new(effect))
            }
            // Too many to hold: the call will be made again the way whose
            // effects happen as they come.
            Some(held) => held.overflowed = true,
            None => effect(),
        }
    }

    /// Holds the log lines and effects of the call about to run until
    /// [`release_held`](Self::release_held).
    pub(crate) fn hold_until_counted(&mut self) {
        self.held = Some(HeldUntilCounted::default());
    }

    /// Whether the call logged or did more than is held.
    pub(crate) fn held_overflowed(&self) -> bool {
        self.held.as_ref().is_some_and(|held| held.overflowed)
    }

    /// Writes the held log lines and does the held effects (the call
    /// counted), or drops them (it is made again), and stops holding.
    pub(crate) fn release_held(&mut self, counted: bool) {
        let Some(held) = self.held.take() else {
            return;
        };
        if counted {
            for (level, message) in held.lines {
                self.log.write(level, &message);
            }
            for effect in held.effects {
                effect();
            }
        }
    }
}
