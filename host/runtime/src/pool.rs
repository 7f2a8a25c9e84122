//! A pool of idle, initialized instances of one plugin, and the admission
//! limit on how many instances it may have alive.
//!
//! Connections do not own instances: a connection checks one out for one
//! call and gives it back, so ten thousand idle connections hold no instance
//! and the number of instances follows the number of calls running at once.
//! A slow call holds its instance for as long as it runs, so live instances
//! (busy or idle) are capped per plugin (`--max-instances`), and their
//! memory for all plugins together (`--plugin-memory-total`): a call past
//! either limit is refused at once with an error, rather than queued. An
//! instance whose call failed is never given back.
//!
//! Owns: [`InstancePool`], checkouts and admission. Uses: the instance and its state, the
//! limits (memory, deadline, ticker), WASI, the plugin log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime::Store;

use crate::admission::{InstancePlace, LiveInstance};
use crate::bindings::{asynchronous as bindings, synchronous as sync_bindings};
use crate::connections::OpenConnections;
use crate::deadline::{within_wall_clock, DeadlineExceeded};
use crate::failure::PluginError;
use crate::instance::{Export, InstanceExports, PluginInstance};
use crate::limits::{Isolation, PluginLimits};
use crate::log::PluginLog;
use crate::memory::{InstanceLimiter, MemoryBudget};
use crate::slow_lane::block_on;
use crate::spec::Grants;
use crate::state::{Extensions, PluginState};
use crate::ticker::{Running, TickClock};

/// An instance that grew by more than this since its `init` is dropped after
/// its call instead of pooled, so a burst's memory is given back to the
/// system. Judged against the size after `init`, so that a plugin that
/// needs much memory to run at all (a Python interpreter) is not made
/// again for every batch.
const POOLED_INSTANCE_MAX_GROWTH: usize = 16 << 20;

pub(crate) struct InstancePool {
    pre: bindings::PluginPre<PluginState>,
    /// Where the exports are in an instance, to be called asynchronously.
    exports: bindings::PluginIndices,
    /// The same, to be called synchronously; for plugins that can be.
    sync_exports: Option<sync_bindings::PluginIndices>,
    /// The open client connections, for the instances' `connection.info`.
    connections: Arc<OpenConnections>,
    /// The plugin's name, for error messages.
    name: Arc<str>,
    /// The plugin's log, for its instances' log lines.
    log: Arc<PluginLog>,
    /// Handed to every new instance's `init`.
    config: Vec<(String, String)>,
    /// What its instances may reach through WASI.
    grants: Grants,
    /// What the embedder's host imports know of the plugin.
    extensions: Extensions,
    limits: PluginLimits,
    /// Memory of all instances of all plugins.
    budget: MemoryBudget,
    /// Instances ready for any connection. Under `--isolation connection`
    /// or `call`, only instances that never served a call.
    idle: Mutex<Vec<PluginInstance>>,
    /// Under `--isolation connection`: each connection's own instance,
    /// between its calls.
    owned: Mutex<HashMap<u64, PluginInstance>>,
    /// Idle instances kept beyond this are dropped rather than pooled.
    max_idle: usize,
    /// Instances alive, busy or idle (see [`LiveInstance`]).
    live: Arc<AtomicUsize>,
    /// The engine's tick clock: its calls count on it.
    ticks: Arc<TickClock>,
}

/// What a call gets from the pool.
pub(crate) enum Checkout {
    /// An idle, initialized instance.
    Idle(PluginInstance),
    /// The right to make a new instance (the call makes it, under its
    /// deadline, off the event loop if it is slow).
    New(NewInstance),
}

/// Permission to make one instance of a pool.
pub(crate) struct NewInstance {
    pub(crate) pool: Arc<InstancePool>,
    pub(crate) place: InstancePlace,
}

