//! A Python project's build: componentize-py (installed once into the
//! shared tool folder) makes a component of `app.py` and the vendored SDK,
//! with CPython inside. The project's modules and the SDK's are staged
//! first (their `.py` files and packages, not their tests, `__pycache__`,
//! `target/` or anything else in the folder), so only they are bundled.
//!
//! Owns: staging the sources, running componentize-py. Uses: the manifest,
//! the component step, the tool folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::component::{make_parent, output_path, run_compiler, temporary_beside, BuildOptions};
use super::manifest::Manifest;
use super::tools;

/// Builds the Python project in `dir`; returns the component's path.
/// `--debug` changes nothing: a Python exception logs its own traceback.
pub fn build(dir: &Path, manifest: &Manifest, options: &BuildOptions) -> Result<PathBuf> {
    if !dir.join("app.py").is_file() {
        bail!(
            "{}: no app.py (the module whose `Transform` class is the plugin)",
            dir.display()
        );
    }
    let tool = tools::componentize_py()?;
    let out = output_path(dir, manifest, options);
    make_parent(&out)?;
    let stage = temporary_beside(&out.with_extension("python-app"));
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&stage).with_context(|| format!("creating {}", stage.display()))?;
    stage_modules(dir, &stage)?;
    // The SDK's modules too: not its tests or its __pycache__.
    stage_modules(&manifest.sdk_dir(dir), &stage)?;
    let temporary = temporary_beside(&out);
    let mut componentize = Command::new("python3");
    componentize
        .arg("-c")
        .arg("import sys, componentize_py; sys.argv[0] = 'componentize-py'; componentize_py.script()")
        .arg("-d")
        .arg(manifest.wit_dir(dir))
        .args(["-w", manifest.world.name(), "componentize", "app", "-p"])
        .arg(&stage)
        .arg("-o")
        .arg(&temporary)
        .env("PYTHONPATH", &tool)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let built = run_compiler(
        componentize,
        &format!("componentize-py, building {}", manifest.name),
    );
    let _ = std::fs::remove_dir_all(&stage);
    if let Err(error) = built {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    std::fs::rename(&temporary, &out).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}

/// Copies the plugin's modules of `dir` into `stage`: every `.py` file at
/// its top but the tests (`test_*.py`, `*_test.py`), and every package (a
/// folder with `__init__.py`) but `sdk`, `target` and `tests`.
fn stage_modules(dir: &Path, stage: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_file() && is_module(&name) {
            std::fs::copy(&path, stage.join(&name))
                .with_context(|| format!("copying {}", path.display()))?;
        } else if path.is_dir()
            && path.join("__init__.py").is_file()
            && !matches!(name.as_str(), "sdk" | "target" | "tests")
        {
            copy_package(&path, &stage.join(&name))?;
        }
    }
    Ok(())
}

fn is_module(name: &str) -> bool {
    name.ends_with(".py") && !name.starts_with("test_") && !name.ends_with("_test.py")
}

fn copy_package(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let path = entry.path();
        if path.is_dir() {
            if name != "__pycache__" {
                copy_package(&path, &to.join(&name))?;
            }
        } else {
            std::fs::copy(&path, to.join(&name))
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_are_not_bundled() {
        assert!(is_module("app.py"));
        assert!(is_module("helpers.py"));
        assert!(!is_module("test_app.py"));
        assert!(!is_module("app_test.py"));
        assert!(!is_module("app.pyc"));
    }
}
