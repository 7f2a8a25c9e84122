//! `yell-host build`: a project into a component. For Rust, cargo builds
//! the core module for `wasm32-unknown-unknown` (rustup's target when it is
//! installed, else Debian's Rust with the standard library built from its
//! sources), into one target folder shared by every project, so the
//! standard library and the SDK's dependencies are built once; the module
//! then becomes a component here, with wit-component (no wasm-tools
//! needed). A toolchain that is missing is named with the command that
//! installs it: this never runs a package manager.
//!
//! Owns: building. Uses: the manifest, the cache folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::manifest::{Language, Manifest};
use crate::embedded::cache_dir;

/// How to build.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    /// Keep function names in the component, so a trap's backtrace shows
    /// them.
    pub debug: bool,
}

const TARGET: &str = "wasm32-unknown-unknown";

/// Builds the project in `dir`; returns the component's path
/// (`DIR/target/NAME.wasm`).
pub fn build(dir: &Path, options: BuildOptions) -> Result<PathBuf> {
    let manifest = Manifest::read(dir)?;
    manifest.check_contract()?;
    match manifest.language {
        Language::Rust => build_rust(dir, &manifest, options),
    }
}

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

fn build_rust(dir: &Path, manifest: &Manifest, options: BuildOptions) -> Result<PathBuf> {
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
    let status = cargo
        .status()
        .with_context(|| format!("running cargo for {}", dir.display()))?;
    if !status.success() {
        bail!(
            "cargo could not build {} (its messages are above)",
            manifest.name
        );
    }
    let core = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", manifest.name.replace('-', "_")));
    let module = std::fs::read(&core).with_context(|| format!("reading {}", core.display()))?;
    // The module is built with its function names (the same build either
    // way, so --debug rebuilds nothing); they are dropped here unless asked
    // for.
    let module = if options.debug {
        module
    } else {
        without_names(&module).with_context(|| format!("reading {}", core.display()))?
    };
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|mut encoder| encoder.encode())
        .with_context(|| format!("making a component of {}", core.display()))?;
    let out_dir = dir.join("target");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let path = out_dir.join(format!("{}.wasm", manifest.name));
    let temporary = out_dir.join(format!(".{}.wasm.{}", manifest.name, std::process::id()));
    std::fs::write(&temporary, component)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `module` without its name and debug sections (what `strip` would drop):
/// smaller, and a trap names no function.
fn without_names(module: &[u8]) -> Result<Vec<u8>> {
    let mut out = wasm_encoder::Module::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        let payload = payload?;
        if let wasmparser::Payload::CustomSection(custom) = &payload {
            let name = custom.name();
            if name == "name" || name.starts_with(".debug") {
                continue;
            }
        }
        if let Some((id, range)) = payload.as_section() {
            out.section(&wasm_encoder::RawSection {
                id,
                data: &module[range],
            });
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dropped_and_the_rest_kept() {
        let module = wat::parse_str(
            r#"(module (func $shout (export "shout") (result i32) i32.const 7) (@custom "keep" "yes"))"#,
        )
        .unwrap();
        let has = |bytes: &[u8], wanted: &str| {
            wasmparser::Parser::new(0).parse_all(bytes).any(|payload| {
                matches!(payload, Ok(wasmparser::Payload::CustomSection(c)) if c.name() == wanted)
            })
        };
        assert!(has(&module, "name"));
        let stripped = without_names(&module).unwrap();
        assert!(!has(&stripped, "name"));
        assert!(has(&stripped, "keep"));
        wasmparser::Validator::new()
            .validate_all(&stripped)
            .unwrap();
    }
}
