//! Where pulled plugins are kept, by content, so that a server starts
//! without its registry and a pull is made once per digest:
//! `$XDG_CACHE_HOME/yell-host/oci/` (or `--oci-cache DIR`).
//!
//! - `blobs/sha256/HEX`: a layer (a component) or a signature, named by
//!   the SHA-256 of its bytes. Written to a temporary file and renamed
//!   into place, so a pull killed half-way leaves nothing under a blob's
//!   name, and processes pulling the same digest at once end with one
//!   copy. Every read hashes the bytes again: a file whose bytes changed
//!   is removed and reported as missing (it is pulled again).
//! - `manifests/sha256/HEX`: what a manifest said (its layer's digest and
//!   size, its signature's digest), so that a digest reference starts
//!   from here alone.
//! - `tags/KEY`: the manifest digest a tag last resolved to, for a server
//!   starting while its registry is down.
//!
//! Bounded: past `--oci-cache-max`, the blobs used least recently (a read
//! sets a blob's modification time) are removed, under a lock file so
//! that two processes do not evict at once.
//!
//! Owns: [`OciCache`], [`ManifestRecord`]. Uses: sha256 (the runtime's).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use yell_runtime::{digest, digest_hex};

/// What a plugin manifest said, kept under its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    /// The component layer's digest, `sha256:HEX`.
    pub layer: String,
    /// Its size, as the manifest gave it.
    pub size: u64,
    /// The digest of its signature's bytes, when one was pulled.
    #[serde(default)]
    pub signature: Option<String>,
}

/// The tag record: what a tag resolved to last.
#[derive(Debug, Serialize, Deserialize)]
struct TagRecord {
    reference: String,
    manifest: String,
}

/// Temporary files older than this are a dead pull's, and are removed.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// The content-addressed cache of pulled plugins.
#[derive(Debug, Clone)]
pub struct OciCache {
    dir: PathBuf,
    /// Bytes of blobs kept at most.
    max_bytes: u64,
}

impl OciCache {
    /// The cache in `dir`, keeping at most `max_bytes` of blobs.
    pub fn new(dir: PathBuf, max_bytes: u64) -> OciCache {
        OciCache { dir, max_bytes }
    }

    /// `$XDG_CACHE_HOME/yell-host/oci`, else `~/.cache/yell-host/oci`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|home| !home.is_empty())
                    .map(|home| PathBuf::from(home).join(".cache"))
            })?;
        Some(base.join("yell-host").join("oci"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = sha256_hex(digest)?;
        Some(self.dir.join("blobs").join("sha256").join(hex))
    }

    /// The blob `digest` (`sha256:HEX`), if it is here with its bytes
    /// intact. A blob whose bytes no longer hash to its name is removed.
    pub fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let path = self.blob_path(digest)?;
        let bytes = fs::read(&path).ok()?;
        let actual = format!("sha256:{}", digest_hex(&yell_runtime::digest(&bytes)));
        if actual != digest {
            tracing::warn!(
                "oci cache: {} holds bytes of {actual}, not {digest}: removed, to be pulled again",
                path.display()
            );
            let _ = fs::remove_file(&path);
            return None;
        }
        // Used now: the last to be evicted.
        if let Ok(file) = fs::File::options().append(true).open(&path) {
            let _ = file.set_modified(SystemTime::now());
        }
        Some(bytes)
    }

    /// Keeps `bytes` as the blob named by their digest (returned), then
    /// evicts past the bound (never this blob).
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        let name = format!("sha256:{}", digest_hex(&digest(bytes)));
        let path = self.blob_path(&name).expect("a sha256 digest");
        self.write_atomically(&path, bytes)?;
        self.evict(&path);
        Ok(name)
    }

    /// A file to write a blob into before it is known to be whole: in the
    /// blobs folder (so the rename into place is atomic), named so that no
    /// blob has its name.
    pub fn temporary_blob(&self) -> Result<(PathBuf, fs::File)> {
        let folder = self.dir.join("blobs").join("sha256");
        fs::create_dir_all(&folder)
            .with_context(|| format!("oci cache: cannot make {}", folder.display()))?;
        let path = folder.join(temporary_name());
        let file = fs::File::create(&path)
            .with_context(|| format!("oci cache: cannot write {}", path.display()))?;
        Ok((path, file))
    }

    /// Moves a whole, checked temporary blob into place as `digest`.
    pub fn commit_blob(&self, temporary: &Path, digest: &str) -> Result<()> {
        let path = self
            .blob_path(digest)
            .with_context(|| format!("{digest}: not a sha256 digest"))?;
        fs::rename(temporary, &path)
            .with_context(|| format!("oci cache: cannot move a pull into {}", path.display()))?;
        self.evict(&path);
        Ok(())
    }

    /// What the manifest `digest` said, if it was pulled here.
    pub fn manifest(&self, digest: &str) -> Option<ManifestRecord> {
        let hex = sha256_hex(digest)?;
        let path = self.dir.join("manifests").join("sha256").join(hex);
        serde_json::from_slice(&fs::read(path).ok()?).ok()
    }

    /// Records what the manifest `digest` said.
    pub fn put_manifest(&self, digest: &str, record: &ManifestRecord) -> Result<()> {
        let hex = sha256_hex(digest).with_context(|| format!("{digest}: not a sha256 digest"))?;
        let path = self.dir.join("manifests").join("sha256").join(hex);
        self.write_atomically(&path, &serde_json::to_vec(record)?)
    }

    /// The manifest digest the tag `key` resolved to last.
    pub fn tag(&self, key: &str) -> Option<String> {
        let record: TagRecord = serde_json::from_slice(&fs::read(self.tag_path(key)).ok()?).ok()?;
        (record.reference == key).then_some(record.manifest)
    }

    /// Records that the tag `key` resolved to the manifest `digest`.
    pub fn put_tag(&self, key: &str, digest: &str) -> Result<()> {
        let record = TagRecord {
            reference: key.to_string(),
            manifest: digest.to_string(),
        };
        self.write_atomically(&self.tag_path(key), &serde_json::to_vec(&record)?)
    }

    fn tag_path(&self, key: &str) -> PathBuf {
        // Hashed: a tag key holds '/' and ':', and may be long.
        self.dir
            .join("tags")
            .join(digest_hex(&digest(key.as_bytes())))
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let folder = path.parent().expect("cache paths are in folders");
        fs::create_dir_all(folder)
            .with_context(|| format!("oci cache: cannot make {}", folder.display()))?;
        let temporary = folder.join(temporary_name());
        let written = fs::File::create(&temporary).and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
        if let Err(error) = written.and_then(|()| fs::rename(&temporary, path)) {
            let _ = fs::remove_file(&temporary);
            return Err(error)
                .with_context(|| format!("oci cache: cannot write {}", path.display()));
        }
        Ok(())
    }

    /// Removes the blobs used least recently until the blobs fit the
    /// bound, sparing `keep` (just written), and dead pulls' temporary
    /// files. Failures only warn: the cache is an optimization.
    fn evict(&self, keep: &Path) {
        let folder = self.dir.join("blobs").join("sha256");
        let Ok(_lock) = self.lock() else {
            return;
        };
        let Ok(entries) = fs::read_dir(&folder) else {
            return;
        };
        let now = SystemTime::now();
        let mut blobs = Vec::new();
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().unwrap_or(now);
            let path = entry.path();
            if is_temporary(&path) {
                if now.duration_since(modified).unwrap_or_default() > STALE_TEMPORARY {
                    let _ = fs::remove_file(&path);
                }
                continue;
            }
            blobs.push((modified, meta.len(), path));
        }
        let mut total: u64 = blobs.iter().map(|(_, len, _)| len).sum();
        blobs.sort();
        for (_, len, path) in blobs {
            if total <= self.max_bytes {
                break;
            }
            if path == keep {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    total -= len;
                    tracing::info!(
                        "oci cache: evicted {} ({len} bytes, used least recently) to stay within --oci-cache-max",
                        path.display()
                    );
                }
                Err(error) => tracing::warn!("oci cache: cannot evict {}: {error}", path.display()),
            }
        }
    }

    /// The cache's lock, held while evicting.
    fn lock(&self) -> std::io::Result<fs::File> {
        fs::create_dir_all(&self.dir)?;
        let file = fs::File::create(self.dir.join("lock"))?;
        file.lock()?;
        Ok(file)
    }
}

