"""Redacts what a regular expression matches, in Python: `pattern` (a
Python regular expression, required) and `replacement` (default `***`).
For example, with pattern=\\d{4}-\\d{4}-\\d{4}-\\d{4}, card numbers become
`***`. What Python is good at: its regular expressions, in a few lines."""

import re
from typing import Dict

import yell_plugin


class Transform(yell_plugin.Plugin):
    def setup(self, config: Dict[str, str]) -> None:
        unknown = set(config) - {"pattern", "replacement"}
        if unknown:
            raise ValueError(f"unknown config key `{sorted(unknown)[0]}`")
        if "pattern" not in config:
            raise ValueError("pattern=REGEX is required")
        try:
            self.pattern = re.compile(config["pattern"].encode())
        except re.error as error:
            raise ValueError(f"pattern is not a regular expression: {error}")
        self.replacement = config.get("replacement", "***").encode()

    def transform(self, line: bytes) -> bytes:
        return self.pattern.sub(lambda _: self.replacement, line)
