#!/usr/bin/env bash
# Memory per idle connection: each server in turn is given N connections
# (10,000 by default) that each send one line, read its reply and then stay
# open and quiet; the server's RSS is read before and with them all open.
# Prints RSS and bytes per connection per server, and the ratio to the first.
#
# Usage: scripts/bench-idle-memory.sh [-n CONNECTIONS] NAME=COMMAND...
#   NAME=COMMAND  a server; COMMAND gets `--listen 127.0.0.1:PORT` appended
#                 (`native` is a shorthand for ../shared/peers' native_server)
# Example (what `just bench-idle-memory` runs):
#   scripts/bench-idle-memory.sh native "yell-host=target/release/yell-host --plugin uppercase"
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
connections=10000
while getopts "n:" option; do
    case $option in
        n) connections=$OPTARG ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-n CONNECTIONS] NAME=COMMAND..." >&2; exit 2; }
# shellcheck source=peers.sh
. "$root/scripts/peers.sh"
# Each connection is a file descriptor in the server and in the holder.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((connections + 100)) ] || {
    echo "bench-idle-memory: $connections connections need more open files than the $(ulimit -n) allowed" >&2
    exit 1
}

server_pid=
holder_pid=
cleanup() {
    [ -z "$holder_pid" ] || kill "$holder_pid" 2>/dev/null || true
    [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

printf '%-16s %14s %18s %16s %10s\n' server "RSS idle" "RSS with $connections" "bytes/connection" "vs first"
first=
for server in "$@"; do
    case "$server" in
        native) name=native; command="$root/target/peers/release/native_server" ;;
        *=*) name=${server%%=*}; command=${server#*=} ;;
        *) echo "bench-idle-memory: a server is NAME=COMMAND, got $server" >&2; exit 2 ;;
    esac
    port=$(free_port)
    if [ "$name" = native ]; then
        $command "127.0.0.1:$port" >/dev/null 2>&1 &
    else
        # shellcheck disable=SC2086
        $command --listen "127.0.0.1:$port" >/dev/null 2>&1 &
    fi
    server_pid=$!
    wait_for_ports "$port"
    sleep 0.5
    before=$(rss_kib "$server_pid")
    # The holder says "ready" once every connection has had its answer,
    # then holds them until its input closes.
    coproc HOLDER { python3 "$root/scripts/hold-connections.py" "$port" "$connections"; }
    holder_pid=$HOLDER_PID
    read -r ready <&"${HOLDER[0]}"
    [ "$ready" = ready ] || { echo "bench-idle-memory: the connections to $name failed" >&2; exit 1; }
    sleep 1
    held=$(rss_kib "$server_pid")
    # Closing its input lets the holder go.
    exec {HOLDER[1]}>&-
    wait "$holder_pid" 2>/dev/null || true
    holder_pid=
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    per_connection=$(( (held - before) * 1024 / connections ))
    first=${first:-$per_connection}
    printf '%-16s %10s KiB %14s KiB %16s %9.2fx\n' "$name" "$before" "$held" "$per_connection" \
        "$(python3 -c "print($per_connection / max($first, 1))")"
done
