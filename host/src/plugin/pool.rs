//! A pool of idle, initialized instances of one plugin.
//!
//! Connections do not own instances: a connection checks one out for one
//! call and gives it back, so ten thousand idle connections hold no instance
//! and the number of instances follows the number of calls running at once
//! (about the number of worker threads). An instance whose call failed is
//! never given back.

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use wasmtime::Store;

use super::{bindings, PluginInstance, PluginState};
use crate::limits::PluginLimits;

/// An instance holding more linear memory than this after a call is dropped
/// instead of pooled, so a burst's memory is given back to the system.
const POOLED_INSTANCE_MAX_MEMORY: usize = 16 << 20;

pub struct InstancePool {
    pre: bindings::PluginPre<PluginState>,
    /// Handed to every new instance's `init`.
    config: Vec<(String, String)>,
    limits: PluginLimits,
    idle: Mutex<Vec<PluginInstance>>,
    /// Idle instances kept beyond this are dropped rather than pooled.
    max_idle: usize,
}

impl InstancePool {
    pub fn new(
        pre: bindings::PluginPre<PluginState>,
        config: Vec<(String, String)>,
        limits: PluginLimits,
    ) -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        InstancePool {
            pre,
            config,
            limits,
            idle: Mutex::new(Vec::new()),
            max_idle: workers * 2,
        }
    }

    /// Makes one instance and pools it: proves the plugin starts.
    pub fn warm_up(&self, plugin_name: &Arc<str>) -> Result<()> {
        let instance = self.instantiate(plugin_name)?;
        self.give_back(instance);
        Ok(())
    }

    /// An idle instance, or a new one when none is idle.
    pub fn checkout(&self, plugin_name: &Arc<str>) -> Result<PluginInstance> {
        let idle = self.idle.lock().expect("instance pool lock").pop();
        match idle {
            Some(instance) => Ok(instance),
            None => self.instantiate(plugin_name),
        }
    }

    /// Returns an instance whose last call succeeded.
    pub fn give_back(&self, instance: PluginInstance) {
        if instance.store.data().limiter.memory_bytes() > POOLED_INSTANCE_MAX_MEMORY {
            return;
        }
        let mut idle = self.idle.lock().expect("instance pool lock");
        if idle.len() < self.max_idle {
            idle.push(instance);
        }
    }

    pub fn idle_count(&self) -> usize {
        self.idle.lock().expect("instance pool lock").len()
    }

    pub fn limits(&self) -> PluginLimits {
        self.limits
    }

    fn instantiate(&self, plugin_name: &Arc<str>) -> Result<PluginInstance> {
        let state = PluginState {
            limiter: self.limits.instance_limiter(),
            plugin_name: plugin_name.clone(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.limits.deadline_ticks());
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(anyhow::Error::from)
            .context("instantiating the component")?;
        store.set_epoch_deadline(self.limits.deadline_ticks());
        bindings
            .yell_plugin_transform()
            .call_init(&mut store, &self.config)
            .map_err(anyhow::Error::from)
            .context("calling the plugin's init")?
            .map_err(|message| {
                anyhow::anyhow!("the plugin refused its configuration: {message}")
            })?;
        Ok(PluginInstance {
            store,
            bindings,
            deadline_ticks: self.limits.deadline_ticks(),
        })
    }
}
