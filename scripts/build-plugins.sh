#!/usr/bin/env bash
# Builds every plugin crate under plugins/ into a WebAssembly component in
# target/plugins/ (the folder where yell-host looks up a bare plugin name).
#
# The toolchain is detected, not assumed:
#   1. rustup's wasm32-unknown-unknown target, when it is installed;
#   2. otherwise Debian's rustc-web/cargo-web with the standard library
#      sources (rust-web-src), building std for wasm from source
#      (-Zbuild-std), linked with the rust-lld that rustup's toolchain ships.
#      Installed with apt-get when missing.
# The core module cargo produces becomes a component with `wasm-tools
# component new` (installed from PyPI, or with cargo, when missing).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/target/plugins"
target=wasm32-unknown-unknown
target_dir="$root/target/wasm"
manifest="$root/plugins/Cargo.toml"

# The pinned build tools (wasm-tools here), and PATH for them.
# shellcheck source=tools.sh
. "$root/scripts/tools.sh"

# SIMD lets plugins scan and map lines 16 bytes at a time; wasmtime runs it
# on every x86_64 and aarch64 host it supports.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS:--C target-feature=+simd128}"

say() { printf 'build-plugins: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

build_with_rustup_target() {
    say "using rustup's $target target"
    cargo build --quiet --release --manifest-path "$manifest" --target "$target" \
        --target-dir "$target_dir" "${packages[@]}"
}

build_with_debian_std_sources() {
    local debian_cargo=/usr/bin/cargo debian_rustc=/usr/bin/rustc
    local std_src=/usr/lib/rustlib/src/rust/library
    if [ ! -x "$debian_cargo" ] || [ ! -x "$debian_rustc" ] || [ ! -d "$std_src" ]; then
        say "no $target target in rustup: installing Debian's rustc-web, cargo-web, rust-web-src"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq \
            rustc-web cargo-web rust-web-src >/dev/null
    fi
    local lld
    lld="$(dirname "$(rustc --print target-libdir)")/bin/rust-lld"
    [ -x "$lld" ] || { say "no rust-lld at $lld"; exit 1; }
    report_debian_rust_web
    say "using $("$debian_rustc" --version) with std built from source"
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$lld" \
    RUSTC="$debian_rustc" RUSTC_BOOTSTRAP=1 \
        "$debian_cargo" build --quiet --release --manifest-path "$manifest" \
        --target "$target" --target-dir "$target_dir" \
        -Zbuild-std=std,panic_abort "${packages[@]}"
}

# Every crate under plugins/ that builds a cdylib is a plugin (the SDK is not).
# Those under plugins/testing/ exist for the tests and go to a folder apart.
packages=()
names=()
folders=()
while IFS= read -r crate_manifest; do
    grep -q 'crate-type *= *\["cdylib"\]' "$crate_manifest" || continue
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$crate_manifest" | head -n 1)
    packages+=(-p "$name")
    names+=("$name")
    case "$crate_manifest" in
        "$root/plugins/testing/"*) folders+=("$out/testing") ;;
        *) folders+=("$out") ;;
    esac
done < <(find "$root/plugins" -mindepth 2 -maxdepth 3 -name Cargo.toml | sort)
[ ${#names[@]} -gt 0 ] || { say "no plugin crates found under plugins/"; exit 1; }

if rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    build_with_rustup_target
else
    build_with_debian_std_sources
fi

ensure_wasm_tools
for i in "${!names[@]}"; do
    name=${names[$i]}
    mkdir -p "${folders[$i]}"
    core="$target_dir/$target/release/${name//-/_}.wasm"
    component="${folders[$i]}/$name.wasm"
    # Only redo the componentization when the core module changed.
    if [ ! -f "$component" ] || [ "$core" -nt "$component" ]; then
        wasm-tools component new "$core" -o "$component.tmp"
        wasm-tools validate "$component.tmp"
        mv "$component.tmp" "$component"
    fi
    say "$component ($(wc -c <"$component") bytes)"
done

# The Python, C and JavaScript plugins are projects (each folder has its
# yell-plugin.toml), built by `yell-host build`, the code that builds an
# author's project anywhere: the host is built first (debug, as the tests
# use it; it embeds the Rust plugins just built), then each project is
# built into target/plugins/ when its sources, its SDK or the contract
# changed. Those under plugins/LANG/testing/ are for the tests and go to
# target/plugins/testing/. YELL_HOST_BUILD says which host build does it:
# `debug` (the default), `release` (what `just run` serves with), or
# `tests` (the workspace's tests with it, as `just test` then runs them:
# one build of the host, not two with different features).
ensure_openssl_dev
say "building yell-host (${YELL_HOST_BUILD:-debug}), which builds the Python, C and JavaScript plugins"
case "${YELL_HOST_BUILD:-debug}" in
    debug)
        cargo build --quiet --manifest-path "$root/Cargo.toml" --bin yell-host
        yell_host="$root/target/debug/yell-host" ;;
    release)
        cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin yell-host
        yell_host="$root/target/release/yell-host" ;;
    tests)
        cargo test --quiet --no-run --workspace --manifest-path "$root/Cargo.toml"
        yell_host="$root/target/debug/yell-host" ;;
    *) say "YELL_HOST_BUILD=$YELL_HOST_BUILD: debug, release or tests"; exit 1 ;;
