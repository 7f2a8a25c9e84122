//! A JavaScript project's build: ComponentizeJS (installed once into the
//! shared tool folder, with the build script beside it) makes a component
//! of `app.js`, what it imports from the project, and the vendored SDK,
//! with the SpiderMonkey engine inside.
//!
//! Owns: running the build script. Uses: the manifest, the component
//! step, the tool folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::component::{make_parent, output_path, run_compiler, BuildOptions};
use super::manifest::Manifest;
use super::tools;

/// Builds the JavaScript project in `dir`; returns the component's path.
/// `--debug` changes nothing: an exception logs its own stack.
pub fn build(dir: &Path, manifest: &Manifest, options: &BuildOptions) -> Result<PathBuf> {
    if !dir.join("app.js").is_file() {
        bail!(
            "{}: no app.js (the module that exports `transform(line)`)",
            dir.display()
        );
    }
    let script = tools::componentize_js()?;
    let out = output_path(dir, manifest, options);
    make_parent(&out)?;
    // The script wants absolute paths: it works from the project folder.
    let absolute = std::path::absolute(dir).with_context(|| format!("{}", dir.display()))?;
    let mut node = Command::new("node");
    node.arg(&script)
        .arg(std::path::absolute(manifest.wit_dir(dir))?)
        .arg(absolute.join("app.js"))
        .arg(std::path::absolute(&out)?)
        .arg(std::path::absolute(manifest.sdk_dir(dir))?)
        .arg(manifest.world.name());
    run_compiler(node, &format!("ComponentizeJS, building {}", manifest.name))?;
    Ok(out)
}
