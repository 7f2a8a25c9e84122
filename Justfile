# yell-host tasks. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Serve on 127.0.0.1:1234 with the uppercase plugin; extra arguments go to yell-host.
# (The plugins are built with the release host, which the run then uses.)
run *args:
    YELL_HOST_BUILD=release scripts/build-plugins.sh
    YELL_PLUGIN_DIR=target/plugins cargo run --release --bin yell-host -- {{args}}

# Compile every plugin crate under plugins/ into a wasm component in target/plugins/.
build-plugins:
    scripts/build-plugins.sh

# Every test: formatting, lints, unit and integration tests, host and plugin SDK.
# (The plugins are built with the host the tests build, so it is built once.)
test:
    YELL_HOST_BUILD=tests scripts/build-plugins.sh
    scripts/test-tools.sh
    scripts/check-module-edges.py
    cargo fmt --all -- --check
    cargo fmt --all --manifest-path plugins/Cargo.toml -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy --manifest-path plugins/Cargo.toml --all-targets -- -D warnings
    cargo test --manifest-path plugins/Cargo.toml
    cd plugins/python/sdk && PYTHONDONTWRITEBYTECODE=1 python3 -m unittest --quiet
    cd plugins/js/sdk && node --test --test-reporter=dot
    scripts/test-c-sdk.sh
    cargo nextest run --workspace --no-fail-fast
    cargo test --doc --workspace
    scripts/check-test-names.py
    just docs-check

# Build the book (docs/) into target/book with the pinned mdBook.
docs:
    scripts/build-docs.sh

# Check the built book: links and anchors resolve, every option of `yell-host --help` is in it.
docs-check: docs
    scripts/check-docs-links.py target/book
    scripts/check-docs-options.py

# Put yell-host on PATH (in ~/.cargo/bin), and the plugins in its data folder (~/.local/share/yell-host/plugins).
install: build-plugins
    cargo install --locked --path .
    scripts/install-plugins.sh

# Throughput against the reference peers in ../shared/peers (same run, ratios), then micro-costs.
bench: build-plugins
    scripts/bench-peers.sh
    just bench-pinned
    cargo bench -p yell-runtime --bench plugin_call
    cargo bench -p yell-runtime --bench call_floor
    just bench-idle-memory
    just bench-client
    just bench-swap
    just bench-isolation

# The server's own cost: each server alone on CPU 0, loadgen on CPU 1, alternating runs, medians and ratios;
# yell-host with the uppercase, with a plugin that changes line lengths (reverse), a chain, and raw framing.
bench-pinned RUNS="5": build-plugins
    cargo build --release --bin yell-host
    scripts/bench-pinned.sh -r {{RUNS}} native \
        "yell-host=target/release/yell-host --no-watch --plugin target/plugins/uppercase.wasm" \
        "reverse=target/release/yell-host --no-watch --plugin target/plugins/reverse.wasm" \
        "chain=target/release/yell-host --no-watch --plugin target/plugins/uppercase.wasm --plugin target/plugins/reverse.wasm" \
        "raw=target/release/yell-host --no-watch --framing raw --plugin target/plugins/uppercase.wasm" \
        2> >(grep -v "loadgen reported errors against \(reverse\|chain\)" >&2)

# Memory per idle connection: 10,000 quiet connections on native_server and on yell-host.
bench-idle-memory CONNECTIONS="10000": build-plugins
    scripts/bench-idle-memory.sh -n {{CONNECTIONS}} native "yell-host=target/release/yell-host --no-watch --plugin target/plugins/uppercase.wasm"

# Live swap with a release build: 100 swaps under load, time from file change to first new reply.
bench-swap: build-plugins
    cargo bench --quiet --bench scenarios -- swap 2> >(grep -v "^\[yell-host\]" >&2)

# Plugin time never stalls other connections: a ping-pong canary, idle and beside 4 connections of 80 ms calls.
bench-isolation: build-plugins
    cargo bench --quiet --bench scenarios -- isolation 2> >(grep -v "^\[yell-host\]" >&2)

# Each --isolation mode side by side: lines/s (loadgen) and memory with 1,000 connections.
bench-isolation-modes: build-plugins
    scripts/bench-isolation-modes.sh

# The uppercase plugin of every language side by side: size, compile time
# (cold, cached), first instance, memory per instance, lines/s pinned.
bench-languages RUNS="3": build-plugins
    cargo build --release --quiet
    scripts/bench-languages.sh {{RUNS}}

# What plugin state costs: increments/s and the p99 a state call adds, on memory:, the embedded store and Redis, at 1 and 64 connections.
bench-keyvalue SECONDS="3": build-plugins
    cargo build --release --quiet
    scripts/test-tools.sh
    scripts/bench-keyvalue.sh {{SECONDS}}

# Is the bundled load client fast enough? It against loadgen, both driving native_server, pinned apart.
bench-client RUNS="5":
    scripts/bench-client.sh -r {{RUNS}}

# Property-test the framer against its reference model with many cases (bounded by CASES).
fuzz CASES="200000":
    PROPTEST_CASES={{CASES}} cargo test --release -p yell-runtime --test framing_model