esac

# build_project FOLDER COMPONENT SOURCES...: builds the project in FOLDER
# into COMPONENT unless it is newer than FOLDER and every one of SOURCES.
build_project() {
    local folder=$1 component=$2
    shift 2
    if [ -f "$component" ] && [ -z "$(find "$folder" "$@" -newer "$component" -print -quit)" ]; then
        say "$component ($(wc -c <"$component") bytes)"
        return
    fi
    "$yell_host" build --out "$component" "$folder" >/dev/null
    say "$component ($(wc -c <"$component") bytes)"
}

# Python plugins: every folder under plugins/python/ with an app.py (the SDK,
# plugins/python/sdk, is not one) becomes NAME-py.wasm with componentize-py,
# which embeds CPython: about 18 MB, so it is built only when its sources,
# the SDK or the contract changed.
for app in "$root"/plugins/python/*/app.py "$root"/plugins/python/testing/*/app.py; do
    [ -f "$app" ] || continue
    folder=$(dirname "$app")
    case "$folder" in
        "$root/plugins/python/testing/"*) component="$out/testing/$(basename "$folder")-py.wasm" ;;
        *) component="$out/$(basename "$folder")-py.wasm" ;;
    esac
    build_project "$folder" "$component" "$root/plugins/python/sdk" "$root/wit"
done

# C plugins: every folder under plugins/c/ with .c files (the helper,
# plugins/c/sdk, is not one) becomes NAME-c.wasm: clang for wasm32-wasi as
# a reactor (no main) with the SDK and wit-bindgen's C bindings for the
# stateful-plugin world (named `plugin` in C), the world's types embedded,
# made a component that imports only what the plugin calls. A plugin that
# uses WASI preview 1 (stdio, files, clocks through wasi-libc) is adapted to
# WASI 0.2 with the preview 1 adapter; one that does not imports no WASI at
# all.
#
# The bindings are generated source, kept in plugins/c/sdk/bindings with
# the digest of the wit/ they were made from: a C author needs no
# wit-bindgen, and it is installed here only when wit/ changed.
c_sdk="$root/plugins/c/sdk"
c_bindings="$c_sdk/bindings"
wit_digest() {
    (cd "$root" && find wit -name '*.wit' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
}
if [ "$(cat "$c_bindings/WIT_DIGEST" 2>/dev/null)" != "$(wit_digest)" ]; then
    ensure_wit_bindgen
    wit-bindgen c "$root/wit" --world stateful-plugin --rename-world plugin --no-object-file --out-dir "$c_bindings" >/dev/null
    wit_digest >"$c_bindings/WIT_DIGEST"
    say "wit/ changed: regenerated the C bindings in plugins/c/sdk/bindings (commit them)"
fi
for folder in "$root"/plugins/c/*/ "$root"/plugins/c/testing/*/; do
    folder=${folder%/}
    case "$folder" in "$c_sdk" | "$root/plugins/c/testing") continue ;; esac
    sources=("$folder"/*.c)
    [ -f "${sources[0]}" ] || continue
    case "$folder" in
        "$root/plugins/c/testing/"*) component="$out/testing/$(basename "$folder")-c.wasm" ;;
        *) component="$out/$(basename "$folder")-c.wasm" ;;
    esac
    ensure_c_wasm_toolchain
    build_project "$folder" "$component" "$c_sdk" "$root/wit"
done

# JavaScript plugins: every folder under plugins/js/ with an app.js (the
# helper, plugins/js/sdk, is not one) becomes NAME-js.wasm with
# ComponentizeJS (the version plugins/js/package-lock.json pins, installed
# once into yell-host's tool folder), which embeds the SpiderMonkey engine:
# about 12 MB, and two builds of the same source differ, so it is built
# only when its sources, the helper, the lock or the contract changed.
js="$root/plugins/js"
for app in "$js"/*/app.js "$js"/testing/*/app.js; do
    [ -f "$app" ] || continue
    folder=$(dirname "$app")
    case "$folder" in
        "$js/testing/"*) component="$out/testing/$(basename "$folder")-js.wasm" ;;
        *) component="$out/$(basename "$folder")-js.wasm" ;;
    esac
    ensure_node
    build_project "$folder" "$component" "$js/sdk" "$js/build.mjs" "$js/package-lock.json" "$root/wit"
done
