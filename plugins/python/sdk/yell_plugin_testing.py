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

import math
import re
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, List, Optional, Set, Tuple, Union


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


# The state interfaces: an in-memory store, with the bindings' shapes.


class _Store:
    class Error_AccessDenied:
        pass

    class Error_NoSuchStore:
        pass

    @dataclass
    class Error_Other:
        value: str

    @dataclass
    class KeyResponse:
        keys: List[str]
        cursor: Optional[str]

    class Bucket:
        def __init__(self, name: str):
            self.name = name

        def get(self, key: str) -> Optional[bytes]:
            return value(self.name, key)

        def set(self, key: str, data: bytes) -> None:
            _ENTRIES[(self.name, key)] = bytes(data)
            _EXPIRES.pop((self.name, key), None)

        def delete(self, key: str) -> None:
            _ENTRIES.pop((self.name, key), None)
            _EXPIRES.pop((self.name, key), None)

        def exists(self, key: str) -> bool:
            return value(self.name, key) is not None

        def list_keys(self, cursor: Optional[str]) -> "_Store.KeyResponse":
            keys = sorted(key for (bucket, key) in list(_ENTRIES) if bucket == self.name and value(bucket, key) is not None)
            return _Store.KeyResponse([key for key in keys if cursor is None or key > cursor], None)

    @staticmethod
    def open(name: str) -> "_Store.Bucket":
        if name not in _GRANTED:
            raise Err(_Store.Error_AccessDenied())
        return _Store.Bucket(name)


store = _Store


class _Atomics:
    @dataclass
    class CasError_StoreError:
        value: object

    @dataclass
    class CasError_CasFailed:
        value: "_Atomics.Cas"

    class Cas:
        def __init__(self, bucket: "_Store.Bucket", key: str):
            self.bucket = bucket
            self.key = key
            self.seen = bucket.get(key)

        @staticmethod
        def new(bucket: "_Store.Bucket", key: str) -> "_Atomics.Cas":
            return _Atomics.Cas(bucket, key)

        def current(self) -> Optional[bytes]:
            return self.seen

    @staticmethod
    def increment(bucket: "_Store.Bucket", key: str, delta: int) -> int:
        text = (bucket.get(key) or b"0").decode(errors="replace")
        try:
            total = int(text) + delta
        except ValueError:
            raise Err(_Store.Error_Other(f"{bucket.name}/{key} is not a counter"))
        bucket.set(key, str(total).encode())
        return total

    @staticmethod
    def swap(cas: "_Atomics.Cas", data: bytes) -> None:
        if cas.bucket.get(cas.key) != cas.seen:
            raise Err(_Atomics.CasError_CasFailed(_Atomics.Cas(cas.bucket, cas.key)))
        cas.bucket.set(cas.key, data)


atomics = _Atomics


class _Batch:
    @staticmethod
    def get_many(bucket: "_Store.Bucket", keys: List[str]) -> List[Optional[Tuple[str, bytes]]]:
        return [None if bucket.get(key) is None else (key, bucket.get(key)) for key in keys]

    @staticmethod
    def set_many(bucket: "_Store.Bucket", pairs: List[Tuple[str, bytes]]) -> None:
        for key, data in pairs:
            bucket.set(key, data)

    @staticmethod
    def delete_many(bucket: "_Store.Bucket", keys: List[str]) -> None:
        for key in keys:
            bucket.delete(key)


batch = _Batch


class _Expiry:
    @staticmethod
    def set_with_ttl(bucket: "_Store.Bucket", key: str, data: bytes, ttl_ms: int) -> None:
        bucket.set(key, data)
        _EXPIRES[(bucket.name, key)] = time.monotonic() + ttl_ms / 1000

    @staticmethod
    def expire(bucket: "_Store.Bucket", key: str, ttl_ms: int) -> bool:
        if not bucket.exists(key):
            return False
        _EXPIRES[(bucket.name, key)] = time.monotonic() + ttl_ms / 1000
        return True


expiry = _Expiry

_GRANTED: Set[str] = set()
_ENTRIES: Dict[Tuple[str, str], bytes] = {}
_EXPIRES: Dict[Tuple[str, str], float] = {}


