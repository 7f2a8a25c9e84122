//! Where the things under test are: the binary, the built plugins, the
//! compile cache and each test's scratch folder.

use std::path::{Path, PathBuf};

/// Where the servers the tests start keep compiled plugins: inside the
/// build tree, not in the home folder.
pub fn compile_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}

/// The `yell-host` under test: the one cargo built for the tests, or
/// `YELL_HOST_BINARY` (how a benchmark times a release build).
pub fn binary() -> String {
    std::env::var("YELL_HOST_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_yell-host").into())
}

/// `yell-host` to run as a command: the binary under test, looking bare
/// plugin names up in the folder `just build-plugins` fills (an installed
/// binary would look in its data folder), on the tests' compile cache.
pub fn yell_host() -> std::process::Command {
    let mut command = std::process::Command::new(binary());
    command
        .env("YELL_PLUGIN_DIR", plugin_dir())
        .env("YELL_COMPILE_CACHE", compile_cache());
    command
}

/// Where `just build-plugins` puts the plugin components.
pub fn plugin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/plugins")
}

/// A plugin built for the tests only (plugins/testing/NAME), as a path
/// argument.
pub fn testing_plugin(name: &str) -> String {
    plugin_dir()
        .join(format!("testing/{name}.wasm"))
        .to_string_lossy()
        .into_owned()
}

/// The bytes of the built plugin `name` (target/plugins/NAME.wasm).
pub fn plugin_bytes(name: &str) -> Vec<u8> {
    std::fs::read(plugin_dir().join(format!("{name}.wasm"))).expect("built plugin")
}

/// A fresh folder for one test's files: `group/test` in the build tree
/// (emptied by the next run, not left in /tmp).
pub fn scratch(group: &str, test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(group)
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Deploys like most tools do: writes a new file beside `live`, then
/// renames it over.
pub fn deploy_by_rename(live: &Path, bytes: &[u8]) {
    let temporary = PathBuf::from(format!("{}.new", live.display()));
    std::fs::write(&temporary, bytes).unwrap();
    std::fs::rename(&temporary, live).unwrap();
}

/// A wasm custom section (id 0): appended to a component, it changes the
/// file without changing what the plugin does.
pub fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut section = vec![0u8, body.len() as u8];
    section.extend_from_slice(&body);
    section
}
