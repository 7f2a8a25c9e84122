//! Bad `--plugin` arguments are refused before the server binds, with a
//! message naming the file and the problem, and a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::harness;
use crate::harness::{assert_mentions, refused, scratch, wait_with_timeout, STEP_TIMEOUT};

fn write_wat(name: &str, wat: &str) -> PathBuf {
    let path = harness::scratch("plugin_loading", name).join(name);
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    path
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_plugin_that_does_not_exist() {
    let stderr = refused(&["--plugin", "no-such-plugin.wasm"]);
    assert_mentions(
        &stderr,
        &[
            "no-such-plugin.wasm",
            "not found",
            "the data folder",
            "just install",
            "--plugin-dir",
        ],
    );
    let stderr = refused(&["--plugin", "/no/such/dir/plugin.wasm"]);
    assert_mentions(&stderr, &["/no/such/dir/plugin.wasm", "no such file"]);
}

#[test]
fn a_file_that_is_not_wasm() {
    let path = scratch("plugin_loading", "notes.wasm").join("notes.wasm");
    std::fs::write(&path, "just some text\n").unwrap();
    let stderr = refused(&["--plugin", arg(&path)]);
    assert_mentions(&stderr, &[arg(&path), "is not a WebAssembly file"]);
}

#[test]
fn a_core_module_rather_than_a_component() {
    let path = write_wat("core.wasm", r#"(module (func (export "transform")))"#);
    let stderr = refused(&["--plugin", arg(&path)]);
    assert_mentions(
        &stderr,
        &[arg(&path), "core WebAssembly module, not a component"],
    );
}

#[test]
fn a_component_of_the_wrong_world() {
    let path = write_wat(
        "wrong-world.wasm",
        r#"(component
            (core module $m (func (export "f") (result i32) i32.const 7))
            (core instance $i (instantiate $m))
            (func $f (result u32) (canon lift (core func $i "f")))
            (export "answer" (func $f)))"#,
    );
    let stderr = refused(&["--plugin", arg(&path)]);
    assert_mentions(
        &stderr,
        &[
            arg(&path),
            "is not a yell:plugin/plugin@0.1.0 component",
            "transform",
        ],
    );
}

#[test]
fn a_component_importing_what_the_host_does_not_offer() {
    let path = write_wat(
        "wants-files.wasm",
        r#"(component
            (import "acme:files/reader@1.0.0" (instance
                (export "read" (func (param "path" string) (result (list u8)))))))"#,
    );
    let stderr = refused(&["--plugin", arg(&path)]);
    assert_mentions(
        &stderr,
        &[
            arg(&path),
            "imports something the host does not offer",
            "acme:files/reader@1.0.0",
        ],
    );
}

#[test]
fn a_plugin_refusing_its_configuration() {
    let stderr = refused(&["--plugin", "uppercase.wasm", "--plugin-config", "shout=yes"]);
    assert_mentions(
        &stderr,
        &[
            "uppercase.wasm",
            "refused its configuration",
            "unknown config key `shout`",
        ],
    );
}

#[test]
fn bad_options_are_refused_with_usage() {
    let mut child = harness::yell_host()
        .args(["--max-line-length", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_with_timeout(&mut child, STEP_TIMEOUT);
    assert!(!status.success());
}
