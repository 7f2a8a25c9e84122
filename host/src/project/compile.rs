//! `yell-host build`: a project into a component, by its language's
//! builder. Every builder leaves `DIR/target/NAME.wasm` (written whole, then
//! renamed) and sends the compiler's messages to stderr, so stdout holds
//! only the component's path.
//!
//! Owns: choosing the builder. Uses: the manifest and the builders.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::component::BuildOptions;
use super::manifest::{Language, Manifest};
use super::{build_c, build_js, build_python, build_rust};

/// Builds the project in `dir`; returns the component's path
/// (`DIR/target/NAME.wasm`).
pub fn build(dir: &Path, options: &BuildOptions) -> Result<PathBuf> {
    let manifest = Manifest::read(dir)?;
    manifest.check_contract()?;
    match manifest.language {
        Language::Rust => build_rust::build(dir, &manifest, options),
        Language::Python => build_python::build(dir, &manifest, options),
        Language::Js => build_js::build(dir, &manifest, options),
        Language::C => build_c::build(dir, &manifest, options),
    }
}
