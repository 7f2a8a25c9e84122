"""A test plugin (Python) that counts in the host's state store through
the SDK's wrappers, and publishes a metric of its own, so the wrappers are
proven against the real host (the same commands as tally-js and tally-c):

- `COUNT`: adds 1 to the key `count` (atomics `increment`): the total;
- `ADD N`: adds N to the key `sum` by compare-and-swap retries: the sum;
- `TOTAL`: the value of `count` (0 when unset), read with `get`.

Each counted line adds 1 to `yell_plugin_lang_tally_lines_total{command}`.
Configuration: `bucket` (default `tally`), which the operator grants.
"""

import yell_plugin


class Transform(yell_plugin.Plugin):
    def setup(self, config):
        self.bucket = config.pop("bucket", "tally")
        super().setup(config)
        self.lines = yell_plugin.Counter("lang_tally_lines", "Lines the tally test plugin counted, by command.", ["command"])

    def transform(self, line):
        bucket = yell_plugin.Bucket(self.bucket)
        words = line.split(b" ")
        if words == [b"COUNT"]:
            self.lines.add(["count"])
            return str(bucket.increment("count", 1))
        if len(words) == 2 and words[0] == b"ADD":
            delta = int(words[1])
            written = bucket.update("sum", lambda current: str(int(current or b"0") + delta))
            self.lines.add(["add"])
            return written
        if words == [b"TOTAL"]:
            return bucket.get("count") or b"0"
        raise ValueError("expected COUNT, ADD N or TOTAL")
