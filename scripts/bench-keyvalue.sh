#!/usr/bin/env bash
# What plugin state costs: the tally plugin (one atomic increment per line)
# on each backend (memory:, the embedded store, a Redis started here), at
# 1 and 64 connections (ping-pong: each line waits for its answer), the
# server pinned to CPU 0 and the bundled load client to CPU 1. Increments/s,
# and the p99 latency a state call adds: tally's p99 less the p99 of the
# uppercase plugin (no state) on the same line at the same concurrency.
#
# Usage: scripts/bench-keyvalue.sh [SECONDS]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-3}
# shellcheck source=peers.sh
. "$root/scripts/peers.sh"
yell="$root/target/release/yell-host"
plugins="$root/target/plugins"
scratch=$(mktemp -d)
pid=
redis_pid=
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    [ -z "$redis_pid" ] || kill "$redis_pid" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

command -v redis-server >/dev/null || { echo "bench-keyvalue: no redis-server (scripts/test-tools.sh installs it)" >&2; exit 1; }
redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$scratch" --save "" --appendonly no \
    --daemonize no --loglevel warning >/dev/null 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
    sleep 0.05
done

start() { # PLUGIN ARGS...
    local plugin=$1
    shift
    port=$(free_port)
    taskset -c 0 "$yell" --no-watch --listen "127.0.0.1:$port" --plugin "$plugins/$plugin.wasm" \
        "$@" >/dev/null 2>"$scratch/log" &
    pid=$!
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return
        kill -0 "$pid" 2>/dev/null || { cat "$scratch/log" >&2; exit 1; }
        sleep 0.1
    done
    echo "bench-keyvalue: $plugin did not start" >&2
    exit 1
}

stop() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
}

# lines/s and p99 (µs) of the client at N connections against the server.
measure() { # CONNECTIONS
    taskset -c 1 "$yell" client --addr "127.0.0.1:$port" -n "$1" -d "${seconds}s" --warmup 1s \
        -m COUNT --no-verify --json 2>/dev/null |
        python3 -c "import json, sys
r = json.load(sys.stdin)
print('%.0f %.0f %d' % (r['lines_per_second'], r['latency']['p99_us'], sum(r['errors'].values())))"
}

declare -A base
for n in 1 64; do
    start uppercase
    read -r rate p99 errors < <(measure "$n")
    base[$n]=$p99
    stop
done

printf '%-16s %5s %14s %10s %16s %7s\n' backend conns "increments/s" "p99 µs" "p99 added µs" errors
for backend in memory embedded redis; do
    case $backend in
        memory) spec=memory: ;;
        embedded) spec="$scratch/state-$RANDOM.redb" ;;
        redis) spec="redis://127.0.0.1:$redis_port" ;;
    esac
    for n in 1 64; do
        start tally --keyvalue "$spec" --plugin-bucket tally
        read -r rate p99 errors < <(measure "$n")
        stop
        printf '%-16s %5s %14s %10s %16s %7s\n' "$backend" "$n" "$rate" "$p99" "$((p99 - base[$n]))" "$errors"
    done
done
printf 'baseline (uppercase, no state): p99 %s µs at 1, %s µs at 64 connections\n' "${base[1]}" "${base[64]}"
