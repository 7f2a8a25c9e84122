//! The binary stands alone: installed somewhere else, with a fresh home
//! folder and no source tree to look in, it serves its built-in default
//! plugin, finds the other built-in ones and those of its data folder by
//! name, says where it looked when a name is unknown, and hands out the
//! contract it serves.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{self, exchange, plugin_dir, ServerProcess};

/// `yell-host` copied out of the build tree into `dir/bin`, run from `dir`
/// with `dir/home` as a fresh home folder and no lookup setting of the
/// tests: what a user who installed it has.
struct Installed {
    binary: PathBuf,
    home: PathBuf,
    dir: PathBuf,
}

impl Installed {
    fn new(test: &str) -> Self {
        let dir = harness::scratch("standalone", test);
        let (bin, home) = (dir.join("bin"), dir.join("home"));
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let binary = bin.join("yell-host");
        std::fs::copy(harness::binary(), &binary).unwrap();
        Installed { binary, home, dir }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .current_dir(&self.dir)
            .env("HOME", &self.home)
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("YELL_PLUGIN_DIR")
            .env_remove("YELL_COMPILE_CACHE");
        command
    }

    fn serve(&self, args: &[&str]) -> ServerProcess {
        ServerProcess::spawn(self.command(), args, "warn")
    }

    fn data_folder(&self) -> PathBuf {
        self.home.join(".local/share/yell-host/plugins")
    }
}

#[test]
fn an_installed_binary_serves_its_built_in_plugins_without_the_source_tree() {
    let installed = Installed::new("built-in");
    // No --plugin: the default, uppercase, from inside the binary.
    let server = installed.serve(&[]);
    assert_eq!(exchange(&server, b"hello\n"), b"HELLO\n");
    drop(server);
    // The other examples by bare name.
    let server = installed.serve(&["--plugin", "reverse"]);
    assert_eq!(exchange(&server, b"abc\n"), b"cba\n");
    let server = installed.serve(&["--plugin", "rot13", "--plugin", "uppercase"]);
    assert_eq!(exchange(&server, b"abc\n"), b"NOP\n");
    // Served from a file of its cache folder, under the fresh home.
    let cached = installed.home.join(".cache/yell-host/embedded");
    assert!(cached.is_dir(), "no {}", cached.display());
}

#[test]
fn the_data_folder_is_looked_in_before_the_built_in_plugins() {
    let installed = Installed::new("data-folder");
    let data = installed.data_folder();
    std::fs::create_dir_all(&data).unwrap();
    // A plugin only the data folder has, and one that shadows a built-in.
    std::fs::copy(plugin_dir().join("rot13.wasm"), data.join("shift.wasm")).unwrap();
    std::fs::copy(
        plugin_dir().join("reverse.wasm"),
        data.join("uppercase.wasm"),
    )
    .unwrap();
    let server = installed.serve(&["--plugin", "shift"]);
    assert_eq!(exchange(&server, b"abc\n"), b"nop\n");
    let server = installed.serve(&[]);
    assert_eq!(exchange(&server, b"abc\n"), b"cba\n");
    // XDG_DATA_HOME moves it.
    let elsewhere = installed.dir.join("xdg-data");
    std::fs::create_dir_all(elsewhere.join("yell-host/plugins")).unwrap();
    std::fs::copy(
        plugin_dir().join("splitter.wasm"),
        elsewhere.join("yell-host/plugins/words.wasm"),
    )
    .unwrap();
    let mut command = installed.command();
    command.env("XDG_DATA_HOME", &elsewhere);
    let server = ServerProcess::spawn(command, &["--plugin", "words"], "warn");
    assert_eq!(exchange(&server, b"a b\n"), b"a\nb\n");
}

#[test]
fn an_unknown_name_says_everywhere_it_was_looked_for() {
    let installed = Installed::new("unknown");
    let output = installed
        .command()
        .args(["--listen", "127.0.0.1:0", "--plugin", "uppercase-py"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    harness::assert_mentions(
        &stderr,
        &[
            "plugin uppercase-py: not found",
            &installed.data_folder().display().to_string(),
            "the embedded plugins (uppercase, reverse",
        ],
    );
    // --help says the order too.
    let help = installed.command().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    harness::assert_mentions(
        &help,
        &[
            "--plugin-dir",
            "~/.local/share/yell-host/plugins",
            "built into this binary",
        ],
    );
}

#[test]
fn the_contract_is_printed_or_written_as_served() {
    let installed = Installed::new("wit");
    let contract =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("wit/plugin.wit"))
            .unwrap();
    let printed = installed.command().arg("wit").output().unwrap();
    assert!(printed.status.success(), "{printed:?}");
    assert_eq!(String::from_utf8_lossy(&printed.stdout), contract);
    let written = installed
        .command()
        .args(["wit", "contract"])
        .output()
        .unwrap();
    assert!(written.status.success(), "{written:?}");
    let said = String::from_utf8_lossy(&written.stdout);
    let version = contract
        .lines()
        .find_map(|line| line.strip_prefix("package "))
        .unwrap()
        .trim_end_matches(';');
    assert!(said.contains(version), "{said}");
    assert_eq!(
        std::fs::read_to_string(installed.dir.join("contract/plugin.wit")).unwrap(),
        contract
    );
}
