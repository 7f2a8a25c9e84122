"""A test plugin (Python) that tries, as a plugin author would, what the
host's sandbox denies, and answers what happened:

- `read PATH`: open and read a file;
- `list PATH`: list a folder;
- `env`: the environment's size;
- `connect HOST PORT`: a TCP connection;
- `resolve NAME`: a name lookup;
- `clock`: the smallest step seen on the monotonic clock, in ns;
- `print TEXT`: TEXT on stdout (the host's log) and answers `printed`;
- `random`: 8 random bytes, as hex;
- `peer`: the connection's client address.
"""

import os
import socket
import time

import yell_plugin


def attempt(action) -> bytes:
    try:
        return f"allowed: {action()}".encode()
    except Exception as error:
        return f"denied: {type(error).__name__}".encode()


def smallest_clock_step() -> int:
    steps = set()
    last = time.monotonic_ns()
    for _ in range(20_000):
        now = time.monotonic_ns()
        if now != last:
            steps.add(now - last)
            last = now
    return min(steps) if steps else 0


class Transform(yell_plugin.Plugin):
    def transform_line(self, conn: int, line: bytes):
        words = line.decode(errors="replace").split()
        command, args = (words[0], words[1:]) if words else ("", [])
        if command == "read":
            return attempt(lambda: len(open(args[0], "rb").read()))
        if command == "list":
            return attempt(lambda: len(os.listdir(args[0])))
        if command == "env":
            return f"{len(os.environ)} variables".encode()
        if command == "connect":
            return attempt(lambda: socket.create_connection((args[0], int(args[1])), timeout=1) and "connected")
        if command == "resolve":
            return attempt(lambda: socket.gethostbyname(args[0]))
        if command == "clock":
            return f"{smallest_clock_step()} ns".encode()
        if command == "print":
            print(" ".join(args), flush=True)
            return b"printed"
        if command == "random":
            return os.urandom(8).hex().encode()
        if command == "peer":
            return (yell_plugin.peer(conn) or "unknown").encode()
        return b"unknown command"

    def _transform_batch(self, conn, lines):
        self._conn = conn
        return super()._transform_batch(conn, lines)

    def transform(self, line: bytes):
        return self.transform_line(self._conn, line)