/// HEX of `sha256:HEX`, if it is one.
fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

fn temporary_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        ".partial-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with(".partial-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("yell-oci-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn blobs_are_kept_by_digest_and_checked_on_every_read() {
        let cache = OciCache::new(scratch("check"), 1 << 20);
        let name = cache.put_blob(b"component").unwrap();
        assert_eq!(cache.blob(&name).as_deref(), Some(&b"component"[..]));
        // Bytes changed behind the cache's back: not served, and removed.
        fs::write(cache.blob_path(&name).unwrap(), b"c0mponent").unwrap();
        assert_eq!(cache.blob(&name), None);
        assert!(!cache.blob_path(&name).unwrap().exists());
        assert_eq!(cache.blob("sha256:nothex"), None);
    }

    #[test]
    fn past_the_bound_the_least_recently_used_go_first() {
        let cache = OciCache::new(scratch("lru"), 25);
        let old = cache.put_blob(&[1; 10]).unwrap();
        let used = cache.put_blob(&[2; 10]).unwrap();
        let past = SystemTime::now() - Duration::from_secs(60);
        for name in [&old, &used] {
            let file = fs::File::options()
                .append(true)
                .open(cache.blob_path(name).unwrap())
                .unwrap();
            file.set_modified(past).unwrap();
        }
        assert!(cache.blob(&used).is_some());
        let new = cache.put_blob(&[3; 10]).unwrap();
        assert!(cache.blob(&old).is_none(), "the least recently used stays");
        assert!(cache.blob(&used).is_some());
        assert!(cache.blob(&new).is_some());
    }

    #[test]
    fn manifests_and_tags_are_recorded() {
        let cache = OciCache::new(scratch("records"), 1 << 20);
        let digest = format!("sha256:{}", "0".repeat(64));
        let record = ManifestRecord {
            layer: digest.clone(),
            size: 9,
            signature: None,
        };
        cache.put_manifest(&digest, &record).unwrap();
        assert_eq!(cache.manifest(&digest), Some(record));
        assert_eq!(cache.tag("r:5000/p:v1"), None);
        cache.put_tag("r:5000/p:v1", &digest).unwrap();
        assert_eq!(cache.tag("r:5000/p:v1"), Some(digest));
    }
}
