//! A C project's build: Debian's clang-14 compiles every `.c` file of
//! `src/` (or of the project's folder, when it has no `src/`) with the vendored SDK and bindings for wasm32-wasi (a reactor:
//! no `main`), the world's types are embedded from the project's `wit/`,
//! and the module becomes a component, with the WASI preview 1 adapter
//! when it uses wasi-libc's stdio, files or clocks. clang is not pinned
//! (Debian replaces a version with its security update): when it is
//! missing the error names the `apt-get install` command.
//!
//! Owns: finding clang, running it, embedding the types. Uses: the
//! manifest, the component step.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::component::{
    finish_core_module, make_parent, output_path, run_compiler, temporary_beside, BuildOptions,
};
use super::manifest::Manifest;

/// Debian's packages that compile C for wasm32-wasi.
const APT_PACKAGES: &str = "clang-14 lld-14 libclang-rt-14-dev-wasm32 wasi-libc";

/// Builds the C project in `dir`; returns the component's path.
pub fn build(dir: &Path, manifest: &Manifest, options: &BuildOptions) -> Result<PathBuf> {
    require_toolchain()?;
    // A project's sources are in src/; a folder without one (the
    // repository's plugins) is its own.
    let src = if dir.join("src").is_dir() {
        dir.join("src")
    } else {
        dir.to_path_buf()
    };
    let sources = sources(&src)?;
    let core = output_path(dir, manifest, options).with_extension("core.wasm");
    make_parent(&core)?;
    let core = temporary_beside(&core);
    let sdk = manifest.sdk_dir(dir);
    let mut clang = Command::new("clang-14");
    clang
        .args([
            "--target=wasm32-wasi",
            "-mexec-model=reactor",
            "-O2",
            "-Wall",
            "-Wextra",
        ])
        .arg("-I")
        .arg(sdk.join("bindings"))
        .arg("-I")
        .arg(&sdk)
        .arg("-I")
        .arg(&src)
        .args(&sources)
        .arg(sdk.join("yell_plugin.c"))
        .arg(sdk.join("bindings/plugin.c"))
        // SIMD as the Rust plugins have it; the stack first and 1 MiB, so
        // an overflow traps instead of overwriting data; printf's
        // long-double support, so snprintf needs no WASI.
        .args([
            "-msimd128",
            "-Wl,--stack-first",
            "-Wl,-z,stack-size=1048576",
        ])
        .arg("-lc-printscan-long-double")
        .arg("-o")
        .arg(&core);
    if options.debug {
        clang.arg("-g");
    }
    let compiled = run_compiler(clang, &format!("clang, compiling {}", manifest.name));
    let module = compiled
        .and_then(|()| std::fs::read(&core).with_context(|| format!("reading {}", core.display())));
    let _ = std::fs::remove_file(&core);
    let mut module = module?;
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(manifest.wit_dir(dir)).with_context(|| {
        format!(
            "reading the contract in {}",
            manifest.wit_dir(dir).display()
        )
    })?;
    // The SDK's bindings are the stateful world's (named `plugin`): the
    // component imports only what the module calls, so a plugin that
    // keeps no state and publishes no metrics stays a plain `plugin`.
    let world = resolve.select_world(&[package], Some("stateful-plugin"))?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )?;
    finish_core_module(dir, manifest, module, options)
}

/// Fails with the `apt-get` line when a part of the C toolchain is
/// missing.
fn require_toolchain() -> Result<()> {
    let builtins = std::fs::read_dir("/usr/lib/llvm-14/lib/clang")
        .into_iter()
        .flatten()
        .flatten()
        .any(|version| {
            version
                .path()
                .join("lib/wasi/libclang_rt.builtins-wasm32.a")
                .is_file()
        });
    let missing = [
        (!super::tools::on_path("clang-14")).then_some("clang-14"),
        (!super::tools::on_path("wasm-ld-14")).then_some("wasm-ld-14"),
        (!Path::new("/usr/lib/wasm32-wasi/libc.a").is_file()).then_some("wasi-libc"),
        (!builtins).then_some("the wasm32 compiler runtime"),
    ];
    let missing: Vec<&str> = missing.into_iter().flatten().collect();
    if !missing.is_empty() {
        bail!(
            "{} missing (C plugins compile with Debian's clang for wasm32-wasi): install them with `sudo apt-get install {APT_PACKAGES}`",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The `.c` files of `src`, in a fixed order.
fn sources(src: &Path) -> Result<Vec<PathBuf>> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(src)
        .with_context(|| format!("reading {}", src.display()))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .collect();
    if sources.is_empty() {
        bail!("{}: no .c files to compile", src.display());
    }
    sources.sort();
    Ok(sources)
}
