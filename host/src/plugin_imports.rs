//! The host imports every plugin runtime of the binary offers beside the
//! runtime's own: state (`wasi:keyvalue`, expiry) and plugin metrics. One
//! list, so the server, `pipe` and `test` load the same plugins.
//!
//! Owns: the list. Uses: the key-value and plugin-metrics imports.

use std::sync::Arc;

use yell_runtime::HostImport;

use crate::keyvalue::{BucketGrants, KeyValueImport, StateStore};
use crate::plugin_metrics::{MetricsImport, PluginMetrics};

/// The imports, over `store` (none: no bucket is granted) with `grants`,
/// recording plugin metrics into `metrics`.
pub fn host_imports(
    store: Option<Arc<StateStore>>,
    grants: BucketGrants,
    metrics: Arc<PluginMetrics>,
) -> Vec<Arc<dyn HostImport>> {
    vec![
        Arc::new(KeyValueImport::new(store, grants)),
        Arc::new(MetricsImport::new(metrics)),
    ]
}
