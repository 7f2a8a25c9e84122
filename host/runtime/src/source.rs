//! Where a plugin's bytes come from: a file, a registry pull or an embedded
//! default all end as a [`PluginSource`], which is what the runtime loads.
//! The bytes are read once and checked as they are: what is checked is
//! what is compiled.
//!
//! Where a spec's bytes are read is the embedder's to say
//! ([`SourceReader`]): files by default; a server may add registries.
//!
//! Owns: [`PluginSource`], [`DetachedSignature`], [`SourceReader`]. Uses:
//! the digest, the spec.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::cache::{digest, Digest256};
use crate::spec::PluginSpec;

/// Reads the bytes a [`PluginSpec`] names, each time the plugin is loaded
/// (at start and at every reload).
pub trait SourceReader: Send + Sync {
    /// The plugin's bytes as they are now, and where its signature is.
    fn read(&self, spec: &PluginSpec) -> Result<PluginSource>;
}

/// The default reader: `spec.path` is a file.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileReader;

impl SourceReader for FileReader {
    fn read(&self, spec: &PluginSpec) -> Result<PluginSource> {
        PluginSource::read(&spec.path)
    }
}

/// A plugin component's bytes, as read at one moment, with where they came
/// from (for logs and errors) and where its signature is.
#[derive(Debug, Clone)]
pub struct PluginSource {
    /// How logs and errors name it: the file's path, a registry reference.
    pub origin: String,
    /// The plugin's name in logs and figures: its file name without
    /// extension. Generations of one plugin share it.
    pub name: Arc<str>,
    /// The component.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`.
    pub digest: Digest256,
    /// Where its signature is, if a trusted key asks for one.
    pub signature: DetachedSignature,
}

/// Where a plugin's ed25519 signature is (see `yell-host sign`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetachedSignature {
    /// In the file beside the plugin's (`X.wasm.sig`), read when a trusted
    /// key asks for it.
    File(PathBuf),
    /// Carried with the bytes (by a registry, say), named for messages;
    /// `None` when it came without one.
    Carried {
        /// How messages name it.
        name: String,
        /// The signature file's content.
        bytes: Option<Vec<u8>>,
    },
}

impl PluginSource {
    /// Reads the plugin file at `path`; its signature is `X.wasm.sig`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("plugin {}: cannot read it", path.display()))?;
        Ok(PluginSource {
            origin: path.display().to_string(),
            name: plugin_name(path).into(),
            digest: digest(&bytes),
            signature: DetachedSignature::File(signature_path(path)),
            bytes,
        })
    }

    /// Bytes from anywhere: `origin` names them in logs and errors, `name`
    /// is the plugin's name; no signature comes with them.
    pub fn from_bytes(origin: impl Into<String>, name: &str, bytes: Vec<u8>) -> Self {
        let origin = origin.into();
        PluginSource {
            signature: DetachedSignature::Carried {
                name: format!("the signature of {origin}"),
                bytes: None,
            },
            origin,
            name: name.into(),
            digest: digest(&bytes),
            bytes,
        }
    }
}

/// The plugin's name for a file: its file name without extension. For a
/// registry reference (`oci://HOST/REPO:TAG`, `...@sha256:...`), the last
/// segment of its repository: `oci://r.example/team/uppercase:v2` is
/// `uppercase`, as `uppercase.wasm` is.
pub fn plugin_name(path: &Path) -> String {
    let shown = path.to_string_lossy();
    if let Some(reference) = shown.strip_prefix("oci://") {
        let last = reference.rsplit('/').next().unwrap_or(reference);
        let repository = last.split('@').next().unwrap_or(last);
        let repository = repository.split(':').next().unwrap_or(repository);
        if !repository.is_empty() && reference.contains('/') {
            return repository.to_string();
        }
    }
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".into())
}

/// Where the signature of the plugin at `path` is kept: `X.wasm.sig`.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_is_named_by_its_file_or_its_repository() {
        for (path, name) in [
            ("/srv/plugins/uppercase.wasm", "uppercase"),
            ("oci://127.0.0.1:5000/team/uppercase:v2", "uppercase"),
            ("oci://r.example/reverse@sha256:00", "reverse"),
            ("oci://r.example/tally", "tally"),
        ] {
            assert_eq!(plugin_name(Path::new(path)), name, "{path}");
        }
    }

    #[test]
    fn a_file_is_named_by_its_stem_and_signed_beside_it() {
        let dir = std::env::temp_dir().join(format!("yell-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("upper.wasm");
        std::fs::write(&path, b"bytes").unwrap();
        let source = PluginSource::read(&path).unwrap();
        assert_eq!(&*source.name, "upper");
        assert_eq!(source.digest, digest(b"bytes"));
        assert_eq!(
            source.signature,
            DetachedSignature::File(dir.join("upper.wasm.sig"))
        );
        assert!(PluginSource::read(&dir.join("missing.wasm"))
            .unwrap_err()
            .to_string()
            .contains("cannot read it"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
