"""A test plugin (Python) that tries, as a plugin author would, what the
host's sandbox denies, and answers what happened:

- `read PATH`: open and read a file;
- `list PATH`: list a folder;
- `write PATH`: create a file;
- `env`: the environment's size;
- `connect HOST PORT`: a TCP connection;
- `resolve NAME`: a name lookup;
- `clock`: the smallest step seen on the monotonic clock, in ns;
- `print TEXT`: TEXT on stdout (the host's log) and answers `printed`;
- `random`: 8 random bytes, as hex;
- `peer`: the connection's client address;
- `sleep SECONDS`: a WASI sleep (the host waits, the plugin does not run).

Configuration: `sleep_in_init=SECONDS` sleeps that long in init.
"""

# socket encodes host names with the idna codec, which componentize-py
# bundles only when imported: without it every connect fails inside Python
# (LookupError) before the host is asked, which would prove nothing.
import encodings.idna  # noqa: F401
import os
import socket
import time

import yell_plugin


def attempt(action) -> bytes:
    try:
        return f"allowed: {action()}".encode()
    except OSError as error:
        # What the host refused, as the operating system would have.
        return f"denied: {type(error).__name__}".encode()
    except Exception as error:
        # Anything else failed inside the plugin: it proves nothing about
        # the host, and the tests must not take it for a denial.
        return f"failed: {type(error).__name__}: {error}".encode()


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
    def setup(self, config):
        for key, value in config.items():
            if key != "sleep_in_init":
                raise ValueError(f"unknown config key `{key}`")
            time.sleep(float(value))

    def transform_line(self, conn: int, line: bytes):
        words = line.decode(errors="replace").split()
        command, args = (words[0], words[1:]) if words else ("", [])
        if command == "read":
            return attempt(lambda: len(open(args[0], "rb").read()))
        if command == "write":
            return attempt(lambda: open(args[0], "wb").write(b"x"))
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
        if command == "sleep":
            time.sleep(float(args[0]))
            return b"slept"
        if command == "peer":
            return (yell_plugin.peer(conn) or "unknown").encode()
        return b"unknown command"

    def _transform_batch(self, conn, lines):
        self._conn = conn
        return super()._transform_batch(conn, lines)

    def transform(self, line: bytes):
        return self.transform_line(self._conn, line)
