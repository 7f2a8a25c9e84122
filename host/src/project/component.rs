//! What every project build ends with: a core module made a component
//! (with wit-component, no wasm-tools needed), its function names dropped
//! unless `--debug` keeps them, written to `DIR/target/NAME.wasm` under a
//! temporary name and renamed, so a server watching the file never loads
//! half of it.
//!
//! Owns: [`BuildOptions`], the output file. Uses: the manifest.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::manifest::Manifest;

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Keep function names in the component, so a trap's backtrace shows
    /// them.
    pub debug: bool,
    /// Where to write the component, instead of `DIR/target/NAME.wasm`.
    pub out: Option<PathBuf>,
}

/// Where the component of the project in `dir` is written.
pub fn output_path(dir: &Path, manifest: &Manifest, options: &BuildOptions) -> PathBuf {
    options
        .out
        .clone()
        .unwrap_or_else(|| dir.join("target").join(format!("{}.wasm", manifest.name)))
}

/// A temporary name beside `path`, for a file written then renamed.
pub fn temporary_beside(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{}", std::process::id()))
}

/// Makes the core module `module` (which carries its world's types) a
/// component, with the WASI preview 1 adapter when it imports preview 1,
/// and writes it as the project's output.
pub fn finish_core_module(
    dir: &Path,
    manifest: &Manifest,
    module: Vec<u8>,
    options: &BuildOptions,
) -> Result<PathBuf> {
    let module = if options.debug {
        module
    } else {
        without_names(&module).context("reading the core module")?
    };
    let mut encoder = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)?;
    if imports_module(&module, "wasi_snapshot_preview1")? {
        // wasi-libc's stdio, clocks and files, adapted to WASI 0.2 (the
        // host grants none of them unless the operator does).
        encoder = encoder.adapter(
            "wasi_snapshot_preview1",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?;
    }
    let component = encoder.encode().context("making a component")?;
    write_output(&output_path(dir, manifest, options), &component)
}

/// Writes `component` to `path`; returns the path.
pub fn write_output(path: &Path, component: &[u8]) -> Result<PathBuf> {
    make_parent(path)?;
    let temporary = temporary_beside(path);
    std::fs::write(&temporary, component)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path.to_path_buf())
}

/// Makes the folder `path` goes in.
pub fn make_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display())),
        _ => Ok(()),
    }
}

/// Runs a compiler, its messages on stderr (stdout is for the
/// component's path); fails naming `what` when it does.
pub fn run_compiler(mut command: Command, what: &str) -> Result<()> {
    let status = command
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed (its messages are above)");
    }
    Ok(())
}

/// Whether the core module imports anything from `module_name`.
fn imports_module(module: &[u8], module_name: &str) -> Result<bool> {
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::ImportSection(imports) = payload? {
            for import in imports.into_imports() {
                if import?.module == module_name {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// `module` without its name and debug sections (what `strip` would drop):
/// smaller, and a trap names no function.
pub fn without_names(module: &[u8]) -> Result<Vec<u8>> {
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

    #[test]
    fn a_preview1_import_is_seen() {
        let module = wat::parse_str(
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))"#,
        )
        .unwrap();
        assert!(imports_module(&module, "wasi_snapshot_preview1").unwrap());
        assert!(!imports_module(&module, "env").unwrap());
    }
}