impl InstancePool {
    /// A pool of instances of `pre`, called synchronously when `synchronous`
    /// (the plugin can only compute), asynchronously otherwise.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        pre: bindings::PluginPre<PluginState>,
        synchronous: bool,
        connections: Arc<OpenConnections>,
        log: Arc<PluginLog>,
        config: Vec<(String, String)>,
        grants: Grants,
        extensions: Extensions,
        limits: PluginLimits,
        budget: MemoryBudget,
        ticks: Arc<TickClock>,
    ) -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        ticks.keep_idle_tick_within(limits.call_timeout);
        let exports = bindings::PluginIndices::new(pre.instance_pre())
            .expect("the exports were found when `pre` was made");
        let sync_exports = synchronous
            .then(|| sync_bindings::PluginIndices::new(pre.instance_pre()))
            .and_then(Result::ok);
        InstancePool {
            pre,
            exports,
            sync_exports,
            connections,
            name: log.name().clone(),
            log,
            config,
            grants,
            extensions,
            limits,
            budget,
            idle: Mutex::new(Vec::new()),
            owned: Mutex::new(HashMap::new()),
            max_idle: workers * 2,
            live: Arc::new(AtomicUsize::new(0)),
            ticks,
        }
    }

    /// An idle instance, or the right to make one, or a refusal when the
    /// admission limits are reached.
    pub(crate) fn checkout(self: &Arc<Self>, conn: u64) -> Result<Checkout, PluginError> {
        if self.limits.isolation == Isolation::Connection {
            let owned = self.owned.lock().expect("instance pool lock").remove(&conn);
            if let Some(instance) = owned {
                return Ok(Checkout::Idle(instance));
            }
        }
        let idle = self.idle.lock().expect("instance pool lock").pop();
        match idle {
            Some(instance) => Ok(Checkout::Idle(instance)),
            None => Ok(Checkout::New(self.admit()?)),
        }
    }

    /// An idle instance, or else a new one in `place` (which a dropped
    /// instance held): never refused.
    pub(crate) fn checkout_replacing(self: &Arc<Self>, place: InstancePlace) -> Checkout {
        let idle = self.idle.lock().expect("instance pool lock").pop();
        match idle {
            // The place is given up: the idle instance has one.
            Some(instance) => Checkout::Idle(instance),
            None => Checkout::New(NewInstance {
                pool: self.clone(),
                place,
            }),
        }
    }

    /// Makes one instance now, on this thread, and pools it: proves the
    /// plugin starts. The error says why it does not.
    pub(crate) fn warm_up(self: &Arc<Self>) -> Result<(), PluginError> {
        let new = self.admit()?;
        let ceiling = self.limits.wall_timeout;
        let made = within_wall_clock(ceiling, self.instantiate(new.place));
        let instance = block_on(made).ok_or_else(|| {
            PluginError::Start(format!(
                "init did not finish within {} of wall-clock time",
                humantime::format_duration(ceiling)
            ))
        })??;
        self.pool_idle(instance);
        Ok(())
    }

    /// Counts one more live instance, if the limits allow it.
    fn admit(self: &Arc<Self>) -> Result<NewInstance, PluginError> {
        let max = self.limits.max_instances;
        // Counted from here; a refusal below drops it, which uncounts it.
        let (live, before) = LiveInstance::count(&self.live);
        if before >= max {
            return Err(PluginError::Overloaded(format!(
                "{max} instances of {} are in use, the limit (--max-instances) is {max}",
                self.name
            )));
        }
        let used = self.budget.used();
        if used >= self.limits.total_memory_bytes {
            return Err(PluginError::Overloaded(format!(
                "plugin instances hold {} MiB, the limit (--plugin-memory-total) is {} MiB",
                used >> 20,
                self.limits.total_memory_bytes >> 20
            )));
        }
        Ok(NewInstance {
            pool: self.clone(),
            place: InstancePlace { live, memory: None },
        })
    }

    /// Returns an instance whose last call, `export` for connection `conn`,
    /// succeeded: to the pool, to its connection, or to nothing, as the
    /// isolation mode says.
    pub(crate) fn give_back(&self, conn: u64, export: Export, mut instance: PluginInstance) {
        // Memory kept for it and not grown into goes back to the budget.
        instance.store.data_mut().limiter.release_unused();
        match self.limits.isolation {
            Isolation::Pooled => self.pool_idle(instance),
            // Its connection ended: so does the instance.
            Isolation::Connection if export == Export::Closed => {}
            Isolation::Connection => {
                self.owned
                    .lock()
                    .expect("instance pool lock")
                    .insert(conn, instance);
            }
            Isolation::Call => {}
        }
    }

    /// Keeps an instance for any connection's next call.
    fn pool_idle(&self, instance: PluginInstance) {
        let grown = instance
            .store
            .data()
            .limiter
            .memory_bytes()
            .saturating_sub(instance.memory_after_init);
        if grown > POOLED_INSTANCE_MAX_GROWTH {
            return;
        }
        let mut idle = self.idle.lock().expect("instance pool lock");
        if idle.len() < self.max_idle {
            idle.push(instance);
        }
    }

    pub(crate) fn idle_count(&self) -> usize {
        self.idle.lock().expect("instance pool lock").len()
    }

    /// Instances alive, busy or idle.
    pub(crate) fn live_count(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The engine's tick clock, which the plugin's calls count on.
    pub(crate) fn ticks(&self) -> &Arc<TickClock> {
        &self.ticks
    }

    pub(crate) fn limits(&self) -> PluginLimits {
        self.limits
    }

    /// Makes and initializes an instance, under a deadline like any call:
    /// `init` counts as plugin time.
    pub async fn instantiate(&self, place: InstancePlace) -> Result<PluginInstance, PluginError> {
        // Plugin code runs from here (start functions, then `init`).
        let _running = Running::begin(&self.ticks);
        let limiter = match place.memory {
            Some(reserved) => InstanceLimiter::with_reservation(
                self.limits.memory_bytes,
                self.budget.clone(),
                reserved,
            ),
            None => InstanceLimiter::new(self.limits.memory_bytes, self.budget.clone()),
        };
        let state = PluginState {
            limiter,
            connections: self.connections.clone(),
            log: self.log.clone(),
            clock: self.limits.start_clock(self.ticks.last_tick()),
            panicked: false,
            held: None,
            wasi: crate::wasi::context(&self.log, &self.grants)
                .map_err(|error| PluginError::Start(format!("{error:#}")))?,
            table: wasmtime::component::ResourceTable::new(),
            live: place.live,
            extensions: self.extensions.clone(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|mut store| {
            store
                .data_mut()
                .clock
                .on_epoch()
                .map_err(wasmtime::Error::from)
        });
        store.set_epoch_deadline(1);
        let instance = self
            .pre
            .instance_pre()
            .instantiate_async(&mut store)
            .await
            .map_err(|error| start_failure(error, "instantiating it"))?;
        let asynchronous = self
            .exports
            .load(&mut store, &instance)
            .map_err(|error| start_failure(error, "instantiating it"))?;
        let synchronous = self
            .sync_exports
            .as_ref()
            .map(|exports| exports.load(&mut store, &instance))
            .transpose()
            .map_err(|error| start_failure(error, "instantiating it"))?;
        store.data_mut().clock = self.limits.start_clock(self.ticks.last_tick());
        store.set_epoch_deadline(1);
        let init = asynchronous
            .yell_plugin_transform()
            .call_init(&mut store, &self.config)
            .await;
        init.map_err(|error| match store.data().panicked {
            // Where and why went to the log; the client needs no more.
            true => PluginError::Start("init panicked".into()),
            false => start_failure(error, "init"),
        })?
        .map_err(|message| {
            PluginError::Start(format!("the plugin refused its configuration: {message}"))
        })?;
        let memory_after_init = store.data().limiter.memory_bytes();
        Ok(PluginInstance {
            store,
            exports: Box::new(InstanceExports {
                asynchronous,
                synchronous,
            }),
            memory_after_init,
        })
    }
}

/// Says why `step` of making an instance failed, in one line: a deadline is
/// named as such, not as a wasm backtrace ending in `interrupt`.
fn start_failure(error: wasmtime::Error, step: &str) -> PluginError {
    match PluginError::from_call(error) {
        PluginError::Deadline(DeadlineExceeded::RunningTime(limit)) => PluginError::Start(format!(
            "{step} did not finish within {}",
            humantime::format_duration(limit)
        )),
        PluginError::Deadline(DeadlineExceeded::WallClock(limit)) => PluginError::Start(format!(
            "{step} did not finish within {} of wall-clock time",
            humantime::format_duration(limit)
        )),
        PluginError::Trapped(why) => PluginError::Start(format!("{step} trapped: {why}")),
        other => other,
    }
}
