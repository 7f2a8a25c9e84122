//! `yell-host pipe`: lines from stdin through a plugin (or a chain) to
//! stdout, with no server: the natural way to try a plugin, or to test it
//! in any language's CI.
//!
//! The output is byte for byte what a client would receive that sent stdin
//! and then closed: the greeting, each line's replies with its own line
//! ending (`\n` or `\r\n`, none for a final unterminated line), `ERR
//! plugin: ...` for a line that failed, and the last words. Each failure is
//! also reported on stderr with its line number, and the exit code is 1 if
//! any line failed.
//!
//! Owns: running `pipe`. Uses: the runtime's line session.

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yell_runtime::{
    CompileCache, LineFramer, LineSession, Pipeline, PluginLimits, PluginRuntime, PluginSpec,
    TrustPolicy,
};

/// The connection id the plugin sees.
const CONNECTION: u64 = 1;

/// How much of stdin is read at a time: one batch for the plugin.
const READ_CHUNK: usize = 64 * 1024;

/// What `pipe` runs: plain values, checked by whoever made them.
#[derive(Debug, Clone)]
pub struct PipeConfig {
    /// The plugin chain, in order.
    pub plugins: Vec<PluginSpec>,
    /// What every plugin runs under.
    pub limits: PluginLimits,
    /// Longest line accepted, without its ending.
    pub max_line_length: usize,
    /// Plugin state: the store and the buckets granted.
    pub state: crate::keyvalue::StateConfig,
    /// How plugins given as `oci://` references are pulled.
    pub registry: crate::oci::RegistryConfig,
}

/// Runs stdin through the chain to stdout; every failure is reported on
/// stderr with its line number, and the result is an error if any line
/// failed.
pub async fn run(config: PipeConfig) -> Result<()> {
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
    let pipeline = Pipeline::load(&runtime, &config.plugins)?;
    let mut session = LineSession::new(
        &pipeline,
        LineFramer::new(config.max_line_length),
        CONNECTION,
    );
    let mut failures = 0u64;
    let mut report = |session: &mut LineSession<'_>| {
        for failure in session.take_failures() {
            failures += 1;
            eprintln!("yell-host pipe: {failure}");
        }
    };
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    let mut out = Vec::new();
    session.open(&mut out).await;
    report(&mut session);
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let read = stdin.read(&mut chunk).await.context("reading stdin")?;
        session.feed(&chunk[..read], read == 0, &mut out).await;
        report(&mut session);
        stdout.write_all(&out).await.context("writing stdout")?;
        out.clear();
        if read == 0 || session.stopped() {
            break;
        }
    }
    session.close(&mut out).await;
    report(&mut session);
    stdout.write_all(&out).await.context("writing stdout")?;
    stdout.flush().await.context("writing stdout")?;
    drop(session);
    drop(pipeline);
    drop(runtime);
    if failures > 0 {
        anyhow::bail!(
            "{} failure{} (see above)",
            failures,
            if failures == 1 { "" } else { "s" }
        );
    }
    Ok(())
}
