//! A Rust project's build: cargo builds the core module for
//! `wasm32-unknown-unknown` (rustup's target when it is installed, else
//! Debian's Rust with the standard library built from its sources), into
//! one target folder shared by every project, so the standard library and
//! the SDK's dependencies are built once.
//!
//! Owns: finding the Rust toolchain, running cargo. Uses: the manifest,
//! the component step, the cache folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::component::{finish_core_module, run_compiler, BuildOptions};
use super::manifest::Manifest;
use crate::embedded::cache_dir;

const TARGET: &str = "wasm32-unknown-unknown";

/// Which Rust builds wasm here.
enum RustToolchain {
    /// rustup's own target.
    Rustup,
    /// Debian's rustc-web and cargo-web, with std from rust-web-src, and
    /// rustup's rust-lld to link.
    Debian { lld: PathBuf },
}

fn rust_toolchain() -> Result<RustToolchain> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    if installed.lines().any(|line| line.trim() == TARGET) {
        return Ok(RustToolchain::Rustup);
    }
    let debian = Path::new("/usr/bin/cargo").is_file()
        && Path::new("/usr/bin/rustc").is_file()
        && Path::new("/usr/lib/rustlib/src/rust/library").is_dir();
    let lld = Command::new("rustc")
        .args(["--print", "target-libdir"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| {
            let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            Some(libdir.parent()?.join("bin/rust-lld"))
        })
        .filter(|lld| lld.is_file());
    match (debian, lld) {
        (true, Some(lld)) => Ok(RustToolchain::Debian { lld }),
        _ => bail!(
            "no Rust toolchain for {TARGET} here: install one with `sudo apt-get install rustc-web cargo-web rust-web-src` (Debian 12; yell-host then links with rustup's rust-lld) or `rustup target add {TARGET}`"
        ),
    }
}

/// Builds the Rust project in `dir`; returns the component's path.
pub fn build(dir: &Path, manifest: &Manifest, options: &BuildOptions) -> Result<PathBuf> {
    let toolchain = rust_toolchain()?;
    let shared = cache_dir().join("cargo-target");
    // CARGO_TARGET_DIR, when set, is where cargo builds, as it always is.
    let chosen = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
    let (mut cargo, target_dir) = match &toolchain {
        RustToolchain::Rustup => {
            let target_dir = chosen.unwrap_or_else(|| shared.join("rustup"));
            let mut cargo = Command::new("cargo");
            cargo.args(["build", "--release", "--target", TARGET]);
            (cargo, target_dir)
        }
        RustToolchain::Debian { lld } => {
            let target_dir = chosen.unwrap_or_else(|| shared.join("debian"));
            let mut cargo = Command::new("/usr/bin/cargo");
            cargo
                .args(["build", "--release", "--target", TARGET])
                .args(["-Zbuild-std=std,panic_abort"])
                .env("RUSTC", "/usr/bin/rustc")
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", lld);
            (cargo, target_dir)
        }
    };
    cargo
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // What the server's plugins are built with: SIMD, which wasmtime
        // runs on every host it supports.
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            std::env::var("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS")
                .unwrap_or_else(|_| "-C target-feature=+simd128".into()),
        )
        // Cargo's progress and the compiler's messages go to stderr; stdout
        // is for the component's path.
        .stdout(std::io::stderr());
    run_compiler(cargo, &format!("cargo, building {}", manifest.name))?;
    let core = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", manifest.name.replace('-', "_")));
    let module = std::fs::read(&core).with_context(|| format!("reading {}", core.display()))?;
    // The module is built with its function names (the same build either
    // way, so --debug rebuilds nothing); they are dropped unless asked for.
    finish_core_module(dir, manifest, module, options)
}
