"""Opens N connections to a line server on 127.0.0.1:PORT, sends one line on
each and reads its reply, prints "ready", then holds them all open and quiet
until its standard input closes. For scripts/bench-idle-memory.sh."""

import socket
import sys

LINE = b"hello world\n"


def main() -> None:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    for connection in connections:
        connection.sendall(LINE)
    for connection in connections:
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = connection.recv(64)
            if not chunk:
                sys.exit(f"a connection closed before its reply: {reply!r}")
            reply += chunk
        if reply != LINE.upper():
            sys.exit(f"unexpected reply {reply!r}")
    print("ready", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
