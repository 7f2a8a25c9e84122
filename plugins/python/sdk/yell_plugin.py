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

Under plain CPython (no component), `yell_plugin_testing.TestHost` runs a
plugin through this same batch code for unit tests, with log lines and
connection addresses answered by a fake host.
"""

from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple, Union

try:
    # In the component: the bindings componentize-py generates.
    from componentize_py_types import Err
    from wit_world import exports
    from wit_world.imports import connection, log, types
except ImportError:
    # Under plain CPython (a plugin's unit tests): the fake host of
    # yell_plugin_testing answers the imports instead.
    from yell_plugin_testing import Err, connection, exports, log, types

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
