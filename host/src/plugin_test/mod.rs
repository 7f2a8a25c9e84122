//! `yell-host test`: a plugin checked on the author's machine the way the
//! server will run it. The component is loaded by the runtime's own load
//! function (what the server refuses, this refuses with the same message),
//! then sent [`conformance`] input through the host's own framing and
//! reply check, then each of its [`fixtures`]; the [`report`] says what
//! passed, as text, JSON or JUnit XML.
//!
//! Owns: [`run`] and [`TestConfig`]. Uses: the runtime, and its three
//! parts.

mod conformance;
mod fixtures;
mod report;

use std::path::PathBuf;

use anyhow::{Context, Result};
use yell_runtime::{CompileCache, Pipeline, PluginLimits, PluginRuntime, PluginSpec, TrustPolicy};

pub use report::ReportFormat;

/// What `yell-host test` runs: plain values, checked by whoever made them.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// The plugin, located, with its configuration and grants.
    pub plugin: PluginSpec,
    /// What it runs under.
    pub limits: PluginLimits,
    /// Longest line accepted, without its ending.
    pub max_line_length: usize,
    /// Plugin state: the store and the buckets granted.
    pub state: crate::keyvalue::StateConfig,
    /// How a plugin given as an `oci://` reference is pulled.
    pub registry: crate::oci::RegistryConfig,
    /// The folder of NAME.in / NAME.out fixtures, if any.
    pub fixtures: Option<PathBuf>,
    /// How the report is printed on stdout.
    pub format: ReportFormat,
    /// Where a JUnit XML copy of the report goes, if anywhere.
    pub junit: Option<PathBuf>,
}

/// Runs every check and prints the report; the result is an error when
/// the plugin does not load or a check failed (exit code 1).
pub async fn run(config: TestConfig) -> Result<()> {
    // A store another process holds is not waited for: a run is short.
    let store = config.state.open(std::time::Duration::ZERO).await?;
    // Plugin metrics are recorded, not shown: nothing scrapes a run.
    let metrics = std::sync::Arc::new(crate::plugin_metrics::PluginMetrics::new(
        crate::plugin_metrics::DEFAULT_SERIES_PER_PLUGIN,
    ));
    let runtime = PluginRuntime::with_imports(
        config.limits,
        CompileCache::open_default(),
        TrustPolicy::default(),
        crate::plugin_imports::host_imports(store, config.state.grants.clone(), metrics),
    )?
    .with_sources(crate::oci::PluginSources::for_registry(
        config.registry,
        false,
    )?);
    let plugin = config.plugin.path.display().to_string();
    let mut cases = Vec::new();
    match Pipeline::load(&runtime, std::slice::from_ref(&config.plugin)) {
        Ok(pipeline) => {
            cases.extend(conformance::run(&pipeline, config.max_line_length).await);
            if let Some(dir) = &config.fixtures {
                let found = fixtures::find(dir)?;
                for fixture in found {
                    cases.push(
                        fixtures::run(&runtime, &config.plugin, config.max_line_length, &fixture)
                            .await,
                    );
                }
            }
        }
        Err(error) => cases.push(report::CaseResult::load_failure(&error)),
    }
    let report = report::Report { plugin, cases };
    print!("{}", report.render(config.format));
    if let Some(path) = &config.junit {
        std::fs::write(path, report.junit()?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let failed = report.failed();
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} checks failed for {}",
            report.cases.len(),
            report.plugin
        );
    }
    Ok(())
}
