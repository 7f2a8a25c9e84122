//! `yell:plugin/metrics` as host functions, through the runtime's
//! host-import extension point. They only compute: a definition is checked
//! at once (a refused one traps, so a plugin that defines in `init` is
//! refused at load), and a recording is checked at once and recorded when
//! the call counts ([`PluginState::when_call_counts`]), so a call the host
//! makes again counts once, and a plugin that imports nothing else stays
//! as cheap to call as one that imports nothing.
//!
//! Owns: [`MetricsImport`] and each plugin's defined metrics. Uses: the
//! registry.

use std::sync::{Arc, Mutex};

use wasmtime::component::{HasSelf, Linker};
use yell_runtime::{HostImport, PluginSpec, PluginState};

use super::registry::{Definition, Family, Kind, Operation, PluginMetrics};

mod generated {
    wasmtime::component::bindgen!({
        inline: "
            package yell:host-metrics;
            world metrics {
                import yell:plugin/metrics@0.1.0;
            }
        ",
        path: "wit",
        imports: { default: trappable },
    });
}

use generated::yell::plugin::metrics;

/// The metrics host import.
pub struct MetricsImport {
    registry: Arc<PluginMetrics>,
}

impl MetricsImport {
    /// Plugins define and record into `registry`.
    pub fn new(registry: Arc<PluginMetrics>) -> MetricsImport {
        MetricsImport { registry }
    }
}

/// What one plugin's instances share: its name and the metrics it defined,
/// by the handle the plugin was given (their index).
struct PluginDefined {
    plugin: Arc<str>,
    registry: Arc<PluginMetrics>,
    defined: Mutex<Vec<Arc<Family>>>,
}

impl HostImport for MetricsImport {
    fn name(&self) -> &str {
        "yell:plugin/metrics"
    }

    fn add_to_linker(&self, linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
        generated::Metrics::add_to_linker::<PluginState, HasSelf<PluginState>>(linker, |state| {
            state
        })
    }

    fn plugin_data(&self, plugin: &PluginSpec) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        Some(Arc::new(PluginDefined {
            plugin: yell_runtime::plugin_name(&plugin.path).into(),
            registry: self.registry.clone(),
            defined: Mutex::default(),
        }))
    }

    fn waits(&self) -> bool {
        false
    }
}

fn defined(state: &PluginState) -> wasmtime::Result<&PluginDefined> {
    state
        .extension::<PluginDefined>()
        .ok_or_else(|| wasmtime::Error::msg("metrics: the plugin's data is missing"))
}

/// Checks a recording now, and records it when the call counts.
fn record(
    state: &mut PluginState,
    metric: u32,
    labels: Vec<String>,
    value: f64,
    operation: Operation,
) -> wasmtime::Result<()> {
    let plugin = defined(state)?;
    let family = plugin
        .defined
        .lock()
        .expect("plugin metrics lock")
        .get(metric as usize)
        .cloned()
        .ok_or_else(|| wasmtime::Error::msg(format!("metrics: no metric {metric} was defined")))?;
    PluginMetrics::check_recording(&family, operation, &labels).map_err(wasmtime::Error::msg)?;
    let (registry, name) = (plugin.registry.clone(), plugin.plugin.clone());
    state.when_call_counts(move || registry.record(&family, &name, operation, labels, value));
    Ok(())
}

impl metrics::Host for PluginState {
    fn define(&mut self, definition: metrics::Definition) -> wasmtime::Result<u32> {
        let plugin = defined(self)?;
        let definition = Definition {
            name: definition.name,
            help: definition.help,
            kind: match definition.kind {
                metrics::Kind::Counter => Kind::Counter,
                metrics::Kind::Gauge => Kind::Gauge,
                metrics::Kind::Histogram => Kind::Histogram,
            },
            labels: definition.labels,
            buckets: definition.buckets,
        };
        let family = plugin
            .registry
            .define(&plugin.plugin, definition)
            .map_err(wasmtime::Error::msg)?;
        let mut defined = plugin.defined.lock().expect("plugin metrics lock");
        let index = match defined.iter().position(|had| Arc::ptr_eq(had, &family)) {
            Some(index) => index,
            None => {
                defined.push(family);
                defined.len() - 1
            }
        };
        Ok(u32::try_from(index).expect("a plugin defines fewer than 2^32 metrics"))
    }

    fn add(&mut self, metric: u32, labels: Vec<String>, amount: f64) -> wasmtime::Result<()> {
        record(self, metric, labels, amount, Operation::Add)
    }

    fn set(&mut self, metric: u32, labels: Vec<String>, value: f64) -> wasmtime::Result<()> {
        record(self, metric, labels, value, Operation::Set)
    }

    fn observe(&mut self, metric: u32, labels: Vec<String>, value: f64) -> wasmtime::Result<()> {
        record(self, metric, labels, value, Operation::Observe)
    }
}
