"""yell_plugin: write a yell-host plugin in Python as one per-line function.

The host hands a plugin whole batches of lines (see wit/plugin.wit); this
module speaks that batch contract and calls your function once per line:

    import yell_plugin

    def transform(line: bytes) -> bytes:
        return line.upper()

    Transform = yell_plugin.lines(transform)

A line is bytes without its line ending. The function returns the reply
line (bytes or str), a list of reply lines (none drops the line, several
expand it), or None to drop it; raising an exception answers that one line
with `ERR plugin: <message>`. A `ValueError` is a refusal; any other
exception is taken for a bug, and its traceback is also written to the
host's log (each distinct one once per instance). `componentize-py ... componentize app` finds
the `Transform` class in the app module.

State and metrics: `Bucket` (the host's `wasi:keyvalue` store, in the
buckets the operator grants with `--plugin-bucket`) and `Counter`, `Gauge`
and `Histogram` (metrics of the plugin's own on the host's `/metrics`).
A plugin that uses them is built for the world that has them:
`world = "stateful-plugin"` (state and metrics) or `world =
"metrics-plugin"` in its yell-plugin.toml.

Under plain CPython (no component), `yell_plugin_testing.TestHost` runs a
plugin through this same batch code for unit tests, with log lines,
connection addresses, state and metrics answered by a fake host.
"""

from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple, Union

try:
    # In the component: the bindings componentize-py generates.
    from componentize_py_types import Err
    from wit_world import exports
    from wit_world.imports import connection, log, types

    # Only in the worlds that have them (`metrics-plugin`, `stateful-plugin`).
    try:
        from wit_world.imports import metrics
    except ImportError:
        metrics = None
    try:
        from wit_world.imports import atomics, batch, expiry, store
    except ImportError:
        atomics = batch = expiry = store = None
except ImportError:
    # Under plain CPython (a plugin's unit tests): the fake host of
    # yell_plugin_testing answers the imports instead.
    from yell_plugin_testing import (
        Err,
        atomics,
        batch,
        connection,
        expiry,
        exports,
        log,
        metrics,
        store,
        types,
    )

Reply = Union[bytes, bytearray, str, Iterable[Union[bytes, bytearray, str]], None]


def _as_bytes(value: Union[bytes, bytearray, str]) -> bytes:
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


def info(message: str) -> None:
    """Writes `message` to the host's log at info level."""
    log.log(log.Level.INFO, message)


def warn(message: str) -> None:
    """Writes `message` to the host's log at warn level."""
    log.log(log.Level.WARN, message)


def peer(conn: int) -> Optional[str]:
    """The client address of connection `conn` (the real one behind a load
    balancer that sends the PROXY protocol), while it is open."""
    found = connection.info(conn)
    return found.peer if found is not None else None


# The tracebacks already logged (bounded: a bug on every line logs each
# distinct traceback once, not once per line).
_logged_tracebacks: Set[str] = set()
_MAX_LOGGED_TRACEBACKS = 64


def _log_traceback(error: BaseException) -> None:
    # Imported here, at the first bug: imported at the top, its modules
    # would be in every component's initial memory (about 1 MB).
    import traceback

    text = "".join(traceback.format_exception(error)).rstrip()
    if text in _logged_tracebacks or len(_logged_tracebacks) >= _MAX_LOGGED_TRACEBACKS:
        return
    _logged_tracebacks.add(text)
    warn(f"transform raised {type(error).__name__}:\n{text}")


# The plugin object `init` set up. The component's exports may be called on
# a fresh object each time, so every call goes to this one, which keeps what
# `setup` stored (one per wasm instance, as module state is).
_initialized: Optional["Plugin"] = None


