//! The compile cache: machine code compiled from a plugin, kept on disk so
//! that a restart, or a swap back to a plugin seen before, does not compile
//! it again (compiling takes from tenths of a second to seconds; loading the
//! cached code, milliseconds).
//!
//! Loading compiled code is `unsafe` in wasmtime: the bytes are trusted to
//! be what wasmtime itself produced. So the cache loads only files it wrote:
//! they live in a directory only the owner can open, are named by the
//! SHA-256 of the plugin's wasm bytes and by the engine's configuration
//! hash, are written whole under a temporary name and renamed into place (so
//! no file is ever seen half-written or changed after it is loaded), and
//! wasmtime checks its own header before using one.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where compiled plugins are kept.
pub struct CompileCache {
    dir: PathBuf,
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiled {
    /// Compiled now (and stored, if there is a cache).
    Fresh,
    /// Loaded from the cache.
    Cached,
}

/// The SHA-256 of a plugin's bytes: its identity in the cache, and how a
/// reload tells a changed file from one merely touched.
pub type Digest256 = [u8; 32];

pub fn digest(bytes: &[u8]) -> Digest256 {
    Sha256::digest(bytes).into()
}

impl CompileCache {
    /// Opens (creating it if needed) the cache in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the compile cache {}", dir.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make the compile cache {} private", dir.display()))?;
        Ok(CompileCache {
            dir: dir.to_path_buf(),
        })
    }

    /// The default place: `$XDG_CACHE_HOME/yell-host`, else
    /// `~/.cache/yell-host`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
        Some(base.join("yell-host"))
    }

    /// The cache in [`default_dir`](Self::default_dir), if it can be opened.
    pub fn open_default() -> Option<Self> {
        Self::open(&Self::default_dir()?).ok()
    }

    fn entry(&self, engine: &Engine, digest: &Digest256) -> PathBuf {
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir
            .join(format!("{name}-{:016x}.cwasm", engine_hash.finish()))
    }

    /// The component for `bytes` (whose SHA-256 is `digest`): from the
    /// cache if it is there, else compiled and stored.
    pub fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &Digest256,
    ) -> Result<(Component, Compiled)> {
        let entry = self.entry(engine, digest);
        if entry.exists() {
            // SAFETY: the file is one this cache wrote (see the module
            // comment): produced by `precompile_component` of an engine with
            // this configuration, renamed into place whole, never modified.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok((component, Compiled::Cached)),
                Err(error) => tracing::warn!(
                    "compile cache entry {} is unusable, compiling again: {error}",
                    entry.display()
                ),
            }
        }
        let artifact = engine
            .precompile_component(bytes)
            .map_err(anyhow::Error::from)?;
        if let Err(error) = self.store(&entry, &artifact) {
            tracing::warn!("cannot store compiled plugin in the compile cache: {error:#}");
        }
        // SAFETY: `artifact` was produced just now by this engine.
        let component =
            unsafe { Component::deserialize(engine, &artifact) }.map_err(anyhow::Error::from)?;
        Ok((component, Compiled::Fresh))
    }

    fn store(&self, entry: &Path, artifact: &[u8]) -> Result<()> {
        let temporary = entry.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, artifact)
            .with_context(|| format!("writing {}", temporary.display()))?;
        std::fs::rename(&temporary, entry)
            .with_context(|| format!("renaming to {}", entry.display()))
    }
}

/// Compiles `bytes` with `cache` if there is one.
pub fn compile(
    cache: Option<&CompileCache>,
    engine: &Engine,
    bytes: &[u8],
    digest: &Digest256,
) -> Result<(Component, Compiled)> {
    match cache {
        Some(cache) => cache.component(engine, bytes, digest),
        None => Ok((
            Component::new(engine, bytes).map_err(anyhow::Error::from)?,
            Compiled::Fresh,
        )),
    }
}
