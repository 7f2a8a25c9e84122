//! Finding a plugin file from what the user typed after `--plugin`.
//!
//! Owns: the plugin folder and the lookup of bare names. Uses: nothing else of this crate.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// Where `just build-plugins` puts the components of this source tree; the
/// default plugin folder of a binary built from it.
pub const BUILT_PLUGIN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/plugins");

/// Resolves `--plugin NAME`: a path to an existing file is used as it is; a
/// bare name (no '/') is looked up in `plugin_dir`, with `.wasm` added when
/// it has no extension (`uppercase` finds `uppercase.wasm`).
pub fn locate_plugin(requested: &Path, plugin_dir: &Path) -> Result<PathBuf> {
    if requested.is_file() {
        return Ok(requested.to_path_buf());
    }
    let is_bare_name = requested.components().count() == 1;
    if is_bare_name {
        let mut candidates = vec![plugin_dir.join(requested)];
        if requested.extension().is_none() {
            candidates.push(plugin_dir.join(requested).with_extension("wasm"));
        }
        if let Some(found) = candidates.into_iter().find(|c| c.is_file()) {
            return Ok(found);
        }
        bail!(
            "plugin {}: not found, neither here nor in the plugin folder {} (`just build-plugins` builds the plugins of this repository into it; --plugin-dir or YELL_PLUGIN_DIR choose another)",
            requested.display(),
            plugin_dir.display()
        );
    }
    bail!("plugin {}: no such file", requested.display());
}

/// [`locate_plugin`] for each plugin of a chain, in `plugin_dir` or, when
/// none is given, in [`BUILT_PLUGIN_DIR`].
pub fn locate_chain(requested: &[PathBuf], plugin_dir: Option<&Path>) -> Result<Vec<PathBuf>> {
    let dir = plugin_dir.map_or_else(|| PathBuf::from(BUILT_PLUGIN_DIR), Path::to_path_buf);
    requested
        .iter()
        .map(|plugin| locate_plugin(plugin, &dir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_bare_names_and_missing_files() {
        let dir = std::env::temp_dir().join(format!("yell-locate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("demo.wasm");
        std::fs::write(&file, b"x").unwrap();

        assert_eq!(locate_plugin(&file, Path::new("/nowhere")).unwrap(), file);
        assert_eq!(locate_plugin(Path::new("demo.wasm"), &dir).unwrap(), file);
        assert_eq!(locate_plugin(Path::new("demo"), &dir).unwrap(), file);

        let missing = locate_plugin(Path::new("absent.wasm"), &dir).unwrap_err();
        assert!(
            missing.to_string().contains("absent.wasm: not found"),
            "{missing}"
        );
        let missing_path = locate_plugin(&dir.join("absent.wasm"), &dir).unwrap_err();
        assert!(
            missing_path.to_string().contains("no such file"),
            "{missing_path}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
