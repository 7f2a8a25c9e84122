//! Metrics plugins define for themselves (`yell:plugin/metrics`): the
//! host import, and the registry that keeps their series and renders them
//! on `/metrics` beside the host's own.
//!
//! Owns: nothing but the module tree. Uses: its submodules.

mod imports;
mod registry;

pub use imports::MetricsImport;
pub use registry::{escape_label, PluginMetrics, DEFAULT_SERIES_PER_PLUGIN};
