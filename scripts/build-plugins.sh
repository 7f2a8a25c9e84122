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

# Python plugins: every folder under plugins/python/ with an app.py (the SDK,
# plugins/python/sdk, is not one) becomes NAME-py.wasm with componentize-py,
# which embeds CPython: about 18 MB, so it is built only when its sources,
# the SDK or the contract changed. Those under plugins/python/testing/ are
# for the tests and go to target/plugins/testing/.
python_sources=("$root/plugins/python/sdk" "$root/wit")
for app in "$root"/plugins/python/*/app.py "$root"/plugins/python/testing/*/app.py; do
    [ -f "$app" ] || continue
    folder=$(dirname "$app")
    case "$folder" in
        "$root/plugins/python/testing/"*) component="$out/testing/$(basename "$folder")-py.wasm" ;;
        *) component="$out/$(basename "$folder")-py.wasm" ;;
    esac
    if [ -f "$component" ] && [ -z "$(find "$folder" "${python_sources[@]}" -newer "$component" -print -quit)" ]; then
        say "$component ($(wc -c <"$component") bytes)"
        continue
    fi
    ensure_componentize_py
    componentize-py -d "$root/wit" -w plugin componentize app \
        -p "$folder" -p "$root/plugins/python/sdk" -o "$component.tmp" >/dev/null
    wasm-tools validate "$component.tmp"
    mv "$component.tmp" "$component"
    say "$component ($(wc -c <"$component") bytes)"
done
