//! The build tools of plugin projects. The pinned ones (componentize-py
//! for Python, ComponentizeJS for JavaScript) are installed once per
//! version into `$XDG_CACHE_HOME/yell-host/tools/NAME-VERSION`, shared by
//! every project, so a second project builds with the network off. An
//! install runs under a lock (two builds at once install once) into a
//! temporary folder renamed into place, so one cut short leaves nothing
//! that looks installed. The Debian ones (clang for C, Node.js, Python's
//! pip) are only looked for: when one is missing, the error names the
//! `apt-get install` command, and nothing here runs a package manager.
//!
//! Owns: the tool folders. Uses: the cache folder.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::embedded::cache_dir;

/// componentize-py's version, and its pinned wheel (name and hash) from
/// scripts/tools-requirements.txt, the one place the repository pins it.
pub const COMPONENTIZE_PY: &str = "0.25.1";
const TOOLS_REQUIREMENTS: &str = include_str!("../../../scripts/tools-requirements.txt");

/// ComponentizeJS's version, and the npm package and lock that pin it and
/// what it runs with (the repository's own, plugins/js).
pub const COMPONENTIZE_JS: &str = "0.23.0";
const JS_PACKAGE: &str = include_str!("../../../plugins/js/package.json");
const JS_LOCK: &str = include_str!("../../../plugins/js/package-lock.json");
/// The script that runs ComponentizeJS on a project (installed beside it,
/// so it finds it).
const JS_BUILD_SCRIPT: &str = include_str!("../../../plugins/js/build.mjs");

/// The tool folder of NAME at VERSION.
fn tool_dir(name: &str, version: &str) -> PathBuf {
    cache_dir().join("tools").join(format!("{name}-{version}"))
}

/// Fails with the `apt-get` line that installs `package` when `program`
/// is not on PATH.
pub fn require(program: &str, package: &str, for_what: &str) -> Result<()> {
    if on_path(program) {
        return Ok(());
    }
    bail!("{program} is missing ({for_what}): install it with `sudo apt-get install {package}`")
}

/// Whether `program` is an executable file on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|meta| meta.is_file() && is_executable(&meta))
        })
    })
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

/// componentize-py, installed when missing: the folder to put on
/// PYTHONPATH (it runs as `python3 -m componentize_py`).
pub fn componentize_py() -> Result<PathBuf> {
    require("python3", "python3", "componentize-py runs on it")?;
    let requirement = TOOLS_REQUIREMENTS
        .lines()
        .find(|line| line.starts_with(&format!("componentize-py=={COMPONENTIZE_PY} ")))
        .context("componentize-py is not pinned in tools-requirements.txt")?;
    installed(
        &tool_dir("componentize-py", COMPONENTIZE_PY),
        &format!("componentize-py {COMPONENTIZE_PY} (PyPI)"),
        |dir| {
            let requirements = dir.join("requirements.txt");
            std::fs::write(&requirements, format!("{requirement}\n"))?;
            let mut pip = Command::new("python3");
            pip.args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-deps", "--require-hashes", "--no-compile", "--target"])
            .arg(dir.join("lib"))
            .arg("-r")
            .arg(&requirements)
            .env("PIP_ROOT_USER_ACTION", "ignore");
            run(
                pip,
                "pip",
                "python3 -m pip is missing: install it with `sudo apt-get install python3-pip`",
            )
        },
    )
    .map(|dir| dir.join("lib"))
}

/// ComponentizeJS, installed when missing: the build script beside it.
pub fn componentize_js() -> Result<PathBuf> {
    require("node", "nodejs", "ComponentizeJS runs on Node.js")?;
    installed(
        &tool_dir("componentize-js", COMPONENTIZE_JS),
        &format!("ComponentizeJS {COMPONENTIZE_JS} (npm)"),
        |dir| {
            std::fs::write(dir.join("package.json"), JS_PACKAGE)?;
            std::fs::write(dir.join("package-lock.json"), JS_LOCK)?;
            require("npm", "npm", "it installs ComponentizeJS")?;
            let mut npm = Command::new("npm");
            npm.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(dir);
            run(
                npm,
                "npm ci",
                "npm is missing: install it with `sudo apt-get install npm`",
            )
        },
    )
    .and_then(|dir| {
        // The script is this binary's (the tool folder's may be an older
        // yell-host's): written whenever it differs.
        let script = dir.join("build.mjs");
        if std::fs::read_to_string(&script).ok().as_deref() != Some(JS_BUILD_SCRIPT) {
            let temporary = dir.join(format!(".build.mjs.{}", std::process::id()));
            std::fs::write(&temporary, JS_BUILD_SCRIPT)?;
            std::fs::rename(&temporary, &script)?;
        }
        Ok(script)
    })
}

/// `dir`, installed by `install` (given an empty temporary folder) unless
/// it already is.
fn installed(dir: &Path, what: &str, install: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
    let done = dir.join(".installed");
    if done.is_file() {
        return Ok(dir.to_path_buf());
    }
    let parent = dir.parent().expect("a tool folder has a parent");
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let lock_path = parent.join(".lock");
    let lock = File::create(&lock_path).with_context(|| format!("{}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    // Another build may have installed it while this one waited.
    if done.is_file() {
        return Ok(dir.to_path_buf());
    }
    eprintln!(
        "yell-host build: installing {what} into {} (once, for every project)",
        dir.display()
    );
    let temporary = parent.join(format!(
        ".{}.{}",
        dir.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&temporary);
    std::fs::create_dir_all(&temporary)?;
    if let Err(error) = install(&temporary) {
        let _ = std::fs::remove_dir_all(&temporary);
        return Err(error.context(format!("installing {what}")));
    }
    std::fs::write(temporary.join(".installed"), what)?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&temporary, dir).with_context(|| format!("installing {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// Runs `command`, its output on stderr; a failure says so with `missing`
/// when the program itself is not there.
fn run(mut command: Command, name: &str, missing: &str) -> Result<()> {
    let status = command.stdout(std::io::stderr()).status();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => bail!("{name} failed ({status}); its messages are above"),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!("{missing}"),
        Err(error) => Err(error).with_context(|| format!("running {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_versions_are_the_repositorys() {
        assert!(TOOLS_REQUIREMENTS.contains(&format!("componentize-py=={COMPONENTIZE_PY} ")));
        assert!(JS_PACKAGE.contains(&format!(
            "\"@bytecodealliance/componentize-js\": \"{COMPONENTIZE_JS}\""
        )));
    }

    #[test]
    fn a_missing_program_is_named_with_its_package() {
        let error = require("no-such-program-here", "some-package", "it builds").unwrap_err();
        assert_eq!(
            error.to_string(),
            "no-such-program-here is missing (it builds): install it with `sudo apt-get install some-package`"
        );
    }
}
