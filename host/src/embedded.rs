//! What the binary carries so that it stands alone, installed with no
//! source tree: the example plugins built with it (bytes embedded by
//! `host/build.rs`) and the plugin contract (`wit/`).
//!
//! Owns: the embedded components and contract, the files an embedded
//! plugin is served from, and the folders this binary keeps files in. Uses: nothing else of this crate.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

include!(concat!(env!("OUT_DIR"), "/embedded_plugins.rs"));

/// The plugin contract, `wit/plugin.wit`, as this binary serves it.
pub const CONTRACT_WIT: &str = include_str!("../../wit/plugin.wit");

/// Every file of the contract, by its path under `wit/`: `plugin.wit`
/// and the packages it uses (`deps/`), which a toolchain needs beside it.
pub const CONTRACT_FILES: &[(&str, &str)] = &[
    ("plugin.wit", CONTRACT_WIT),
    (
        "deps/keyvalue/store.wit",
        include_str!("../../wit/deps/keyvalue/store.wit"),
    ),
    (
        "deps/keyvalue/atomic.wit",
        include_str!("../../wit/deps/keyvalue/atomic.wit"),
    ),
    (
        "deps/keyvalue/batch.wit",
        include_str!("../../wit/deps/keyvalue/batch.wit"),
    ),
    (
        "deps/keyvalue/watch.wit",
        include_str!("../../wit/deps/keyvalue/watch.wit"),
    ),
    (
        "deps/keyvalue/world.wit",
        include_str!("../../wit/deps/keyvalue/world.wit"),
    ),
];

/// The contract's package and version (`yell:plugin@0.1.0`), from its
/// `package` line.
pub fn contract_package() -> &'static str {
    CONTRACT_WIT
        .lines()
        .find_map(|line| line.trim().strip_prefix("package "))
        .map(|rest| rest.trim_end_matches(';').trim())
        .unwrap_or("yell:plugin")
}

/// The names of the embedded plugins, the default first.
pub fn plugin_names() -> Vec<&'static str> {
    PLUGINS.iter().map(|(name, _)| *name).collect()
}

/// The embedded component called `name` (`uppercase` or `uppercase.wasm`).
pub fn plugin(name: &str) -> Option<&'static [u8]> {
    let name = name.strip_suffix(".wasm").unwrap_or(name);
    PLUGINS
        .iter()
        .find(|(embedded, _)| *embedded == name)
        .map(|(_, bytes)| *bytes)
}

/// A file holding the embedded plugin `name`, written on first use: the
/// server loads, watches and pins plugins as files, so an embedded one is
/// served from a file too. It lives in the cache folder, named by its
/// content's digest, so two builds never share one; written to a
/// temporary name and renamed, so a reader never sees half of it.
pub fn materialize(name: &str, bytes: &[u8]) -> Result<PathBuf> {
    materialize_in(&cache_dir(), name, bytes)
}

/// [`materialize`] under `cache`.
fn materialize_in(cache: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let name = name.strip_suffix(".wasm").unwrap_or(name);
    let digest = yell_runtime::digest_hex(&yell_runtime::digest(bytes));
    let dir = cache.join("embedded").join(&digest[..16]);
    let path = dir.join(format!("{name}.wasm"));
    if std::fs::read(&path).is_ok_and(|existing| existing == bytes) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(format!(".{name}.wasm.{}", std::process::id()));
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `$XDG_CACHE_HOME/yell-host`, else `~/.cache/yell-host`, else the
/// system's temporary folder: where this binary keeps what it can make
/// again (embedded plugins as files, the shared build folder of plugin
/// projects).
pub fn cache_dir() -> PathBuf {
    xdg_dir("XDG_CACHE_HOME", ".cache")
        .unwrap_or_else(|| std::env::temp_dir().join("yell-host-cache"))
}

/// Where `just install` puts the plugin components too big to embed (the
/// Python and JavaScript ones, 12-18 MB each), with the rest:
/// `$XDG_DATA_HOME/yell-host/plugins`, else
/// `~/.local/share/yell-host/plugins`.
pub fn data_plugin_dir() -> Option<PathBuf> {
    xdg_dir("XDG_DATA_HOME", ".local/share").map(|dir| dir.join("plugins"))
}

/// `$VARIABLE/yell-host` when it is an absolute path (as the XDG base
/// directory specification asks), else `$HOME/FALLBACK/yell-host`.
fn xdg_dir(variable: &str, fallback: &str) -> Option<PathBuf> {
    let base = std::env::var_os(variable)
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|home| !home.is_empty())
                .map(|home| Path::new(&home).join(fallback))
        })?;
    Some(base.join("yell-host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_contract_is_carried() {
        fn wit_files(dir: &Path, root: &Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    wit_files(&path, root, found);
                } else if path.extension().is_some_and(|ext| ext == "wit") {
                    found.push(
                        path.strip_prefix(root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("wit");
        let mut found = Vec::new();
        wit_files(&root, &root, &mut found);
        found.sort();
        let mut carried: Vec<String> = CONTRACT_FILES
            .iter()
            .map(|(name, _)| name.to_string())
            .collect();
        carried.sort();
        assert_eq!(
            carried, found,
            "CONTRACT_FILES must list every file of wit/"
        );
    }

    #[test]
    fn the_contract_names_its_package_and_version() {
        assert!(
            contract_package().starts_with("yell:plugin@"),
            "{}",
            contract_package()
        );
    }

    #[test]
    fn an_embedded_plugin_is_written_once_whole_and_reused() {
        let cache = std::env::temp_dir().join(format!("yell-embedded-{}", std::process::id()));
        let bytes = b"\0asm not really";
        let first = materialize_in(&cache, "demo-embedded.wasm", bytes).unwrap();
        assert_eq!(std::fs::read(&first).unwrap(), bytes);
        assert_eq!(first.file_name().unwrap(), "demo-embedded.wasm");
        let again = materialize_in(&cache, "demo-embedded", bytes).unwrap();
        assert_eq!(first, again);
        // Other bytes under the same name: another file.
        let other = materialize_in(&cache, "demo-embedded", b"\0asm other").unwrap();
        assert_ne!(first, other);
        std::fs::remove_dir_all(&cache).unwrap();
    }
}
