//! One plugin call, made one of two ways:
//! - [`run`]: a self-contained future that owns everything it touches (the
//!   instance, the input), so that it can start inline on an event-loop
//!   thread and, if it outlives its slice, finish in the slow lane
//!   ([`crate::slow_lane`]). Any plugin can be called so.
//! - [`run_synchronously`]: a plain call on this thread, with no fiber, for
//!   plugins that can only compute: the cheapest call there is. One that
//!   outlives its slice cannot be suspended, so it is cut, and [`run`] makes
//!   it again from the start in the slow lane. That is why only plugins
//!   that can only compute qualify: running one again gives the same answer
//!   and reaches nothing outside its instance, and its log lines are held
//!   until the call ends, so a cut call leaves no trace. A plugin whose
//!   call was cut is called the first way for a while
//!   ([`SynchronousPause`]), so one whose calls are often slow does not
//!   lose a slice of work on each.
//!
//! Owns: making one call. Uses: the pool, the instance and its admission place, the
//! deadline, the ticker, the slow lane.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::admission::InstancePlace;
use crate::deadline::{within_wall_clock, DeadlineExceeded, SliceEnded};
use crate::failure::PluginError;
use crate::instance::{Export, Output, PluginInstance};
use crate::pool::Checkout;
use std::sync::Arc;

use crate::ticker::{Running, TickClock};

/// A finished call: its result, and its instance if the call succeeded (a
/// failed call's instance is dropped: a trap may have left it in any state).
pub(crate) struct Done {
    pub(crate) instance: Option<PluginInstance>,
    pub(crate) result: Result<Output, PluginError>,
}

/// Runs `export` on the checked-out instance (making it first, if the pool
/// had none idle), under the call's deadline, and under its wall-clock
/// ceiling even while it waits on the host (a WASI sleep or socket, in
/// `init` or in the call): the epoch deadline stops only code that runs.
pub(crate) async fn run(
    checkout: Checkout,
    export: Export,
    conn: u64,
    input: Bytes,
    ticks: Arc<TickClock>,
) -> Done {
    let ceiling = match &checkout {
        Checkout::Idle(instance) => instance.store.data().clock.ceiling(),
        Checkout::New(new) => new.pool.limits().wall_timeout,
    };
    match within_wall_clock(ceiling, run_on(checkout, export, conn, input, ticks)).await {
        Some(done) => done,
        None => Done {
            instance: None,
            result: Err(PluginError::Deadline(DeadlineExceeded::WallClock(ceiling))),
        },
    }
}

/// [`run`] without the ceiling.
async fn run_on(
    checkout: Checkout,
    export: Export,
    conn: u64,
    input: Bytes,
    ticks: Arc<TickClock>,
) -> Done {
    let mut instance = match checkout {
        Checkout::Idle(instance) => instance,
        // Boxed: a pool miss is rare, and the future of every call is as
        // large as its largest state, which is moved and copied per call.
        Checkout::New(new) => match Box::pin(new.pool.instantiate(new.place)).await {
            Ok(instance) => instance,
            Err(error) => {
                return Done {
                    instance: None,
                    result: Err(error),
                }
            }
        },
    };
    let _running = Running::begin(&ticks);
    let state = instance.store.data_mut();
    state.clock.restart(ticks.last_tick());
    // A plugin that said it panicked and then did not trap has not panicked
    // in this call.
    state.panicked = false;
    instance.store.set_epoch_deadline(1);
    let exports = instance.exports.asynchronous.yell_plugin_transform();
    let store = &mut instance.store;
    let result = match export {
        Export::Batch => exports
            .call_transform_batch(store, conn, &input)
            .await
            .map(Output::Batch),
        Export::Raw => exports
            .call_transform_raw(store, conn, &input)
            .await
            .map(Output::Raw),
        Export::Opened => exports
            .call_connection_opened(store, conn)
            .await
            .map(Output::Bytes),
        Export::Closed => exports
            .call_connection_closed(store, conn)
            .await
            .map(Output::Bytes),
    };
    if crate::slow_lane::cpu_clock().is_some() {
        let (running, wall) = instance.store.data().clock.elapsed();
        tracing::debug!(
            plugin = &**instance.store.data().log.name(),
            ?export,
            "call finished in the slow lane: ran {running:.1?} in {wall:.1?}"
        );
    }
    finish(instance, result)
}

