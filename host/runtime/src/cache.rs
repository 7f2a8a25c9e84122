//! The compile cache: machine code compiled from a plugin, kept on disk so
//! that a restart, or a swap back to a plugin seen before, does not compile
//! it again (compiling takes from tenths of a second to seconds; loading the
//! cached code, milliseconds).
//!
//! Loading compiled code is `unsafe` in wasmtime: the bytes are trusted to
//! be what wasmtime itself produced. So the cache loads only files it wrote:
//! they live in a directory only the owner can open, are named by the
//! SHA-256 of the plugin's wasm bytes and of the engine's configuration
//! (a stable digest: no hasher whose output a Rust release may change), are
//! written whole under a temporary name, flushed to disk and renamed into
//! place (so no file is ever seen half-written or changed after it is
//! loaded, even after a crash), and wasmtime checks its own header before
//! using one. Temporary files a crash left behind are removed when the cache
//! is opened. The cache keeps to a size ([`MAX_CACHE_BYTES`]): past it, the
//! entries used least recently go.
//!
//! Why not wasmtime's own cache (`Config::cache`): it compiles modules, not
//! components, on its own schedule, and brings zstd, toml and more into the
//! build; this one is a hundred lines the host controls.
//!
//! Owns: [`CompileCache`] and the digest. Uses: nothing else of this crate.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Most the cache holds; the least recently used entries go past it.
pub const MAX_CACHE_BYTES: u64 = 1 << 30;

/// A temporary file older than this was left by a crash, not by a writer
/// still at work.
const STALE_TEMPORARY: Duration = Duration::from_secs(600);

/// Where compiled plugins are kept.
pub struct CompileCache {
    dir: PathBuf,
    max_bytes: u64,
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

/// The SHA-256 of `bytes`: what names a plugin's content.
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
        let cache = CompileCache {
            dir: dir.to_path_buf(),
            max_bytes: MAX_CACHE_BYTES,
        };
        cache.remove_stale_temporaries();
        Ok(cache)
    }

    /// Temporary files older than [`STALE_TEMPORARY`]: a crash left them.
    fn remove_stale_temporaries(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_temporary = path
                .extension()
                .is_some_and(|extension| extension.to_string_lossy().starts_with("tmp"));
            let age = entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok());
            if is_temporary && age.is_some_and(|age| age > STALE_TEMPORARY) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Removes the least recently used entries until the cache holds at
    /// most its size (an entry's modification time is its last use).
    fn evict(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut compiled: Vec<(SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter(|entry| entry.path().extension().is_some_and(|e| e == "cwasm"))
            .filter_map(|entry| {
                let metadata = entry.metadata().ok()?;
                Some((metadata.modified().ok()?, metadata.len(), entry.path()))
            })
            .collect();
        let mut total: u64 = compiled.iter().map(|(_, len, _)| len).sum();
        compiled.sort();
        for (_, len, path) in compiled {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }

    /// The default place: `$YELL_COMPILE_CACHE` if set, else
    /// `$XDG_CACHE_HOME/yell-host`, else `~/.cache/yell-host`.
    pub fn default_dir() -> Option<PathBuf> {
        // Every command (server, client, pipe) shares the one it names.
        if let Some(dir) = std::env::var_os("YELL_COMPILE_CACHE").filter(|dir| !dir.is_empty()) {
            return Some(PathBuf::from(dir));
        }
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
        let mut engine_hash = StableHasher(Sha256::new());
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let engine_digest = engine_hash.0.finalize();
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let engine_name: String = engine_digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("{name}-{engine_name}.cwasm"))
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
                Ok(component) => {
                    // Its last use, for eviction.
                    let _ = std::fs::File::options()
                        .append(true)
                        .open(&entry)
                        .and_then(|file| file.set_modified(SystemTime::now()));
                    return Ok((component, Compiled::Cached));
                }
                Err(error) => tracing::warn!(
                    "compile cache entry {} is unusable, compiling again: {error}",
                    entry.display()
                ),
            }
        }
        let artifact = engine
            .precompile_component(bytes)
            .map_err(anyhow::Error::from)?;
        match self.store(&entry, &artifact) {
            Ok(()) => self.evict(),
            Err(error) => {
                tracing::warn!("cannot store compiled plugin in the compile cache: {error:#}")
            }
        }
        // SAFETY: `artifact` was produced just now by this engine.
        let component =
            unsafe { Component::deserialize(engine, &artifact) }.map_err(anyhow::Error::from)?;
        Ok((component, Compiled::Fresh))
    }

    /// Writes `artifact` whole and durably, then renames it into place.
    fn store(&self, entry: &Path, artifact: &[u8]) -> Result<()> {
        let temporary = entry.with_extension(format!("tmp{}", std::process::id()));
        let written = std::fs::File::create(&temporary).and_then(|mut file| {
            file.write_all(artifact)?;
            // On disk before it has its name: a crash leaves a temporary
            // file (removed later), never a truncated entry.
            file.sync_all()
        });
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(error).with_context(|| format!("writing {}", temporary.display()));
        }
        std::fs::rename(&temporary, entry)
            .with_context(|| format!("renaming to {}", entry.display()))?;
        // The rename itself, on disk.
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// Feeds what a `Hash` impl writes into SHA-256: a digest that stays the
/// same across Rust releases, unlike `DefaultHasher`'s.
struct StableHasher(Sha256);

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("read through the SHA-256 digest")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("yell-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn stale_temporaries_are_removed_on_open_fresh_ones_kept() {
        let dir = scratch("stale");
        std::fs::create_dir_all(&dir).unwrap();
        let stale = dir.join("abc.tmp123");
        let fresh = dir.join("def.tmp456");
        std::fs::write(&stale, b"half").unwrap();
        std::fs::write(&fresh, b"half").unwrap();
        let old = SystemTime::now() - STALE_TEMPORARY * 2;
        std::fs::File::options()
            .append(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        CompileCache::open(&dir).unwrap();
        assert!(!stale.exists());
        assert!(fresh.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_least_recently_used_entries_go_past_the_size() {
        let dir = scratch("evict");
        let mut cache = CompileCache::open(&dir).unwrap();
        cache.max_bytes = 250;
        let now = SystemTime::now();
        for (name, age) in [("old", 30), ("middle", 20), ("new", 10)] {
            let path = dir.join(format!("{name}.cwasm"));
            std::fs::write(&path, [0u8; 100]).unwrap();
            std::fs::File::options()
                .append(true)
                .open(&path)
                .unwrap()
                .set_modified(now - Duration::from_secs(age))
                .unwrap();
        }
        cache.evict();
        assert!(!dir.join("old.cwasm").exists());
        assert!(dir.join("middle.cwasm").exists());
        assert!(dir.join("new.cwasm").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn entry_names_are_stable_digests() {
        let engine = Engine::default();
        let cache = CompileCache {
            dir: PathBuf::from("/cache"),
            max_bytes: MAX_CACHE_BYTES,
        };
        let first = cache.entry(&engine, &[7; 32]);
        assert_eq!(first, cache.entry(&engine, &[7; 32]));
        let name = first.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(&"07".repeat(32)) && name.ends_with(".cwasm"),
            "{name}"
        );
        assert_eq!(name.len(), 64 + 1 + 16 + ".cwasm".len());
    }
}
