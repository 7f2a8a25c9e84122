#!/usr/bin/env bash
# The uppercase plugin in each language side by side, in one run: component
# size, compile time (cold: an empty compile cache; cached: a restart),
# the time to make and initialize the first instance, resident memory per
# live instance (100 connections under `--isolation connection`, each
# holding one), and lines/s through the server at 5 x 1 and 5 x 64, pinned
# (server on CPU 0, ../shared/peers' `loadgen` on CPU 1), runs alternating
# between languages, median of RUNS, ratio to Rust.
#
# Usage: scripts/bench-languages.sh [RUNS] [SECONDS]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-3}
seconds=${2:-3}
# shellcheck source=peers.sh
. "$root/scripts/peers.sh"
yell="$root/target/release/yell-host"
plugins="$root/target/plugins"
scratch=$(mktemp -d)
pid=
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

languages=()
for name in uppercase uppercase-py uppercase-js uppercase-c; do
    [ -f "$plugins/$name.wasm" ] && languages+=("$name")
done

# Starts the server on plugin $1 with the compile cache $2 and extra
# arguments; sets pid and port; waits until it serves.
start() { # PLUGIN CACHE ARGS...
    local plugin=$1 cache=$2
    shift 2
    port=$(free_port)
    YELL_COMPILE_CACHE="$cache" RUST_LOG=info "$yell" --no-watch --listen "127.0.0.1:$port" \
        --plugin "$plugins/$plugin.wasm" "$@" >/dev/null 2>"$scratch/log" &
    pid=$!
    # A cold compile of an interpreter takes seconds: up to a minute.
    for _ in $(seq 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return
        kill -0 "$pid" 2>/dev/null || { cat "$scratch/log" >&2; exit 1; }
        sleep 0.1
    done
    echo "bench-languages: $plugin did not start" >&2
    exit 1
}

stop() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
}

# The duration a log line gives after `$1` (e.g. "compiled in 1.2s").
logged() { # PHRASE
    sed -n "s/.*$1 \([0-9.]*[a-zµ]*\).*/\1/p" "$scratch/log" | head -n 1
}

printf '%-13s %10s %10s %10s %12s %14s\n' plugin size "cold" "cached" "1st inst" "KiB/instance"
for name in "${languages[@]}"; do
    cache="$scratch/cache-$name"
    start "$name" "$cache"
    cold=$(logged "compiled in")
    first=$(logged "initialized in")
    stop
    start "$name" "$cache" --isolation connection --max-instances 200
    cached=$(logged "loaded from the cache in")
    per_instance=$(python3 - "$pid" "$port" <<'PY'
import socket, sys, time
pid, port = sys.argv[1], int(sys.argv[2])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
# Connections first (their buffers are not the plugin's), then a line on
# each: each makes its own instance.
streams = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
time.sleep(0.3)
before = rss()
for stream in streams:
    stream.sendall(b"hello\n")
for stream in streams:
    stream.recv(64)
time.sleep(0.3)
print(f"{(rss() - before) / 100:.0f}")
PY
)
    stop
    printf '%-13s %10s %10s %10s %12s %14s\n' "$name" "$(stat -c %s "$plugins/$name.wasm")" \
        "$cold" "$cached" "$first" "$per_instance"
done

echo
servers=()
for name in "${languages[@]}"; do
    # The compile cache of this run: no server compiles while measured.
    servers+=("$name=env YELL_COMPILE_CACHE=$scratch/cache-$name $yell --no-watch --plugin $plugins/$name.wasm")
done
"$root/scripts/bench-pinned.sh" -r "$runs" -s "$seconds" -w 5x1 -w 5x64 "${servers[@]}"
