# Shared by the benchmark scripts (sourced, not run): builds the reference
# peers of ../shared/peers and yell-host in release mode, and small helpers.
# Expects $root (the repository) to be set.

peers="$root/../shared/peers"
[ -d "$peers" ] || { echo "bench: no reference peers at $peers" >&2; exit 1; }

cargo build --quiet --release --manifest-path "$peers/native-yell/Cargo.toml" \
    --target-dir "$root/target/peers"
cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin yell-host

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (up to 10 s) until every port given accepts connections.
wait_for_ports() {
    for port in "$@"; do
        for _ in $(seq 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
            sleep 0.1
        done
    done
}
