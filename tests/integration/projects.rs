//! Plugin projects outside this source tree, as a new author makes them:
//! `yell-host new` in a temporary folder with a fresh home folder, `build`
//! (the component's path on the last line), `test` passing, then failing
//! with a diff once a fixture's expected output changes, the native unit
//! test under `cargo test`, and the component served over TCP. Cargo's and
//! rustup's own folders are kept, and the build folder every project
//! shares is the suite's, so the standard library is built once per run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::harness::{self, assert_mentions, exchange, read_line, ServerProcess};

/// A fresh home folder and a project folder outside the repository.
struct Author {
    home: PathBuf,
    work: PathBuf,
}

impl Author {
    fn new(test: &str) -> Self {
        let root =
            std::env::temp_dir().join(format!("yell-projects-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (home, work) = (root.join("home"), root.join("work"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        Author { home, work }
    }

    /// `yell-host ARGS` in the work folder, as the author runs it.
    fn yell_host(&self, args: &[&str]) -> Output {
        self.command(harness::binary()).args(args).output().unwrap()
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        let real_home = std::env::var_os("HOME").unwrap_or_default();
        let cargo_home = std::env::var_os("CARGO_HOME")
            .unwrap_or_else(|| Path::new(&real_home).join(".cargo").into_os_string());
        let rustup_home = std::env::var_os("RUSTUP_HOME")
            .unwrap_or_else(|| Path::new(&real_home).join(".rustup").into_os_string());
        command
            .current_dir(&self.work)
            .env("HOME", &self.home)
            .env("CARGO_HOME", cargo_home)
            .env("RUSTUP_HOME", rustup_home)
            // The shared build folder (and the tools), kept between runs.
            .env("XDG_CACHE_HOME", shared_cache())
            .env_remove("XDG_DATA_HOME")
            .env_remove("YELL_PLUGIN_DIR")
            .env_remove("CARGO_TARGET_DIR");
        command
    }
}

impl Drop for Author {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.home.parent().unwrap());
    }
}

fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("author-cache")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The component's path: the last line `yell-host build` printed.
fn built(output: &Output) -> PathBuf {
    assert!(
        output.status.success(),
        "build failed: {}",
        text(&output.stderr)
    );
    let stdout = text(&output.stdout);
    PathBuf::from(stdout.lines().last().expect("a path on stdout"))
}