class Plugin(exports.Transform):
    """The batch contract around a per-line `transform` method. Subclass it
    and define `transform(self, line)`, and `setup(self, config)` to take
    configuration (raise ValueError to refuse it), or use `lines()`."""

    def setup(self, config: Dict[str, str]) -> None:
        for key in config:
            raise ValueError(f"unknown config key `{key}`")

    def transform(self, line: bytes) -> Reply:
        raise NotImplementedError("define transform(self, line)")

    def init(self, config: List[Tuple[str, str]]) -> None:
        global _initialized
        try:
            self.setup(dict(config))
        except Exception as error:
            raise Err(str(error))
        _initialized = self

    def _plugin(self) -> "Plugin":
        return _initialized if _initialized is not None else self

    def transform_batch(self, conn: int, lines: bytes) -> types.BatchReply:
        return self._plugin()._transform_batch(conn, lines)

    def _transform_batch(self, conn: int, lines: bytes) -> types.BatchReply:
        output = bytearray()
        ends: List[int] = []
        errors: List[types.LineError] = []
        # Every line, the last included, ends with b"\n" (the contract).
        for index, line in enumerate(lines[:-1].split(b"\n")):
            start = len(output)
            try:
                reply = self.transform(line)
                if isinstance(reply, (bytes, bytearray, str)):
                    reply = [reply]
                for reply_line in reply or []:
                    reply_line = _as_bytes(reply_line)
                    if b"\n" in reply_line:
                        raise ValueError("a reply line cannot hold a line break")
                    output += reply_line
                    output += b"\n"
            except Exception as error:
                del output[start:]
                if not isinstance(error, ValueError):
                    _log_traceback(error)
                errors.append(types.LineError(index, str(error) or type(error).__name__))
            ends.append(len(output))
        return types.BatchReply(bytes(output), ends, errors)

    def transform_raw(self, conn: int, chunk: bytes) -> bytes:
        raise Err("this plugin transforms lines: serve it with --framing lines")

    def connection_opened(self, conn: int) -> bytes:
        return self._plugin().greet(conn)

    def connection_closed(self, conn: int) -> bytes:
        return self._plugin().farewell(conn)

    def greet(self, conn: int) -> bytes:
        """What a new connection is sent first (nothing by default)."""
        return b""

    def farewell(self, conn: int) -> bytes:
        """What a finished connection is sent last (nothing by default)."""
        return b""


def lines(function: Callable[[bytes], Reply]) -> type:
    """A plugin class whose `transform` is `function(line)`, taking no
    configuration."""

    class Lines(Plugin):
        def transform(self, line: bytes) -> Reply:
            return function(line)

    return Lines


