#!/usr/bin/env bash
# Is `yell-host client` fast enough to measure with? Drives the reference
# native_server (../shared/peers, no wasm) with the independent `loadgen` and
# with `yell-host client`, same connections, depths and duration, one after
# the other in one run, and prints the ratio client/loadgen.
#
# Usage: scripts/bench-client.sh [SECONDS] [CONNECTIONS]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-5}
conns=${2:-5}
# shellcheck source=peers.sh
. "$root/scripts/peers.sh"

port=$(free_port)
"$root/target/peers/release/native_server" "127.0.0.1:$port" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
wait_for_ports "$port"

printf '%-6s %14s %14s %14s\n' depth loadgen yell-client client/loadgen
for depth in 1 64; do
    loadgen=$("$root/target/peers/release/loadgen" "127.0.0.1:$port" "$conns" "$seconds" "$depth" \
        | sed -n 's/.*lines_per_s=\([0-9]*\).*/\1/p')
    client=$("$root/target/release/yell-host" client --addr "127.0.0.1:$port" -n "$conns" \
        -d "${seconds}s" --depth "$depth" --json \
        | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["lines_per_second"]))')
    printf '%-6s %14s %14s %14.2f\n' "$depth" "$loadgen" "$client" "$(bc -l <<<"$client / $loadgen")"
done
