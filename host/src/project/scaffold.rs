//! `yell-host new`: a plugin project from the templates and the SDK this
//! binary carries (vendored into the project, so it builds with no source
//! tree of yell-host), and `--update-sdk`, which refreshes the vendored
//! SDK and contract of an existing project.
//!
//! Owns: writing a project. Uses: the manifest, the templates, the
//! embedded contract.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::manifest::{Language, Manifest, World, MANIFEST_FILE};
use super::templates::{project_files, sdk_files, tools, RUST_SDK_MANIFEST};
use crate::embedded::{contract_package, CONTRACT_FILES};

/// Makes a new project of `language` in `dir` (created if missing; it
/// must be empty), named `name` or after the folder.
pub fn create(dir: &Path, language: Language, name: Option<&str>) -> Result<Manifest> {
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            bail!(
                "{} is not empty: `yell-host new` makes a project in a new or empty folder",
                dir.display()
            );
        }
    } else if dir.exists() {
        bail!("{} is not a folder", dir.display());
    }
    let name = match name {
        Some(name) => name.to_string(),
        None => name_from(dir)?,
    };
    let manifest = Manifest {
        name: name.clone(),
        language,
        contract: contract_package().to_string(),
        world: World::Plugin,
        sdk: None,
        wit: None,
        tools: tools(language),
    };
    let fill = |text: &str| {
        text.replace("{name}", &name)
            .replace("{contract}", &manifest.contract)
    };
    for (path, text) in project_files(language) {
        write(dir, path, &fill(text))?;
    }
    write_vendored(dir, language)?;
    write(dir, MANIFEST_FILE, &manifest.to_toml())?;
    Ok(manifest)
}

/// Rewrites the vendored SDK and contract of the project in `dir` with
/// this binary's, and its manifest's contract and tool versions.
pub fn update_sdk(dir: &Path) -> Result<Manifest> {
    let mut manifest = Manifest::read(dir)?;
    if manifest.sdk.is_some() || manifest.wit.is_some() {
        bail!(
            "{}: its SDK and contract are not vendored ({} names where they are): there is nothing to refresh",
            dir.display(),
            MANIFEST_FILE
        );
    }
    write_vendored(dir, manifest.language)?;
    manifest.contract = contract_package().to_string();
    manifest.tools = tools(manifest.language);
    write(dir, MANIFEST_FILE, &manifest.to_toml())?;
    Ok(manifest)
}

/// The SDK and the contract, as this binary carries them.
fn write_vendored(dir: &Path, language: Language) -> Result<()> {
    for (name, text) in CONTRACT_FILES {
        write(dir, &format!("wit/{name}"), text)?;
    }
    if language == Language::Rust {
        write(dir, "sdk/Cargo.toml", RUST_SDK_MANIFEST)?;
    }
    for (path, text) in sdk_files(language) {
        // The repository's Rust SDK finds the contract two folders up;
        // the vendored one, beside it in the project.
        let text = text.replace("path: \"../../wit\"", "path: \"../wit\"");
        write(dir, path, &text)?;
    }
    Ok(())
}

/// A crate name from the folder's name: lower case, `-` for anything but
/// letters and digits.
fn name_from(dir: &Path) -> Result<String> {
    let folder = std::path::absolute(dir)?
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = folder
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_string();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        bail!(
            "cannot name a plugin after the folder {:?}: give --name",
            folder
        );
    }
    Ok(name)
}

fn write(dir: &Path, path: &str, text: &str) -> Result<()> {
    let path = dir.join(path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_folders_and_odd_ones_are_refused() {
        assert_eq!(
            name_from(Path::new("/tmp/My Plugin_2")).unwrap(),
            "my-plugin-2"
        );
        assert!(name_from(Path::new("/tmp/2fast")).is_err());
    }
}
