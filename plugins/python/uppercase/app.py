"""The uppercase plugin, in Python: each line upper-cased (ASCII letters
only, byte for byte, as the Rust one does)."""

import yell_plugin


def transform(line: bytes) -> bytes:
    return line.upper()


Transform = yell_plugin.lines(transform)
