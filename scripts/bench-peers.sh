#!/usr/bin/env bash
# Throughput of yell-host against the reference peers in ../shared/peers, all
# measured in one run on this machine by the independent `loadgen`:
#   native_server (tokio, no wasm: the ceiling) and the asyncio tutorial server.
# Prints lines/s per server and depth, and yell-host's ratio to each peer.
#
# Usage: scripts/bench-peers.sh [SECONDS] [CONNECTIONS]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-5}
conns=${2:-5}
# shellcheck source=peers.sh
. "$root/scripts/peers.sh"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

yell_port=$(free_port)
"$root/target/release/yell-host" --listen "127.0.0.1:$yell_port" >/dev/null 2>&1 &
pids+=($!)
# The same, with the Prometheus endpoint on, to show what metrics cost.
metered_port=$(free_port)
"$root/target/release/yell-host" --listen "127.0.0.1:$metered_port" \
    --metrics-addr "127.0.0.1:$(free_port)" >/dev/null 2>&1 &
pids+=($!)
native_port=$(free_port)
"$root/target/peers/release/native_server" "127.0.0.1:$native_port" &
pids+=($!)
asyncio_port=$(free_port)
python3 "$peers/asyncio_yell_server.py" "$asyncio_port" >/dev/null &
pids+=($!)

wait_for_ports "$yell_port" "$metered_port" "$native_port" "$asyncio_port"

measure() { # PORT DEPTH -> lines/s
    local out
    out=$("$root/target/peers/release/loadgen" "127.0.0.1:$1" "$conns" "$seconds" "$2")
    case "$out" in
        *" errors=0"*) ;;
        *) echo "bench: loadgen reported errors against port $1: $out" >&2 ;;
    esac
    sed -n 's/.*lines_per_s=\([0-9]*\).*/\1/p' <<<"$out"
}

printf '%-6s %11s %11s %11s %11s %12s %12s %14s\n' depth yell-host +metrics native asyncio \
    yell/native yell/asyncio metrics-on/off
for depth in 1 64; do
    yell=$(measure "$yell_port" "$depth")
    metered=$(measure "$metered_port" "$depth")
    native=$(measure "$native_port" "$depth")
    asyncio=$(measure "$asyncio_port" "$depth")
    printf '%-6s %11s %11s %11s %11s %12.2f %12.2f %14.2f\n' "$depth" "$yell" "$metered" "$native" \
        "$asyncio" "$(bc -l <<<"$yell / $native")" "$(bc -l <<<"$yell / $asyncio")" \
        "$(bc -l <<<"$metered / $yell")"
done