/// How a synchronous call ended.
pub(crate) enum Synchronous {
    /// It ran to its end, well or not.
    Done(Done),
    /// It was cut at the end of its inline slice, or it logged more lines
    /// than are held (its instance is dropped, and nothing it did counts):
    /// make it again with [`run`], in the place the instance held.
    Cut(InstancePlace),
}

/// Runs `export` on `instance` synchronously on this thread, which must
/// not be inside another call. The instance must be of a plugin that can
/// be called so ([`PluginInstance::runs_synchronously`]).
pub(crate) fn run_synchronously(
    mut instance: PluginInstance,
    export: Export,
    conn: u64,
    input: &[u8],
    ticks: &TickClock,
) -> Synchronous {
    let running = Running::begin(ticks);
    let state = instance.store.data_mut();
    state.clock.restart_synchronous(ticks.last_tick());
    state.panicked = false;
    state.hold_until_counted();
    instance.store.set_epoch_deadline(1);
    let exports = instance
        .exports
        .synchronous
        .as_ref()
        .expect("called synchronously only if it can be")
        .yell_plugin_transform();
    let store = &mut instance.store;
    let result = match export {
        Export::Batch => exports
            .call_transform_batch(store, conn, input)
            .map(Output::Batch),
        Export::Raw => exports
            .call_transform_raw(store, conn, input)
            .map(Output::Raw),
        Export::Opened => exports
            .call_connection_opened(store, conn)
            .map(Output::Bytes),
        Export::Closed => exports
            .call_connection_closed(store, conn)
            .map(Output::Bytes),
    };
    drop(running);
    let state = instance.store.data_mut();
    // A call that logged or recorded more than is held is made again too,
    // with its lines written as they come (it may have trapped or
    // panicked: it will again, saying all it says).
    let cut = state.held_overflowed()
        || (!state.panicked
            && matches!(&result, Err(error) if error.downcast_ref::<SliceEnded>().is_some()));
    state.release_held(!cut);
    if cut {
        return Synchronous::Cut(instance.into_place());
    }
    Synchronous::Done(finish(instance, result))
}

/// The end of a call either way: its instance goes back if it succeeded.
fn finish(instance: PluginInstance, result: wasmtime::Result<Output>) -> Done {
    match result {
        Ok(output) => Done {
            instance: Some(instance),
            result: Ok(output),
        },
        Err(error) => Done {
            result: Err(match instance.store.data().panicked {
                true => PluginError::panicked(error),
                false => PluginError::from_call(error),
            }),
            instance: None,
        },
    }
}

/// How long a plugin whose call was cut is called asynchronously.
pub const PAUSE_AFTER_A_CUT: Duration = Duration::from_secs(1);

/// When a plugin may be called synchronously again after a cut: a call
/// that runs longer than a slice and is cut loses that slice of work, so
/// after a cut the plugin's calls go the way that can be suspended without
/// loss, for [`PAUSE_AFTER_A_CUT`]. A plugin with a slow call now and then
/// loses at most one slice a second.
pub(crate) struct SynchronousPause {
    /// What `until` counts from.
    origin: Instant,
    /// Nanoseconds after `origin` until which calls are asynchronous; 0
    /// when they are not paused (no clock read then).
    until: AtomicU64,
}

impl Default for SynchronousPause {
    fn default() -> Self {
        SynchronousPause {
            origin: Instant::now(),
            until: AtomicU64::new(0),
        }
    }
}

impl SynchronousPause {
    /// Whether a call starting now may run synchronously.
    pub(crate) fn allows(&self) -> bool {
        let until = self.until.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        if self.nanos(Instant::now()) < until {
            return false;
        }
        // Over: calls need no clock again (unless a cut came meanwhile).
        let _ = self
            .until
            .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed);
        true
    }

    /// A call was cut now.
    pub(crate) fn cut(&self) {
        let until = self.nanos(Instant::now() + PAUSE_AFTER_A_CUT);
        self.until.fetch_max(until, Ordering::Relaxed);
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_pauses_synchronous_calls_for_a_while() {
        let pause = SynchronousPause::default();
        assert!(pause.allows());
        pause.cut();
        assert!(!pause.allows());
        // As if the pause had begun long ago.
        pause.until.store(1, Ordering::Relaxed);
        assert!(pause.allows());
        assert_eq!(pause.until.load(Ordering::Relaxed), 0);
    }
}
