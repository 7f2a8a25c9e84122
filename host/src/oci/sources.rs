//! Where the server's plugins are read: files as always, and `oci://`
//! references pulled through a [`Registry`]. The runtime reads a plugin
//! at start and at every reload, from its blocking code; a pull is async
//! (HTTP), so it runs on a small runtime of this reader's own, whose
//! thread the caller waits for.
//!
//! Owns: [`PluginSources`]. Uses: the registry, the references.

use std::sync::Arc;

use anyhow::{Context, Result};
use yell_runtime::{DetachedSignature, FileReader, PluginSource, PluginSpec, SourceReader};

use super::reference::{is_reference, OciReference};
use super::registry::{signature_tag, Registry, RegistryConfig};

/// Files, and plugins in registries.
pub struct PluginSources {
    registry: Arc<Registry>,
    /// Whether a signature must come with each pulled plugin (a trusted
    /// key is given).
    signed: bool,
    /// `Some` until dropped.
    pulls: Option<tokio::runtime::Runtime>,
}

impl Drop for PluginSources {
    fn drop(&mut self) {
        // Dropped from async code too, where waiting for the runtime's
        // threads is not allowed: they are let go instead.
        if let Some(pulls) = self.pulls.take() {
            pulls.shutdown_background();
        }
    }
}

impl PluginSources {
    /// Reads `oci://` references through `registry`, asking for their
    /// signatures when `signed`.
    pub fn new(registry: Arc<Registry>, signed: bool) -> Result<PluginSources> {
        let pulls = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("yell-oci")
            .enable_all()
            .build()
            .context("starting the registry client")?;
        Ok(PluginSources {
            registry,
            signed,
            pulls: Some(pulls),
        })
    }

    /// Sources pulling through a registry client made from `config`.
    pub fn for_registry(config: RegistryConfig, signed: bool) -> Result<Arc<PluginSources>> {
        Ok(Arc::new(PluginSources::new(
            Arc::new(Registry::new(config)?),
            signed,
        )?))
    }

    /// Runs `work` on the pulls' runtime and waits for it, from any
    /// thread (an async worker included: loading blocks anyway).
    pub fn wait_for<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        let (done, result) = std::sync::mpsc::channel();
        let pulls = self
            .pulls
            .as_ref()
            .expect("the pulls' runtime lives as long as its sources");
        pulls.spawn(async move {
            let _ = done.send(work.await);
        });
        result.recv().expect("the registry client's runtime ended")
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The plugin `reference` names, pulled or from the cache.
    pub fn pull(&self, reference: &OciReference) -> Result<PluginSource> {
        let (registry, wanted, signed) = (self.registry.clone(), reference.clone(), self.signed);
        let pulled = self.wait_for(async move { registry.fetch(&wanted, signed).await })?;
        let shown = reference.shown();
        let name = yell_runtime::plugin_name(std::path::Path::new(shown));
        tracing::info!("plugin {shown}: manifest {}", pulled.manifest);
        let mut source = PluginSource::from_bytes(shown, &name, pulled.bytes);
        source.signature = DetachedSignature::Carried {
            name: format!(
                "the signature of {shown} (the artifact tagged {})",
                signature_tag(&pulled.manifest)
            ),
            bytes: pulled.signature,
        };
        Ok(source)
    }
}

impl SourceReader for PluginSources {
    fn read(&self, spec: &PluginSpec) -> Result<PluginSource> {
        if !is_reference(&spec.path) {
            return FileReader.read(spec);
        }
        let reference = OciReference::parse(&spec.path.to_string_lossy())?;
        self.pull(&reference)
    }
}
