//! One plugin call, as a self-contained future that owns everything it
//! touches (the instance, the input), so that it can start inline on an
//! event-loop thread and, if it outlives its slice, finish in the slow lane
//! ([`crate::slow_lane`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Sleep;

use super::failure::PluginError;
use super::pool::Checkout;
use super::{BatchReply, PluginInstance};
use crate::limits::DeadlineExceeded;

/// Which export of the plugin a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
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
pub enum Output {
    Batch(BatchReply),
    Raw(Result<Vec<u8>, String>),
    Bytes(Vec<u8>),
}

/// A finished call: its result, and its instance if the call succeeded (a
/// failed call's instance is dropped: a trap may have left it in any state).
pub struct Done {
    pub instance: Option<PluginInstance>,
    pub result: Result<Output, PluginError>,
}

/// Runs `export` on the checked-out instance (making it first, if the pool
/// had none idle), under the call's deadline, and under its wall-clock
/// ceiling even while it waits on the host (a WASI sleep or socket, in
/// `init` or in the call): the epoch deadline stops only code that runs.
pub async fn run(checkout: Checkout, export: Export, conn: u64, input: Bytes) -> Done {
    let ceiling = match &checkout {
        Checkout::Idle(instance) => instance.store.data().clock.ceiling(),
        Checkout::New(new) => new.pool.limits().wall_timeout,
    };
    match within_wall_clock(ceiling, run_on(checkout, export, conn, input)).await {
        Some(done) => done,
        None => Done {
            instance: None,
            result: Err(PluginError::Deadline(DeadlineExceeded::WallClock(ceiling))),
        },
    }
}

/// [`run`] without the ceiling.
async fn run_on(checkout: Checkout, export: Export, conn: u64, input: Bytes) -> Done {
    let mut instance = match checkout {
        Checkout::Idle(instance) => instance,
        // Boxed: a pool miss is rare, and the future of every call is as
        // large as its largest state, which is moved and copied per call.
        Checkout::New(new) => match Box::pin(new.pool.instantiate(new.live)).await {
            Ok(instance) => instance,
            Err(error) => {
                return Done {
                    instance: None,
                    result: Err(error),
                }
            }
        },
    };
    let state = instance.store.data_mut();
    state.clock.restart();
    // A plugin that said it panicked and then did not trap has not panicked
    // in this call.
    state.panicked = false;
    instance.store.set_epoch_deadline(1);
    let exports = instance.bindings.yell_plugin_transform();
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
    match result {
        Ok(output) => Done {
            instance: Some(instance),
            result: Ok(output),
        },
        Err(error) => Done {
            result: Err(match instance.store.data().panicked {
                true => PluginError::Panicked,
                false => PluginError::from_call(error),
            }),
            instance: None,
        },
    }
}

/// `call`, bounded by the wall clock while it waits on the host too: the
/// epoch deadline stops a plugin that runs, not one parked in a WASI sleep
/// or read. The timer is made only when the call first waits, so the calls
/// that finish at once (nearly all) pay no clock read for it; it counts
/// from then, so the ceiling may come up to one inline slice late, never
/// early. `None` when the ceiling passed (the call is dropped, and its
/// instance with it).
pub async fn within_wall_clock<F: Future>(ceiling: Duration, call: F) -> Option<F::Output> {
    WallClockCeiling {
        call: std::pin::pin!(call),
        ceiling,
        timer: None,
    }
    .await
}

struct WallClockCeiling<'a, F> {
    call: Pin<&'a mut F>,
    ceiling: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<F: Future> Future for WallClockCeiling<'_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = self.call.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if self.timer.is_none() && tokio::runtime::Handle::try_current().is_ok() {
            self.timer = Some(Box::pin(tokio::time::sleep(self.ceiling)));
        }
        match self.timer.as_mut().map(|timer| timer.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(None),
            _ => Poll::Pending,
        }
    }
}
