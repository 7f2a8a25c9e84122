//! Embeds the example plugins built from this tree into the binary, so that
//! an installed `yell-host` serves its default plugin, and finds the other
//! examples by name, with no source tree and no data folder: the Rust
//! examples are tens of KB each. They are what `just build-plugins` put in
//! target/plugins/; a build made before that embeds none and says so.

use std::fmt::Write;
use std::path::PathBuf;

/// The plugins embedded, by bare name (the default first).
const EMBEDDED: [&str; 8] = [
    "uppercase",
    "reverse",
    "rot13",
    "filter",
    "splitter",
    "counter",
    "tally",
    "ratelimit",
];

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let built = root.join("target/plugins");
    let mut code =
        String::from("/// The plugins built into this binary: (bare name, component).\n");
    code.push_str("pub const PLUGINS: &[(&str, &[u8])] = &[\n");
    let mut missing = Vec::new();
    for name in EMBEDDED {
        let path = built.join(format!("{name}.wasm"));
        // Rerun when a plugin is rebuilt (or first appears).
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_file() {
            writeln!(
                code,
                "    ({name:?}, include_bytes!({:?})),",
                path.display().to_string()
            )
            .unwrap();
        } else {
            missing.push(name);
        }
    }
    code.push_str("];\n");
    if !missing.is_empty() {
        println!(
            "cargo:warning=not embedding {} (not built yet: `just build-plugins` builds them into target/plugins/)",
            missing.join(", ")
        );
    }
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("embedded_plugins.rs");
    std::fs::write(out, code).expect("write embedded_plugins.rs");
}
