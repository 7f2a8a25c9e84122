#!/usr/bin/env bash
# Is `yell-host client` fast enough to measure with? Drives the reference
# native_server (../shared/peers, no wasm, on CPU 0) with the independent
# `loadgen` and with `yell-host client` (each on CPU 1), same connections,
# depths and duration, alternating run after run; prints per workload the
# median and spread of each and the ratio client/loadgen of the medians.
# Pinned apart, the load generator is the bottleneck, so its own cost shows.
#
# Usage: scripts/bench-client.sh [-r RUNS] [-s SECONDS] [-w CONNSxDEPTH]...
#   YELL_HOST_BINARY: the yell-host whose client is measured (default: the
#   release build of this repository)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=5
seconds=3
workloads=()
while getopts "r:s:w:" option; do
    case $option in
        r) runs=$OPTARG ;;
        s) seconds=$OPTARG ;;
        w) workloads+=("$OPTARG") ;;
        *) exit 2 ;;
    esac
done
[ ${#workloads[@]} -gt 0 ] || workloads=(5x1 5x64 64x64)
[ "$(nproc)" -ge 2 ] || { echo "bench-client: needs two CPUs" >&2; exit 1; }
# shellcheck source=peers.sh
. "$root/scripts/peers.sh"

client_binary=${YELL_HOST_BINARY:-$root/target/release/yell-host}
port=$(free_port)
taskset -c 0 "$root/target/peers/release/native_server" "127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
wait_for_ports "$port"

loadgen_once() { # CONNS DEPTH -> lines/s
    taskset -c 1 "$root/target/peers/release/loadgen" "127.0.0.1:$port" "$1" "$seconds" "$2" \
        | sed -n 's/.*lines_per_s=\([0-9]*\).*/\1/p'
}
client_once() { # CONNS DEPTH -> lines/s
    taskset -c 1 "$client_binary" client --addr "127.0.0.1:$port" -n "$1" \
        -d "${seconds}s" --depth "$2" --json 2>/dev/null \
        | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["lines_per_second"]))'
}

echo "native_server on CPU 0; loadgen and yell-host client on CPU 1 in turn; $runs runs of ${seconds}s each"
printf '%-8s %22s %22s %14s\n' workload "loadgen (spread)" "client (spread)" client/loadgen
for workload in "${workloads[@]}"; do
    conns=${workload%x*}
    depth=${workload#*x}
    results=()
    for _ in $(seq "$runs"); do
        results+=("loadgen $(loadgen_once "$conns" "$depth")")
        results+=("client $(client_once "$conns" "$depth")")
    done
    printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rates = {}
for line in sys.stdin:
    who, rate = line.split()
    rates.setdefault(who, []).append(int(rate))
def cell(who):
    median = statistics.median(rates[who])
    spread = (max(rates[who]) - min(rates[who])) / median * 100
    return median, f"{median:,.0f} ({spread:.0f}%)"
loadgen, loadgen_cell = cell("loadgen")
client, client_cell = cell("client")
print(f"{sys.argv[1]:<8} {loadgen_cell:>22} {client_cell:>22} {client / loadgen:>13.3f}x")
' "$workload"
done
