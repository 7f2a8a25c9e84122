#!/usr/bin/env bash
# The server's own cost, pinned: each server runs alone on CPU 0, the
# independent `loadgen` of ../shared/peers on CPU 1, so the server is the
# bottleneck and its cost shows. Servers take turns, run after run
# (alternating, so drift on this shared machine hits them alike), and each
# workload prints the median and spread of lines/s per server and the ratio
# of medians to the first server.
#
# Usage: scripts/bench-pinned.sh [-r RUNS] [-s SECONDS] [-w CONNSxDEPTH]... NAME=COMMAND...
#   NAME=COMMAND  a server; COMMAND gets `--listen 127.0.0.1:PORT` appended
#                 (`native` is a shorthand for ../shared/peers' native_server)
# Example (what `just bench-pinned` runs):
#   scripts/bench-pinned.sh native "yell-host=target/release/yell-host --plugin uppercase"
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
shift $((OPTIND - 1))
[ ${#workloads[@]} -gt 0 ] || workloads=(64x64 5x1)
[ $# -gt 0 ] || { echo "usage: $0 [-r RUNS] [-s SECONDS] [-w CONNSxDEPTH]... NAME=COMMAND..." >&2; exit 2; }
[ "$(nproc)" -ge 2 ] || { echo "bench-pinned: needs two CPUs" >&2; exit 1; }
# shellcheck source=peers.sh
. "$root/scripts/peers.sh"
loadgen="$root/target/peers/release/loadgen"

names=()
commands=()
for server in "$@"; do
    case "$server" in
        native) names+=(native); commands+=("$root/target/peers/release/native_server") ;;
        *=*) names+=("${server%%=*}"); commands+=("${server#*=}") ;;
        *) echo "bench-pinned: a server is NAME=COMMAND, got $server" >&2; exit 2 ;;
    esac
done

server_pid=
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

# One run: start server $1 alone on CPU 0, load it from CPU 1, stop it.
run_once() { # INDEX CONNS DEPTH -> lines/s
    local port out
    port=$(free_port)
    if [ "${names[$1]}" = native ]; then
        # native_server takes the address as its only argument.
        taskset -c 0 ${commands[$1]} "127.0.0.1:$port" >/dev/null 2>&1 &
    else
        # shellcheck disable=SC2086
        taskset -c 0 ${commands[$1]} --listen "127.0.0.1:$port" >/dev/null 2>&1 &
    fi
    server_pid=$!
    wait_for_ports "$port"
    out=$(taskset -c 1 "$loadgen" "127.0.0.1:$port" "$2" "$seconds" "$3")
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    case "$out" in
        *" errors=0"*) ;;
        *) echo "bench-pinned: loadgen reported errors against ${names[$1]}: $out" >&2 ;;
    esac
    sed -n 's/.*lines_per_s=\([0-9]*\).*/\1/p' <<<"$out"
}

echo "server on CPU 0, loadgen on CPU 1; $runs alternating runs of ${seconds}s per server and workload"
for workload in "${workloads[@]}"; do
    conns=${workload%x*}
    depth=${workload#*x}
    results=()
    for _ in $(seq "$runs"); do
        for i in "${!names[@]}"; do
            results+=("$i $(run_once "$i" "$conns" "$depth")")
        done
    done
    printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
names = sys.argv[1].split(",")
workload = sys.argv[2]
runs = {}
for line in sys.stdin:
    index, rate = line.split()
    runs.setdefault(int(index), []).append(int(rate))
base = statistics.median(runs[0])
print(f"\n{workload} (connections x depth)")
header = ("server", "median lines/s", "min", "max", "spread", "vs " + names[0])
print("%-16s %15s %12s %12s %8s %14s" % header)
for index, name in enumerate(names):
    rates = runs[index]
    median = statistics.median(rates)
    spread = (max(rates) - min(rates)) / median * 100 if median else 0
    print(f"{name:<16} {median:>15,.0f} {min(rates):>12,} {max(rates):>12,} {spread:>7.1f}% {median / base:>13.3f}x")
' "$(IFS=,; echo "${names[*]}")" "$workload"
done
