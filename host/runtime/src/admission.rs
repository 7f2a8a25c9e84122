//! What one instance counts against the admission limits: its place among
//! a plugin's live instances, and the memory it holds against the budget of
//! all instances.
//!
//! Owns: [`LiveInstance`] and [`InstancePlace`]. Uses: the memory budget's
//! reservations.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::memory::MemoryReservation;

/// What one instance counts against the admission limits: its place among
/// the live instances and, when it replaces a dropped instance, the memory
/// that one held. A cut call's place goes to the instance that makes the
/// call again, so that no other call can take it in between and the retry
/// cannot be refused.
pub(crate) struct InstancePlace {
    pub(crate) live: LiveInstance,
    pub(crate) memory: Option<MemoryReservation>,
}

/// Counts one instance as alive until dropped (it goes with the instance's
/// store, wherever that is dropped).
pub(crate) struct LiveInstance(Arc<AtomicUsize>);

impl LiveInstance {
    /// Counts one more instance in `live`, and returns how many were alive
    /// before it.
    pub(crate) fn count(live: &Arc<AtomicUsize>) -> (LiveInstance, usize) {
        let before = live.fetch_add(1, Ordering::Relaxed);
        (LiveInstance(live.clone()), before)
    }
}

impl Drop for LiveInstance {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
