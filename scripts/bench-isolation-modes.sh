#!/usr/bin/env bash
# Each --isolation mode side by side in one run: lines/s measured by the
# independent `loadgen` of ../shared/peers at 5 x 1, 5 x 64 and 64 x 64, and
# the server's resident memory with 1,000 connections that each sent a line.
#
# Usage: scripts/bench-isolation-modes.sh [SECONDS]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-3}
# shellcheck source=peers.sh
. "$root/scripts/peers.sh"
yell="$root/target/release/yell-host"
loadgen="$root/target/peers/release/loadgen"

pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

printf '%-11s %10s %12s %12s %14s %16s\n' mode 5x1 5x64 64x64 "RSS 1000 conns" "KiB per conn"
for mode in pooled connection call; do
    port=$(free_port)
    # Room for an instance per connection in `connection` mode.
    "$yell" --no-watch --listen "127.0.0.1:$port" --isolation "$mode" --max-instances 2000 \
        --plugin "$root/target/plugins/uppercase.wasm" >/dev/null 2>&1 &
    pid=$!
    wait_for_ports "$port"
    rates=()
    for workload in "5 1" "5 64" "64 64"; do
        read -r conns depth <<<"$workload"
        rates+=("$("$loadgen" "127.0.0.1:$port" "$conns" "$seconds" "$depth" \
            | sed -n 's/.*lines_per_s=\([0-9]*\).*/\1/p')")
    done
    memory=$(python3 - "$pid" "$port" <<'PY'
import socket, sys, time
pid, port = sys.argv[1], int(sys.argv[2])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
before = rss()
streams = []
for _ in range(1000):
    stream = socket.create_connection(("127.0.0.1", port))
    stream.sendall(b"hello\n")
    streams.append(stream)
for stream in streams:
    stream.recv(64)
time.sleep(0.3)
after = rss()
print(f"{after / 1024:.0f} MiB {(after - before) / 1000:.1f}")
PY
)
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
    read -r rss unit per_conn <<<"$memory"
    printf '%-11s %10s %12s %12s %14s %16s\n' "$mode" "${rates[@]}" "$rss $unit" "$per_conn"
done