class StateError(ValueError):
    """A state call failed: `kind` is "access-denied" (the bucket is not
    granted), "no-such-store" or "other" (the store failed, timed out or
    refused the call: a key or value too long, a bucket full, a counter
    that is not a number). Raised from `transform`, it answers the line
    with `ERR plugin: <message>`."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _state_error(bucket: str, error: object) -> StateError:
    name = type(error).__name__
    if name.endswith("AccessDenied"):
        return StateError(
            "access-denied",
            f"bucket {bucket}: access denied (the operator grants buckets with --plugin-bucket)",
        )
    if name.endswith("NoSuchStore"):
        return StateError("no-such-store", f"bucket {bucket}: no such store")
    return StateError("other", str(getattr(error, "value", error)))


def _needs(interface: object, world: str) -> None:
    if interface is None:
        raise RuntimeError(
            f'this plugin was built without the host\'s state or metrics: set world = "{world}" in its yell-plugin.toml'
        )


# How many times `Bucket.update` tries before it gives up.
_UPDATE_TRIES = 1000


def _bytes(value: Union[bytes, bytearray, str]) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


class Bucket:
    """An open bucket of the host's store. `Bucket("hits")` opens it (only
    granted buckets open); every call raises StateError saying why it
    failed."""

    def __init__(self, name: str):
        _needs(store, "stateful-plugin")
        self.name = name
        self._handle = self._call(lambda: store.open(name))

    def _call(self, action: Callable):
        try:
            return action()
        except Err as error:
            raise _state_error(self.name, error.value) from None

    def get(self, key: str) -> Optional[bytes]:
        """The value of `key`, or None."""
        return self._call(lambda: self._handle.get(key))

    def set(self, key: str, value: Union[bytes, bytearray, str]) -> None:
        """Sets `key` to `value` (a str is encoded as UTF-8)."""
        self._call(lambda: self._handle.set(key, _bytes(value)))

    def set_with_ttl(self, key: str, value: Union[bytes, bytearray, str], ttl_ms: int) -> None:
        """Sets `key` to `value`, to expire `ttl_ms` milliseconds from now."""
        self._call(lambda: expiry.set_with_ttl(self._handle, key, _bytes(value), max(1, int(ttl_ms))))

    def expire(self, key: str, ttl_ms: int) -> bool:
        """Makes `key` expire `ttl_ms` from now (0: at once); False when unset."""
        return self._call(lambda: expiry.expire(self._handle, key, max(0, int(ttl_ms))))

    def delete(self, key: str) -> None:
        """Removes `key`."""
        self._call(lambda: self._handle.delete(key))

    def exists(self, key: str) -> bool:
        """Whether `key` is set."""
        return self._call(lambda: self._handle.exists(key))

    def keys(self) -> List[str]:
        """Every key, page after page."""
        found: List[str] = []
        cursor: Optional[str] = None
        while True:
            page = self._call(lambda: self._handle.list_keys(cursor))
            found.extend(page.keys)
            if page.cursor is None:
                return found
            cursor = page.cursor

    def increment(self, key: str, delta: int = 1) -> int:
        """Adds `delta` to the counter `key` (0 when unset), atomically in
        the store; the new value (kept as decimal text)."""
        return self._call(lambda: atomics.increment(self._handle, key, delta))

    def update(self, key: str, change: Callable[[Optional[bytes]], Optional[Union[bytes, str]]]) -> Optional[bytes]:
        """Replaces the value of `key` by `change(current)` (None leaves
        it), by compare-and-swap: when another writer came first, `change`
        is called again with the newer value. What was written, or None."""
        cas = self._call(lambda: atomics.Cas.new(self._handle, key))
        for _ in range(_UPDATE_TRIES):
            new = change(self._call(cas.current))
            if new is None:
                return None
            value = _bytes(new)
            try:
                atomics.swap(cas, value)
                return value
            except Err as error:
                failed = error.value
                if type(failed).__name__.endswith("CasFailed"):
                    cas = failed.value
                    continue
                raise _state_error(self.name, getattr(failed, "value", failed)) from None
        raise StateError("other", f"{self.name}/{key}: still contended after {_UPDATE_TRIES} tries")

    def get_many(self, keys: List[str]) -> List[Optional[bytes]]:
        """The values of `keys`, in order (None where unset)."""
        found = self._call(lambda: batch.get_many(self._handle, keys))
        return [None if entry is None else entry[1] for entry in found]

    def set_many(self, pairs: List[Tuple[str, Union[bytes, bytearray, str]]]) -> None:
        """Sets every (key, value) pair, all or none."""
        self._call(lambda: batch.set_many(self._handle, [(key, _bytes(value)) for key, value in pairs]))

    def delete_many(self, keys: List[str]) -> None:
        """Removes every key of `keys`."""
        self._call(lambda: batch.delete_many(self._handle, keys))


def _define(name: str, help: str, kind: str, labels: Iterable[str], buckets: Iterable[float]) -> int:
    _needs(metrics, "metrics-plugin")
    return metrics.define(
        metrics.Definition(
            name=name,
            help=help,
            kind=getattr(metrics.Kind, kind),
            labels=[str(label) for label in labels],
            buckets=[float(bound) for bound in buckets],
        )
    )


class Counter:
    """A count that only goes up, on the host's /metrics as
    `yell_plugin_<name>_total`. Define it in `setup` (the top of the module
    runs when the component is built, where the host cannot be called): a
    definition the host refuses refuses the plugin at load."""

    def __init__(self, name: str, help: str, labels: Iterable[str] = ()):
        self._metric = _define(name, help, "COUNTER", labels, ())

    def add(self, labels: Iterable[str] = (), amount: float = 1) -> None:
        """Adds `amount` (not negative) to the series of `labels`."""
        metrics.add(self._metric, [str(label) for label in labels], float(amount))


class Gauge:
    """A level that goes up and down, as `yell_plugin_<name>`."""

    def __init__(self, name: str, help: str, labels: Iterable[str] = ()):
        self._metric = _define(name, help, "GAUGE", labels, ())

    def set(self, labels: Iterable[str], value: float) -> None:
        """Sets the series of `labels` to `value`."""
        metrics.set(self._metric, [str(label) for label in labels], float(value))

    def add(self, labels: Iterable[str], amount: float) -> None:
        """Adds `amount` (negative: takes away) to the series of `labels`."""
        metrics.add(self._metric, [str(label) for label in labels], float(amount))


class Histogram:
    """How observations fall into fixed buckets (upper bounds, increasing;
    the host adds +Inf), with their count and sum."""

    def __init__(self, name: str, help: str, buckets: Iterable[float], labels: Iterable[str] = ()):
        self._metric = _define(name, help, "HISTOGRAM", labels, buckets)

    def observe(self, labels: Iterable[str], value: float) -> None:
        """Counts `value` into the series of `labels`."""
        metrics.observe(self._metric, [str(label) for label in labels], float(value))