#[test]
fn a_rust_plugin_is_made_built_tested_and_served_from_anywhere() {
    // One build at a time: two would build the shared folder side by side.
    let _building = harness::commands::CacheLock::exclusive_on(&shared_cache());
    let author = Author::new("rust");
    let made = author.yell_host(&["new", "--lang", "rust", "shout"]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let project = author.work.join("shout");
    for file in [
        "yell-plugin.toml",
        "Cargo.toml",
        "src/lib.rs",
        "sdk/src/testing.rs",
        "wit/plugin.wit",
        "tests/lines.in",
        ".gitignore",
        "README.md",
    ] {
        assert!(project.join(file).is_file(), "no {file}");
    }
    // A folder that is not empty is not overwritten.
    let again = author.yell_host(&["new", "shout"]);
    assert_eq!(again.status.code(), Some(1));
    assert_mentions(&text(&again.stderr), &["is not empty"]);

    let component = built(&author.yell_host(&["build", "shout"]));
    assert_eq!(component, Path::new("shout/target/shout.wasm"));
    assert!(project.join("target/shout.wasm").is_file());

    let tested = author.yell_host(&["test", "shout"]);
    let report = text(&tested.stdout);
    assert!(tested.status.success(), "{report}{}", text(&tested.stderr));
    assert_mentions(
        &report,
        &[
            "fixture greeting ... ok",
            "fixture lines ... ok",
            "8 passed, 0 failed",
        ],
    );

    // The expected output changes: exit 1, and a diff.
    std::fs::write(
        project.join("tests/lines.out"),
        "HELLO\r\nYELL-HOST!\nLAST LINE, UNTERMINATED",
    )
    .unwrap();
    let tested = author.yell_host(&["test", "shout"]);
    let report = text(&tested.stdout);
    assert_eq!(tested.status.code(), Some(1), "{report}");
    assert_mentions(
        &report,
        &[
            "fixture lines ... FAILED",
            "- YELL-HOST!\\n",
            "+ YELL-HOST\\n",
        ],
    );

    // The unit test, natively, through the SDK's fake host.
    let unit = author
        .command("cargo")
        .args(["test", "--quiet", "--manifest-path", "shout/Cargo.toml"])
        .env("CARGO_TARGET_DIR", shared_cache().join("native-target"))
        .output()
        .unwrap();
    assert!(
        unit.status.success(),
        "{}{}",
        text(&unit.stdout),
        text(&unit.stderr)
    );
    assert_mentions(&text(&unit.stdout), &["1 passed"]);

    // Served: the reply over TCP.
    // Served from the compile cache `yell-host test` filled (the author's):
    // a Python or JavaScript component compiled twice would cost seconds
    // more on a loaded machine.
    let author_cache = shared_cache().join("yell-host");
    let server = ServerProcess::start(&[
        "--plugin",
        project.join("target/shout.wasm").to_str().unwrap(),
        "--compile-cache",
        author_cache.to_str().unwrap(),
    ]);
    assert_eq!(exchange(&server, b"hello\n"), b"HELLO\n");
}

#[test]
fn a_second_project_builds_offline_and_a_debug_build_names_its_functions() {
    let _building = harness::commands::CacheLock::exclusive_on(&shared_cache());
    let author = Author::new("offline");
    // The first project fetched what Rust plugins need; a second builds
    // with the network off.
    assert!(author.yell_host(&["new", "first"]).status.success());
    built(&author.yell_host(&["build", "first"]));
    assert!(author
        .yell_host(&["new", "--name", "boom", "second"])
        .status
        .success());
    let project = author.work.join("second");
    // A plugin that panics on one line, without the byte map that would
    // map the batch without calling it.
    let source = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
    let source = source
        .replace("    const BYTE_MAP", "    // const BYTE_MAP")
        .replace(
            "        reply.push_map(line,",
            "        if line == b\"boom\" {\n            explode();\n        }\n        reply.push_map(line,",
        )
        + "\n#[inline(never)]\nfn explode() {\n    let empty: Vec<u32> = Vec::new();\n    std::hint::black_box(empty[std::hint::black_box(3)]);\n}\n";
    std::fs::write(project.join("src/lib.rs"), source).unwrap();
    let mut offline = author.command(harness::binary());
    offline
        .args(["build", "--debug", "second"])
        .env("CARGO_NET_OFFLINE", "true");
    let component = built(&offline.output().unwrap());
    assert!(author.work.join(&component).is_file());

    // The trap's backtrace names the function it happened in.
    let mut pipe = author.command(harness::binary());
    pipe.args(["pipe", "--plugin", component.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = pipe.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"boom\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(text(&output.stdout), "ERR plugin: panicked\n");
    assert_mentions(
        &text(&output.stderr),
        &["panicked at src/lib.rs", "::explode"],
    );
}

#[test]
fn a_project_of_another_contract_is_refused_and_its_sdk_can_be_refreshed() {
    let author = Author::new("contract");
    assert!(author.yell_host(&["new", "old"]).status.success());
    let project = author.work.join("old");
    let manifest = std::fs::read_to_string(project.join("yell-plugin.toml")).unwrap();
    std::fs::write(
        project.join("yell-plugin.toml"),
        manifest.replace("yell:plugin@0.1.0", "yell:plugin@0.0.9"),
    )
    .unwrap();
    std::fs::write(project.join("wit/plugin.wit"), "stale").unwrap();
    for command in ["build", "test"] {
        let refused = author.yell_host(&[command, "old"]);
        assert_eq!(refused.status.code(), Some(1), "{command}");
        assert_mentions(
            &text(&refused.stderr),
            &[
                "yell:plugin@0.0.9",
                "this yell-host serves yell:plugin@0.1.0",
                "--update-sdk",
            ],
        );
    }
    let updated = author.yell_host(&["new", "--update-sdk", "old"]);
    assert!(updated.status.success(), "{}", text(&updated.stderr));
    let manifest = std::fs::read_to_string(project.join("yell-plugin.toml")).unwrap();
    assert!(manifest.contains("yell:plugin@0.1.0"), "{manifest}");
    let contract = std::fs::read_to_string(project.join("wit/plugin.wit")).unwrap();
    assert!(contract.contains("package yell:plugin@0.1.0"));
    // Not a project at all.
    let nothing = author.yell_host(&["build", "."]);
    assert_eq!(nothing.status.code(), Some(1));
    assert_mentions(
        &text(&nothing.stderr),
        &["not a plugin project", "yell-host new"],
    );
}

#[test]
fn dev_rebuilds_and_swaps_on_save_and_a_broken_save_keeps_the_last_plugin() {
    let _building = harness::commands::CacheLock::exclusive_on(&shared_cache());
    let author = Author::new("dev");
    assert!(author.yell_host(&["new", "live"]).status.success());
    // Built once before, so the server's start is not a cold build.
    built(&author.yell_host(&["build", "live"]));
    let mut dev = author.command(harness::binary());
    dev.args(["dev", "live"]);
    let server = ServerProcess::spawn(dev, &[], "info");
    let mut stream = server.connect();
    stream.write_all(b"Hello\n").unwrap();
    assert_eq!(read_line(&mut stream), "HELLO\n");

    // A save: rebuilt, swapped, and the open connection gets the new plugin.
    let source = author.work.join("live/src/lib.rs");
    let text = std::fs::read_to_string(&source).unwrap();
    std::fs::write(
        &source,
        text.replace("to_ascii_uppercase", "to_ascii_lowercase"),
    )
    .unwrap();
    server.wait_for_log_within(&["plugin generation 2 serving"], Duration::from_secs(180));
    stream.write_all(b"Hello\n").unwrap();
    assert_eq!(read_line(&mut stream), "hello\n");

    // A save that does not compile: the compiler says why, nothing swaps.
    let text = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, text + "\nfn unfinished( {\n").unwrap();
    server.wait_for_log_within(&["the build failed"], Duration::from_secs(180));
    stream.write_all(b"Still THERE\n").unwrap();
    assert_eq!(read_line(&mut stream), "still there\n");
    let (status, _) = server.terminate();
    assert!(status.success());
}

/// A project of `lang` made, built, checked, unit-tested natively with
/// `unit` (a command run in the project folder, its output mentioning
/// `passed`), served over TCP, and a second project of the same language
/// built with the network off (its tools are in the shared cache now).
fn made_built_tested_and_served(lang: &str, files: &[&str], unit: &[&str], passed: &str) {
    let author = Author::new(lang);
    let made = author.yell_host(&["new", "--lang", lang, "shout"]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let project = author.work.join("shout");
    for file in files.iter().chain(&[
        "yell-plugin.toml",
        "wit/plugin.wit",
        "tests/lines.in",
        ".gitignore",
        "README.md",
    ]) {
        assert!(project.join(file).is_file(), "{lang}: no {file}");
    }
    let manifest = std::fs::read_to_string(project.join("yell-plugin.toml")).unwrap();
    assert!(
        manifest.contains(&format!("language = \"{lang}\"")),
        "{manifest}"
    );

    let component = built(&author.yell_host(&["build", "shout"]));
    assert_eq!(component, Path::new("shout/target/shout.wasm"));

    let tested = author.yell_host(&["test", "shout"]);
    let report = text(&tested.stdout);
    assert!(tested.status.success(), "{report}{}", text(&tested.stderr));
    assert_mentions(
        &report,
        &[
            "fixture greeting ... ok",
            "fixture lines ... ok",
            "8 passed, 0 failed",
        ],
    );

    let unit = author
        .command(unit[0])
        .args(&unit[1..])
        .current_dir(&project)
        .output()
        .unwrap();
    let said = format!("{}{}", text(&unit.stdout), text(&unit.stderr));
    assert!(unit.status.success(), "{lang}: {said}");
    assert_mentions(&said, &[passed]);

    // Served from the compile cache `yell-host test` filled (the author's):
    // a Python or JavaScript component compiled twice would cost seconds
    // more on a loaded machine.
    let author_cache = shared_cache().join("yell-host");
    let server = ServerProcess::start(&[
        "--plugin",
        project.join("target/shout.wasm").to_str().unwrap(),
        "--compile-cache",
        author_cache.to_str().unwrap(),
    ]);
    assert_eq!(exchange(&server, b"hello\n"), b"HELLO\n");

    let again = author.yell_host(&["new", "--lang", lang, "second"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let mut offline = author.command(harness::binary());
    offline
        .args(["build", "second"])
        .env("CARGO_NET_OFFLINE", "true")
        .env("PIP_NO_INDEX", "1")
        .env("npm_config_offline", "true");
    let output = offline.output().unwrap();
    assert_eq!(built(&output), Path::new("second/target/second.wasm"));
    assert!(
        !text(&output.stderr).contains("installing"),
        "{lang}: the second build installed its tools again: {}",
        text(&output.stderr)
    );
}

#[test]
fn a_python_plugin_is_made_built_tested_and_served_from_anywhere() {
    made_built_tested_and_served(
        "python",
        &[
            "app.py",
            "test_app.py",
            "sdk/yell_plugin.py",
            "sdk/yell_plugin_testing.py",
        ],
        &["python3", "-m", "unittest"],
        "OK",
    );
}

#[test]
fn a_javascript_plugin_is_made_built_tested_and_served_from_anywhere() {
    made_built_tested_and_served(
        "js",
        &[
            "app.js",
            "app.test.mjs",
            "package.json",
            "sdk/yell_plugin.js",
            "sdk/testing.mjs",
        ],
        &["node", "--test"],
        "# pass 1",
    );
}

#[test]
fn a_c_plugin_is_made_built_tested_and_served_and_a_debug_build_names_its_functions() {
    made_built_tested_and_served(
        "c",
        &[
            "src/plugin.c",
            "unit/test_plugin.c",
            "Makefile",
            "sdk/yell_plugin.h",
            "sdk/bindings/plugin.c",
        ],
        &["make", "--quiet", "test"],
        "ok a line upper-cased",
    );
    // A plugin that traps in a function of its own, and writes to stderr
    // (wasi-libc's stdio: the component then carries the WASI adapter).
    let author = Author::new("c-debug");
    assert!(author
        .yell_host(&["new", "--lang", "c", "boom"])
        .status
        .success());
    let source = author.work.join("boom/src/plugin.c");
    let code = std::fs::read_to_string(&source).unwrap();
    let code = code
        .replace(
            "#include \"yell_plugin.h\"",
            "#include <stdio.h>\n#include \"yell_plugin.h\"\n\n__attribute__((noinline)) static void explode(void) { __builtin_trap(); }",
        )
        .replace(
            "    uint8_t *dst = yell_line_begin(out, len);",
            "    if (len == 4 && memcmp(line, \"boom\", 4) == 0) {\n        fprintf(stderr, \"about to explode\\n\");\n        explode();\n    }\n    uint8_t *dst = yell_line_begin(out, len);",
        );
    std::fs::write(&source, code).unwrap();
    for (debug, named) in [(true, true), (false, false)] {
        let args: &[&str] = if debug {
            &["build", "--debug", "boom"]
        } else {
            &["build", "boom"]
        };
        let component = built(&author.yell_host(args));
        let mut pipe = author.command(harness::binary());
        pipe.args(["pipe", "--plugin", component.to_str().unwrap()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = pipe.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"boom\n").unwrap();
        let output = child.wait_with_output().unwrap();
        let log = text(&output.stderr);
        assert!(
            text(&output.stdout).starts_with("ERR plugin: trapped"),
            "{log}"
        );
        assert_mentions(&log, &["about to explode"]);
        assert_eq!(log.contains("!explode"), named, "debug {debug}: {log}");
    }
}

#[test]
fn a_missing_toolchain_is_named_with_the_command_that_installs_it() {
    let author = Author::new("no-tools");
    for (lang, wanted) in [
        (
            "c",
            "sudo apt-get install clang-14 lld-14 libclang-rt-14-dev-wasm32 wasi-libc",
        ),
        ("python", "sudo apt-get install python3"),
        ("js", "sudo apt-get install nodejs"),
    ] {
        assert!(author
            .yell_host(&["new", "--lang", lang, lang])
            .status
            .success());
        // No compiler, interpreter or package manager on PATH.
        let mut build = author.command(harness::binary());
        build
            .args(["build", lang])
            .env("PATH", author.home.join("empty"));
        let output = build.output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{lang}");
        assert_mentions(&text(&output.stderr), &[wanted]);
        assert!(output.stdout.is_empty(), "{lang}: {}", text(&output.stdout));
    }
}
