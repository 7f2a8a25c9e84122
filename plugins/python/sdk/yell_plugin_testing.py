"""yell_plugin_testing: unit tests of a Python plugin under plain CPython
(`python3 -m unittest`, or pytest), no component build.

`TestHost(Transform, config)` loads the plugin class as the host does
(`init`) and sends lines through the SDK's own batch code
(`transform_batch`); the host's imports are answered here: what the plugin
logs is kept (`take_logs()`), and `yell_plugin.peer(conn)` answers the
address set with `set_peer`.

    from yell_plugin_testing import TestHost
    import app

    def test_shouts():
        host = TestHost(app.Transform)
        assert host.line(b"hi") == [b"HI"]

This module also stands in for the bindings componentize-py generates
(`componentize_py_types`, `wit_world`) when they are not there.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, List, Optional, Tuple, Union


class Err(Exception):
    """An error a plugin returns to the host (as componentize-py's)."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


class _Types:
    @dataclass
    class LineError:
        line: int
        message: str

    @dataclass
    class BatchReply:
        output: bytes
        ends: List[int]
        errors: List["_Types.LineError"] = field(default_factory=list)


types = _Types


class _Exports:
    class Transform:
        """The exported interface's base class."""


exports = _Exports


class _Log:
    class Level(Enum):
        TRACE = 0
        DEBUG = 1
        INFO = 2
        WARN = 3
        ERROR = 4

    @staticmethod
    def log(level: "_Log.Level", message: str) -> None:
        _LOGS.append(f"{level.name.lower()}: {message}")


log = _Log


@dataclass
class _Info:
    peer: str
    local: str


class _Connection:
    @staticmethod
    def info(conn: int) -> Optional[_Info]:
        return _CONNECTIONS.get(conn)


connection = _Connection

_LOGS: List[str] = []
_CONNECTIONS: Dict[int, _Info] = {}


class TestHost:
    """A fake host with one plugin loaded, as the real host loads it."""

    def __init__(self, plugin_class: type, config: Optional[Dict[str, str]] = None):
        self.plugin = plugin_class()
        self.conn = 1
        try:
            self.plugin.init(list((config or {}).items()))
        except Err as refused:
            raise ValueError(f"the plugin refused its configuration: {refused.value}")
        self.set_peer("127.0.0.1:40000", "127.0.0.1:1234")

    def set_peer(self, peer: str, local: str = "127.0.0.1:1234") -> None:
        """What the current connection's addresses are."""
        _CONNECTIONS[self.conn] = _Info(peer, local)

    def connect(self) -> List[bytes]:
        """A new connection opens: its greeting lines."""
        previous = _CONNECTIONS.pop(self.conn, None)
        self.conn += 1
        if previous is not None:
            _CONNECTIONS[self.conn] = previous
        return _split(self.plugin.connection_opened(self.conn))

    def close(self) -> List[bytes]:
        """The connection closes: its last words."""
        return _split(self.plugin.connection_closed(self.conn))

    def line(self, line: Union[bytes, str]) -> List[bytes]:
        """One line's reply lines; raises ValueError with the message a
        refused line is answered with."""
        (result,) = self.lines([line])
        if isinstance(result, Exception):
            raise result
        return result

    def lines(self, lines: List[Union[bytes, str]]) -> List[Union[List[bytes], ValueError]]:
        """Lines in one batch, as the host sends them: each one's reply
        lines, or a ValueError with its error. A reply that breaks the
        contract fails an assertion, as the host would refuse it."""
        batch = b"".join((line.encode() if isinstance(line, str) else bytes(line)) + b"\n" for line in lines)
        assert all(b"\n" not in line for line in batch.split(b"\n")[:-1])
        reply = self.plugin.transform_batch(self.conn, batch)
        assert len(reply.ends) == len(lines), "one line end per line"
        results: List[Union[List[bytes], ValueError]] = []
        start = 0
        for end in reply.ends:
            assert start <= end <= len(reply.output), "line ends in order, within the output"
            results.append(_split(reply.output[start:end]))
            start = end
        for error in reply.errors:
            results[error.line] = ValueError(error.message)
        return results

    def take_logs(self) -> List[str]:
        """What the plugin logged since the last look (`"info: message"`)."""
        logs = list(_LOGS)
        _LOGS.clear()
        return logs


def _split(output: bytes) -> List[bytes]:
    return [line for line in output.split(b"\n")[:-1]] if output else []
