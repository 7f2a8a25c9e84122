//! Finding a plugin file from what the user typed after `--plugin`.
//!
//! A registry reference (`oci://...`) is left as it is: it is pulled when
//! loaded ([`crate::oci`]). A path to a file is that file. A bare name (`uppercase`, or
//! `uppercase.wasm`) is looked up, first match wins, in:
//! 1. the plugin folder given by `--plugin-dir` or `YELL_PLUGIN_DIR`;
//! 2. the data folder `just install` fills
//!    ([`data_plugin_dir`](crate::embedded::data_plugin_dir));
//! 3. the plugins embedded in the binary ([`crate::embedded`]).
//!
//! Owns: the lookup of bare names. Uses: [`crate::embedded`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::embedded;

/// Where bare plugin names are looked up, in order (the module's doc).
#[derive(Debug, Clone)]
pub struct PluginSearch {
    /// `--plugin-dir` / `YELL_PLUGIN_DIR`, when given.
    pub plugin_dir: Option<PathBuf>,
    /// The data folder, when the home folder is known.
    pub data_dir: Option<PathBuf>,
    /// Whether the embedded plugins are looked at last.
    pub embedded: bool,
}

impl PluginSearch {
    /// The search of an installed binary: `plugin_dir` (from the command
    /// line or the environment), the data folder, the embedded plugins.
    pub fn new(plugin_dir: Option<&Path>) -> PluginSearch {
        PluginSearch {
            plugin_dir: plugin_dir.map(Path::to_path_buf),
            data_dir: embedded::data_plugin_dir(),
            embedded: true,
        }
    }

    /// Resolves `--plugin NAME` (the module's doc).
    pub fn locate(&self, requested: &Path) -> Result<PathBuf> {
        if crate::oci::is_reference(requested) {
            // Pulled when loaded; checked now, so a typo fails at start.
            crate::oci::OciReference::parse(&requested.to_string_lossy())?;
            return Ok(requested.to_path_buf());
        }
        if requested.is_file() {
            return Ok(requested.to_path_buf());
        }
        let is_bare_name = requested.components().count() == 1;
        if !is_bare_name {
            bail!("plugin {}: no such file", requested.display());
        }
        let folders = self.plugin_dir.iter().chain(self.data_dir.iter());
        for folder in folders {
            let mut candidates = vec![folder.join(requested)];
            if requested.extension().is_none() {
                candidates.push(folder.join(requested).with_extension("wasm"));
            }
            if let Some(found) = candidates.into_iter().find(|c| c.is_file()) {
                return Ok(found);
            }
        }
        let name = requested.to_string_lossy();
        if self.embedded {
            if let Some(bytes) = embedded::plugin(&name) {
                return embedded::materialize(&name, bytes);
            }
        }
        bail!(
            "plugin {name}: not found, neither as a file here nor by name in {} (`just install` puts every plugin it builds in the data folder; --plugin-dir or YELL_PLUGIN_DIR add a folder)",
            self.describe()
        );
    }

    /// [`PluginSearch::locate`] for each plugin of a chain.
    pub fn locate_chain(&self, requested: &[PathBuf]) -> Result<Vec<PathBuf>> {
        requested.iter().map(|plugin| self.locate(plugin)).collect()
    }

    /// The places looked in, for messages.
    pub fn describe(&self) -> String {
        let mut places = Vec::new();
        if let Some(dir) = &self.plugin_dir {
            places.push(format!("the plugin folder {}", dir.display()));
        }
        if let Some(dir) = &self.data_dir {
            places.push(format!("the data folder {}", dir.display()));
        }
        if self.embedded {
            let names = embedded::plugin_names();
            places.push(if names.is_empty() {
                "the embedded plugins (none: this binary was built before `just build-plugins`)"
                    .to_string()
            } else {
                format!("the embedded plugins ({})", names.join(", "))
            });
        }
        places.join(", ")
    }
}

/// [`PluginSearch::locate_chain`] with the search of an installed binary.
pub fn locate_chain(requested: &[PathBuf], plugin_dir: Option<&Path>) -> Result<Vec<PathBuf>> {
    PluginSearch::new(plugin_dir).locate_chain(requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_then_the_plugin_folder_then_the_data_folder() {
        let dir = std::env::temp_dir().join(format!("yell-locate-{}", std::process::id()));
        let (given, data) = (dir.join("given"), dir.join("data"));
        std::fs::create_dir_all(&given).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(given.join("demo.wasm"), b"given").unwrap();
        std::fs::write(data.join("demo.wasm"), b"data").unwrap();
        std::fs::write(data.join("only-data.wasm"), b"data").unwrap();
        let search = PluginSearch {
            plugin_dir: Some(given.clone()),
            data_dir: Some(data.clone()),
            embedded: false,
        };

        let file = given.join("demo.wasm");
        assert_eq!(search.locate(&file).unwrap(), file);
        assert_eq!(search.locate(Path::new("demo.wasm")).unwrap(), file);
        assert_eq!(search.locate(Path::new("demo")).unwrap(), file);
        assert_eq!(
            search.locate(Path::new("only-data")).unwrap(),
            data.join("only-data.wasm")
        );

        let missing = search.locate(Path::new("absent.wasm")).unwrap_err();
        let message = missing.to_string();
        assert!(message.contains("absent.wasm: not found"), "{message}");
        assert!(message.contains(&given.display().to_string()), "{message}");
        assert!(message.contains(&data.display().to_string()), "{message}");
        let missing_path = search.locate(&dir.join("absent.wasm")).unwrap_err();
        assert!(
            missing_path.to_string().contains("no such file"),
            "{missing_path}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
