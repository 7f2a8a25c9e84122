//! The plugin chain serving connections, behind an [`ArcSwap`], and how a
//! reload replaces it: reads and compiles the plugin files, makes and
//! initializes an instance of each, and publishes the new generation only
//! if every plugin loads.
//!
//! Owns: [`LivePipeline`], [`ReloadCause`], [`Reloaded`]. Uses: the runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use arc_swap::ArcSwap;

use yell_runtime::{Pipeline, Plugin, PluginRuntime, PluginSpec};

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadCause {
    /// A plugin file changed on disk: plugins whose bytes are unchanged are
    /// kept as they are (with their instances).
    FileChanged,
    /// `SIGHUP`: every plugin is loaded again from disk.
    Signal,
    /// `POST /reload`: every plugin is loaded again from disk.
    Command,
    /// A registry tag moved (`--oci-poll`): plugins whose bytes are
    /// unchanged are kept.
    TagMoved,
}

impl ReloadCause {
    /// How logs name it.
    pub fn describe(&self) -> &'static str {
        match self {
            ReloadCause::FileChanged => "file change",
            ReloadCause::Signal => "SIGHUP",
            ReloadCause::Command => "reload command",
            ReloadCause::TagMoved => "registry tag moved",
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// A new generation serves.
    Swapped { generation: u64, took: Duration },
    /// The files were the ones already serving: nothing changed.
    Unchanged { generation: u64 },
}

/// The plugin chain serving connections, and how to replace it.
pub struct LivePipeline {
    current: ArcSwap<Pipeline>,
    runtime: PluginRuntime,
    specs: Vec<PluginSpec>,
    /// One reload at a time; triggers arriving meanwhile wait their turn.
    reloading: Mutex<()>,
    /// Reloads that failed (each success is a generation).
    failures: AtomicU64,
}

impl LivePipeline {
    /// Loads generation 1 of the chain `specs`.
    pub fn load(runtime: PluginRuntime, specs: Vec<PluginSpec>) -> Result<Self> {
        Ok(LivePipeline {
            current: ArcSwap::from_pointee(Pipeline::load(&runtime, &specs)?),
            runtime,
            specs,
            reloading: Mutex::new(()),
            failures: AtomicU64::new(0),
        })
    }

    /// The pipeline serving now. Hold it for one batch, not across awaits.
    pub fn current(&self) -> arc_swap::Guard<Arc<Pipeline>> {
        self.current.load()
    }

    pub fn generation(&self) -> u64 {
        self.current.load().generation()
    }

    pub fn specs(&self) -> &[PluginSpec] {
        &self.specs
    }

    /// The wasm machinery every generation runs on.
    pub fn runtime(&self) -> &PluginRuntime {
        &self.runtime
    }

    /// Reloads that failed, leaving the serving generation in place.
    pub fn failed_reloads(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Counts a reload that ended without an outcome (it panicked).
    pub fn note_failed_reload(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Loads the chain again from disk and publishes it if every plugin
    /// loads. Blocking (it compiles): call it off the async workers. On
    /// failure the serving generation stays and the error says why.
    pub fn reload(&self, cause: ReloadCause) -> Result<Reloaded> {
        // A reload that panicked holds nothing the next one needs.
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = Instant::now();
        let old = self.current.load_full();
        match self.load_changed(&old, &cause) {
            Ok(None) => {
                tracing::info!(
                    "{}: plugin files unchanged, generation {} keeps serving",
                    cause.describe(),
                    old.generation()
                );
                Ok(Reloaded::Unchanged {
                    generation: old.generation(),
                })
            }
            Ok(Some(stages)) => {
                let generation = old.generation() + 1;
                let pipeline = Pipeline::new(generation, stages);
                let took = started.elapsed();
                let name = pipeline.name().to_string();
                self.current.store(Arc::new(pipeline));
                tracing::info!(
                    "{}: plugin generation {generation} serving ({name}), loaded in {took:.1?}",
                    cause.describe(),
                );
                Ok(Reloaded::Swapped { generation, took })
            }
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "{}: reload failed, plugin generation {} keeps serving: {error:#}",
                    cause.describe(),
                    old.generation()
                );
                Err(error)
            }
        }
    }

    /// The stages of the next generation, or `None` if a file change left
    /// every file as it was.
    fn load_changed(
        &self,
        old: &Pipeline,
        cause: &ReloadCause,
    ) -> Result<Option<Vec<Arc<Plugin>>>> {
        let mut changed = false;
        let mut stages = Vec::with_capacity(self.specs.len());
        for (spec, serving) in self.specs.iter().zip(old.stages()) {
            let file = self.runtime.read_source(spec)?;
            // The configuration is the command line's, the same for every
            // generation: only the file can have changed.
            let keeps_unchanged = matches!(cause, ReloadCause::FileChanged | ReloadCause::TagMoved);
            let keep = keeps_unchanged && serving.digest() == &file.digest;
            if keep {
                stages.push(serving.clone());
            } else {
                stages.push(Arc::new(self.runtime.load_source(&file, spec)?));
                changed = true;
            }
        }
        Ok(changed.then_some(stages))
    }
}
