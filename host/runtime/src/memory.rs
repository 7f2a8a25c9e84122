//! Memory caps: one per instance (`--plugin-memory`) and one for all
//! instances of all plugins together (`--plugin-memory-total`), so that many
//! slow calls, each holding an instance, cannot exhaust the host's memory.
//!
//! Owns: [`MemoryBudget`] and [`InstanceLimiter`]. Uses: nothing else of this crate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use wasmtime::ResourceLimiter;

/// Most table elements an instance may have; far above what compiled Rust
/// needs (function tables hold a few hundred entries).
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The linear memory all instances hold together, against its cap. Shared
/// by every instance's limiter.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    used: Arc<AtomicUsize>,
    max: usize,
}

/// An instance could not get memory because all instances together hold
/// the total allowed: the host is overloaded, not the plugin at fault.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "all plugin instances together hold {used_mib} MiB of memory, the limit (--plugin-memory-total) is {max_mib} MiB"
)]
pub struct MemoryBudgetExhausted {
    pub used_mib: usize,
    pub max_mib: usize,
}

impl MemoryBudget {
    pub fn new(max: usize) -> Self {
        MemoryBudget {
            used: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Bytes held by all instances now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `bytes` from the budget, or refuses.
    fn take(&self, bytes: usize) -> Result<(), MemoryBudgetExhausted> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let wanted = used.saturating_add(bytes);
            if wanted > self.max {
                return Err(MemoryBudgetExhausted {
                    used_mib: used >> 20,
                    max_mib: self.max >> 20,
                });
            }
            match self.used.compare_exchange_weak(
                used,
                wanted,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Memory charged to the budget that no instance holds now: what a dropped
/// instance held, kept for the instance made to finish its work, so that
/// another call cannot take it in between. Given back when dropped.
#[derive(Debug)]
pub struct MemoryReservation {
    bytes: usize,
    budget: MemoryBudget,
}

#[cfg(test)]
impl MemoryReservation {
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// Caps one instance's linear memory, charges it to the shared budget, and
/// tracks how much it holds (so an instance that grew large can be dropped
/// rather than pooled). Dropping it gives the memory back to the budget.
#[derive(Debug)]
pub struct InstanceLimiter {
    max_memory: usize,
    /// Bytes of linear memory the instance holds now, all memories together.
    memory: usize,
    /// Bytes charged to the budget before the instance grew into them (a
    /// predecessor's [`MemoryReservation`]); growth uses them first.
    prepaid: usize,
    budget: MemoryBudget,
}

impl InstanceLimiter {
    pub fn new(max_memory: usize, budget: MemoryBudget) -> Self {
        InstanceLimiter {
            max_memory,
            memory: 0,
            prepaid: 0,
            budget,
        }
    }

    /// A limiter whose instance may grow into `reservation` without asking
    /// the budget again.
    pub fn with_reservation(
        max_memory: usize,
        budget: MemoryBudget,
        mut reservation: MemoryReservation,
    ) -> Self {
        let mut limiter = InstanceLimiter::new(max_memory, budget);
        // The bytes stay charged: from now on this limiter gives them back.
        limiter.prepaid = std::mem::take(&mut reservation.bytes);
        limiter
    }

    /// Bytes of linear memory the instance holds.
    pub fn memory_bytes(&self) -> usize {
        self.memory
    }

    /// Gives back what is prepaid and was not grown into.
    pub fn release_unused(&mut self) {
        // Checked first: the budget is shared by every instance, and this
        // runs after every call.
        if self.prepaid > 0 {
            self.budget.give_back(std::mem::take(&mut self.prepaid));
        }
    }

    /// Everything this limiter has charged, kept for another instance.
    pub fn into_reservation(mut self) -> MemoryReservation {
        let bytes = std::mem::take(&mut self.memory) + std::mem::take(&mut self.prepaid);
        MemoryReservation {
            bytes,
            budget: self.budget.clone(),
        }
    }
}

impl Drop for InstanceLimiter {
    fn drop(&mut self) {
        self.budget.give_back(self.memory + self.prepaid);
    }
}

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|maximum| desired > maximum) {
            // Past the memory's own declared maximum: the guest's
            // memory.grow fails as the specification says, and nothing is
            // charged.
            return Ok(false);
        }
        let total = self.memory - current + desired;
        if total > self.max_memory {
            // A trap rather than a failed memory.grow: a careless guest would
            // limp on, and the message names the cause.
            return Err(wasmtime::format_err!(
                "memory limit exceeded: the plugin asked for {} MiB, the limit is {} MiB",
                total.div_ceil(1 << 20),
                self.max_memory >> 20
            ));
        }
        let growth = desired - current;
        let from_prepaid = growth.min(self.prepaid);
        self.budget
            .take(growth - from_prepaid)
            .map_err(wasmtime::Error::new)?;
        self.prepaid -= from_prepaid;
        // Charged now: wasmtime's only later refusal of a growth allowed
        // here is the system running out of memory.
        self.memory = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(wasmtime::format_err!(
                "table limit exceeded: the plugin asked for {desired} elements"
            ));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = MemoryBudget::new(10 << 20);
        let mut first = InstanceLimiter::new(8 << 20, budget.clone());
        let mut second = InstanceLimiter::new(8 << 20, budget.clone());
        assert!(first.memory_growing(0, 6 << 20, None).unwrap());
        let refused = second.memory_growing(0, 6 << 20, None).unwrap_err();
        assert!(refused.is::<MemoryBudgetExhausted>(), "{refused}");
        assert!(second.memory_growing(0, 4 << 20, None).unwrap());
        assert_eq!(budget.used(), 10 << 20);
        drop(first);
        assert_eq!(budget.used(), 4 << 20);
        // The per-instance cap comes first.
        let over = second.memory_growing(4 << 20, 9 << 20, None).unwrap_err();
        assert!(over.to_string().contains("memory limit exceeded"));
    }

    #[test]
    fn a_reservation_keeps_a_dropped_instances_memory_for_its_successor() {
        let budget = MemoryBudget::new(10 << 20);
        let mut cut = InstanceLimiter::new(8 << 20, budget.clone());
        assert!(cut.memory_growing(0, 6 << 20, None).unwrap());
        let reservation = cut.into_reservation();
        assert_eq!(reservation.bytes(), 6 << 20);
        assert_eq!(budget.used(), 6 << 20);
        // Another instance cannot take what is reserved.
        let mut other = InstanceLimiter::new(8 << 20, budget.clone());
        assert!(other.memory_growing(0, 6 << 20, None).is_err());
        assert!(other.memory_growing(0, 4 << 20, None).unwrap());
        // The successor grows into it without asking the budget.
        let mut successor = InstanceLimiter::with_reservation(8 << 20, budget.clone(), reservation);
        assert_eq!(budget.used(), 10 << 20);
        assert!(successor.memory_growing(0, 2 << 20, None).unwrap());
        assert!(successor.memory_growing(2 << 20, 6 << 20, None).unwrap());
        assert_eq!(budget.used(), 10 << 20);
        // Past it, it asks like anyone.
        assert!(successor.memory_growing(6 << 20, 7 << 20, None).is_err());
        drop(other);
        assert!(successor.memory_growing(6 << 20, 7 << 20, None).unwrap());
        assert_eq!(budget.used(), 7 << 20);
        drop(successor);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn unused_reserved_memory_is_given_back() {
        let budget = MemoryBudget::new(10 << 20);
        let mut cut = InstanceLimiter::new(8 << 20, budget.clone());
        assert!(cut.memory_growing(0, 6 << 20, None).unwrap());
        let mut successor =
            InstanceLimiter::with_reservation(8 << 20, budget.clone(), cut.into_reservation());
        assert!(successor.memory_growing(0, 1 << 20, None).unwrap());
        successor.release_unused();
        assert_eq!(budget.used(), 1 << 20);
        drop(successor);
        assert_eq!(budget.used(), 0);
        // A reservation nobody takes up goes back too.
        let mut cut = InstanceLimiter::new(8 << 20, budget.clone());
        assert!(cut.memory_growing(0, 3 << 20, None).unwrap());
        drop(cut.into_reservation());
        assert_eq!(budget.used(), 0);
    }
}
