//! `yell-host new`: a plugin project from the templates and the SDK this
//! binary carries (vendored into the project, so it builds with no source
//! tree of yell-host), and `--update-sdk`, which refreshes the vendored
//! SDK and contract of an existing project.
//!
//! Owns: the templates and the vendored files. Uses: the manifest, the
//! embedded contract.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::manifest::{Language, Manifest, Tools, MANIFEST_FILE};
use crate::embedded::{contract_package, CONTRACT_WIT};

/// The version of wit-bindgen the Rust SDK is built with.
const RUST_WIT_BINDGEN: &str = "0.46.0";

/// A project's own files (written once, by `new`), `{name}` and
/// `{contract}` filled in.
const RUST_PROJECT: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/rust/Cargo.toml.in"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/rust/src/lib.rs.in"),
    ),
    (
        "tests/lines.in",
        include_str!("../../templates/rust/tests/lines.in"),
    ),
    (
        "tests/lines.out",
        include_str!("../../templates/rust/tests/lines.out"),
    ),
    (
        "tests/greeting.in",
        include_str!("../../templates/rust/tests/greeting.in"),
    ),
    (
        "tests/greeting.out",
        include_str!("../../templates/rust/tests/greeting.out"),
    ),
    (
        "tests/greeting.config",
        include_str!("../../templates/rust/tests/greeting.config"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/rust/gitignore.in"),
    ),
    (
        "README.md",
        include_str!("../../templates/rust/README.md.in"),
    ),
];

/// The Rust SDK's sources, as this binary was built with them.
const RUST_SDK: &[(&str, &str)] = &[
    (
        "sdk/src/lib.rs",
        include_str!("../../../plugins/sdk/src/lib.rs"),
    ),
    (
        "sdk/src/host.rs",
        include_str!("../../../plugins/sdk/src/host.rs"),
    ),
    (
        "sdk/src/log.rs",
        include_str!("../../../plugins/sdk/src/log.rs"),
    ),
    (
        "sdk/src/reply.rs",
        include_str!("../../../plugins/sdk/src/reply.rs"),
    ),
    (
        "sdk/src/runtime.rs",
        include_str!("../../../plugins/sdk/src/runtime.rs"),
    ),
    (
        "sdk/src/testing.rs",
        include_str!("../../../plugins/sdk/src/testing.rs"),
    ),
];

/// The vendored SDK's manifest: the repository's inherits from its
/// workspace, this one stands alone.
const RUST_SDK_MANIFEST: &str = r#"[package]
name = "yell-plugin"
description = "Write a yell-host plugin as one per-line function (vendored by `yell-host new`)"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
memchr = { version = "2", default-features = false, features = ["std"] }
wit-bindgen = { version = "=0.46.0", default-features = false, features = ["macros", "realloc"] }
"#;

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
    write_vendored(dir, manifest.language)?;
    manifest.contract = contract_package().to_string();
    manifest.tools = tools(manifest.language);
    write(dir, MANIFEST_FILE, &manifest.to_toml())?;
    Ok(manifest)
}

fn project_files(language: Language) -> &'static [(&'static str, &'static str)] {
    match language {
        Language::Rust => RUST_PROJECT,
    }
}

fn tools(language: Language) -> Tools {
    match language {
        Language::Rust => Tools {
            wit_bindgen: Some(RUST_WIT_BINDGEN.to_string()),
        },
    }
}

/// The SDK and the contract, as this binary carries them.
fn write_vendored(dir: &Path, language: Language) -> Result<()> {
    write(dir, "wit/plugin.wit", CONTRACT_WIT)?;
    match language {
        Language::Rust => {
            write(dir, "sdk/Cargo.toml", RUST_SDK_MANIFEST)?;
            for (path, text) in RUST_SDK {
                // The repository's SDK finds the contract two folders up;
                // the vendored one, beside it in the project.
                let text = text.replace("path: \"../../wit\"", "path: \"../wit\"");
                write(dir, path, &text)?;
            }
        }
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

    #[test]
    fn the_vendored_sdk_finds_the_projects_contract() {
        let lib = RUST_SDK[0].1;
        assert!(
            lib.contains("path: \"../../wit\""),
            "the SDK's generate! moved"
        );
    }
}