def grant_bucket(name: str) -> None:
    """Lets the plugin open bucket `name`, as --plugin-bucket does."""
    _GRANTED.add(name)


def value(bucket: str, key: str) -> Optional[bytes]:
    """What `key` of `bucket` holds, for a test to look at (None once it
    expired)."""
    at = _EXPIRES.get((bucket, key))
    if at is not None and at <= time.monotonic():
        _EXPIRES.pop((bucket, key))
        _ENTRIES.pop((bucket, key), None)
    return _ENTRIES.get((bucket, key))


def reset_state() -> None:
    """Empties every bucket and takes every grant back."""
    _GRANTED.clear()
    _ENTRIES.clear()
    _EXPIRES.clear()


# The metrics interface: what the plugin records, kept for the test. The
# mistakes the host traps on raise here.


class _Metrics:
    class Kind(Enum):
        COUNTER = 0
        GAUGE = 1
        HISTOGRAM = 2

    @dataclass
    class Definition:
        name: str
        help: str
        kind: "_Metrics.Kind"
        labels: List[str]
        buckets: List[float]

    @staticmethod
    def define(definition: "_Metrics.Definition") -> int:
        name = definition.name
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise AssertionError(f"metric {name!r}: a name is [a-z][a-z0-9_]*")
        if not definition.help.strip():
            raise AssertionError(f"metric {name!r}: a metric needs a help text")
        if (definition.kind == _Metrics.Kind.HISTOGRAM) != bool(definition.buckets):
            raise AssertionError(f"metric {name!r}: a histogram has bucket bounds, a counter or a gauge none")
        for index, (had, _) in enumerate(_DEFINED):
            if had.name == name:
                if (had.kind, had.labels, had.buckets) != (definition.kind, definition.labels, definition.buckets):
                    raise AssertionError(f"metric {name!r}: already defined as a {had.kind.name.lower()}, here as a {definition.kind.name.lower()}")
                return index
        _DEFINED.append((definition, {}))
        return len(_DEFINED) - 1

    @staticmethod
    def _record(metric: int, labels: List[str], number: float, operation: str) -> None:
        definition, series = _DEFINED[metric]
        allowed = {"COUNTER": ("add",), "GAUGE": ("add", "set"), "HISTOGRAM": ("observe",)}[definition.kind.name]
        if operation not in allowed:
            raise AssertionError(f"metric {definition.name!r} is a {definition.kind.name.lower()}: it has no `{operation}`")
        if len(labels) != len(definition.labels):
            raise AssertionError(f"metric {definition.name!r} has labels {definition.labels}")
        if definition.kind == _Metrics.Kind.COUNTER and not (math.isfinite(number) and number >= 0):
            return  # The host records nothing, and warns.
        values = series.setdefault(tuple(labels), [])
        if operation == "observe":
            values.append(number)
        elif operation == "set" or not values:
            values[:] = [number]
        else:
            values[0] += number

    @staticmethod
    def add(metric: int, labels: List[str], amount: float) -> None:
        _Metrics._record(metric, labels, amount, "add")

    @staticmethod
    def set(metric: int, labels: List[str], number: float) -> None:
        _Metrics._record(metric, labels, number, "set")

    @staticmethod
    def observe(metric: int, labels: List[str], number: float) -> None:
        _Metrics._record(metric, labels, number, "observe")


metrics = _Metrics

_DEFINED: List[Tuple["_Metrics.Definition", Dict[Tuple[str, ...], List[float]]]] = []


def metric_value(name: str, labels: Tuple[str, ...] = ()) -> Optional[float]:
    """The value of counter or gauge `name` for `labels`, if recorded."""
    found = observed(name, labels)
    return found[0] if found else None


def observed(name: str, labels: Tuple[str, ...] = ()) -> List[float]:
    """What histogram `name` observed for `labels`, in order."""
    for definition, series in _DEFINED:
        if definition.name == name:
            return list(series.get(tuple(labels), []))
    return []


def reset_metrics() -> None:
    """Forgets every metric."""
    _DEFINED.clear()


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
