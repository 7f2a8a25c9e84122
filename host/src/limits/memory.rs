//! Memory caps: one per instance (`--plugin-memory`) and one for all
//! instances of all plugins together (`--plugin-memory-total`), so that many
//! slow calls, each holding an instance, cannot exhaust the host's memory.

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

/// Caps one instance's linear memory, charges it to the shared budget, and
/// tracks how much it holds (so an instance that grew large can be dropped
/// rather than pooled). Dropping it gives the memory back to the budget.
#[derive(Debug)]
pub struct InstanceLimiter {
    max_memory: usize,
    /// Bytes of linear memory the instance holds now, all memories together.
    memory: usize,
    budget: MemoryBudget,
}

impl InstanceLimiter {
    pub fn new(max_memory: usize, budget: MemoryBudget) -> Self {
        InstanceLimiter {
            max_memory,
            memory: 0,
            budget,
        }
    }

    /// Bytes of linear memory the instance holds.
    pub fn memory_bytes(&self) -> usize {
        self.memory
    }
}

impl Drop for InstanceLimiter {
    fn drop(&mut self) {
        self.budget.give_back(self.memory);
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
        self.budget
            .take(desired - current)
            .map_err(wasmtime::Error::new)?;
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
}
