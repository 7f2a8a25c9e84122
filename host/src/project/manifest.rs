//! `yell-plugin.toml`: what a plugin project is (its name, language,
//! the contract it targets, the versions of the tools that build it).
//!
//! Owns: [`Manifest`] and its checks. Uses: the embedded contract.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::embedded::contract_package;

/// The manifest's file name, at the root of a project.
pub const MANIFEST_FILE: &str = "yell-plugin.toml";

/// The languages a project may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Rust, with the `yell-plugin` crate.
    Rust,
    /// Python, with `yell_plugin.py`, built by componentize-py.
    Python,
    /// JavaScript, with `yell_plugin.js`, built by ComponentizeJS.
    Js,
    /// C, with `yell_plugin.h`, built by Debian's clang for wasm32-wasi.
    C,
}

impl Language {
    /// Its name, as `--lang` and the manifest spell it.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
            Language::C => "c",
        }
    }
}

/// The tool versions a project was made with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Tools {
    /// The wit-bindgen of the Rust SDK, or of the C SDK's bindings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wit_bindgen: Option<String>,
    /// The componentize-py that builds a Python project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub componentize_py: Option<String>,
    /// The ComponentizeJS that builds a JavaScript project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub componentize_js: Option<String>,
}

/// The world a project's component is built for. Python and JavaScript
/// components keep every import of their world, so a project that keeps
/// no state must not be built for the stateful one (its calls would wait
/// on the host, and take fewer lines each); Rust and C components import
/// only what their code calls, and are built for the stateful world
/// whatever this says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// Lines in, lines out: the host's log and connection addresses.
    #[default]
    Plugin,
    /// A `plugin` that also publishes metrics of its own.
    MetricsPlugin,
    /// A `metrics-plugin` that also keeps state in `wasi:keyvalue` buckets.
    StatefulPlugin,
}

impl World {
    fn is_plain(&self) -> bool {
        *self == World::Plugin
    }

    /// Its name in `wit/plugin.wit`.
    pub fn name(self) -> &'static str {
        match self {
            World::Plugin => "plugin",
            World::MetricsPlugin => "metrics-plugin",
            World::StatefulPlugin => "stateful-plugin",
        }
    }
}

/// A project's `yell-plugin.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The plugin's name: its component is NAME.wasm.
    pub name: String,
    /// What it is written in.
    pub language: Language,
    /// The contract it targets, `yell:plugin@VERSION`.
    pub contract: String,
    /// The world of the contract it is built for (`plugin` unless set):
    /// what it may import.
    #[serde(default, skip_serializing_if = "World::is_plain")]
    pub world: World,
    /// Where its SDK is, relative to the project: `sdk` (vendored by
    /// `new`) unless set. The repository's own plugins share one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<PathBuf>,
    /// Where its contract is, relative to the project: `wit` unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wit: Option<PathBuf>,
    /// The tools it is built with.
    #[serde(default)]
    pub tools: Tools,
}

impl Manifest {
    /// Reads the manifest of the project in `dir`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: not a plugin project (no {MANIFEST_FILE}; `yell-host new` makes one)",
                dir.display()
            )
        })?;
        let manifest: Manifest =
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        if manifest.name.is_empty()
            || !manifest
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!(
                "{}: name {:?}: letters, digits, '-' and '_' only",
                path.display(),
                manifest.name
            );
        }
        Ok(manifest)
    }

    /// The SDK's folder, for the project in `dir`.
    pub fn sdk_dir(&self, dir: &Path) -> PathBuf {
        dir.join(self.sdk.as_deref().unwrap_or(Path::new("sdk")))
    }

    /// The contract's folder, for the project in `dir`.
    pub fn wit_dir(&self, dir: &Path) -> PathBuf {
        dir.join(self.wit.as_deref().unwrap_or(Path::new("wit")))
    }

    /// The manifest as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a manifest serializes")
    }

    /// Refuses a project whose contract this binary does not serve.
    pub fn check_contract(&self) -> Result<()> {
        let served = contract_package();
        if self.contract != served {
            bail!(
                "the project targets the contract {}, and this yell-host serves {served}: `yell-host new --update-sdk DIR` moves it to {served} (its code may need changes)",
                self.contract
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_its_contract_is_checked() {
        let manifest = Manifest {
            name: "shout".into(),
            language: Language::Rust,
            contract: contract_package().into(),
            world: World::StatefulPlugin,
            sdk: None,
            wit: None,
            tools: Tools {
                wit_bindgen: Some("0.46.0".into()),
                ..Tools::default()
            },
        };
        let text = manifest.to_toml();
        assert!(text.contains("language = \"rust\""), "{text}");
        assert!(text.contains("world = \"stateful-plugin\""), "{text}");
        assert_eq!(toml::from_str::<Manifest>(&text).unwrap(), manifest);
        manifest.check_contract().unwrap();
        let old = Manifest {
            contract: "yell:plugin@0.0.1".into(),
            ..manifest
        };
        let refused = old.check_contract().unwrap_err().to_string();
        assert!(refused.contains("yell:plugin@0.0.1"), "{refused}");
    }
}
