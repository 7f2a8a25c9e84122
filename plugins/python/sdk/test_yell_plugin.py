"""The Python SDK under plain CPython: a plugin through the SDK's batch
code with the fake host (`python3 -m unittest` in this folder)."""

import unittest

import yell_plugin
import yell_plugin_testing
from yell_plugin_testing import TestHost


class Shout(yell_plugin.Plugin):
    def setup(self, config):
        self.greeting = config.pop("greeting", None)
        super().setup(config)

    def transform(self, line):
        if line == b"":
            raise ValueError("nothing to shout")
        if line == b"who":
            yell_plugin.info("asked who")
            return yell_plugin.peer(1) or "nobody"
        if line.startswith(b"split "):
            return line[6:].split(b" ")
        if line == b"drop":
            return None
        if line == b"bug":
            return {}[line]
        return line.upper()

    def greet(self, conn):
        return f"{self.greeting}\n".encode() if self.greeting else b""


class TestTheSdk(unittest.TestCase):
    def test_replies_errors_logs_and_addresses(self):
        host = TestHost(Shout)
        self.assertEqual(host.line(b"hi"), [b"HI"])
        self.assertEqual(host.lines([b"drop", b"split a b", b""])[:2], [[], [b"a", b"b"]])
        with self.assertRaisesRegex(ValueError, "nothing to shout"):
            host.line(b"")
        host.set_peer("203.0.113.9:4000")
        self.assertEqual(host.line(b"who"), [b"203.0.113.9:4000"])
        self.assertEqual(host.take_logs(), ["info: asked who"])

    def test_a_bug_logs_its_traceback_once_and_a_refusal_none(self):
        host = TestHost(Shout)
        results = host.lines([b"bug", b"bug", b""])
        self.assertTrue(all(isinstance(result, ValueError) for result in results))
        self.assertEqual(str(results[0]), "b'bug'")
        logs = host.take_logs()
        self.assertEqual(len(logs), 1, logs)
        self.assertTrue(logs[0].startswith("warn: transform raised KeyError:"), logs[0])
        self.assertIn("Traceback (most recent call last)", logs[0])
        self.assertIn("in transform", logs[0])

    def test_configuration_and_greetings(self):
        self.assertEqual(TestHost(Shout, {"greeting": "hello"}).connect(), [b"hello"])
        with self.assertRaisesRegex(ValueError, "unknown config key `loud`"):
            TestHost(Shout, {"loud": "yes"})

    def test_the_uppercase_plugin(self):
        import importlib.util
        import pathlib

        path = pathlib.Path(__file__).parent.parent / "uppercase" / "app.py"
        spec = importlib.util.spec_from_file_location("uppercase_app", path)
        app = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(app)
        host = TestHost(app.Transform)
        self.assertEqual(host.lines([b"caf\xc3\xa9 ok", b"\r"]), [[b"CAF\xc3\xa9 OK"], [b"\r"]])


if __name__ == "__main__":
    unittest.main()


class Counted(yell_plugin.Plugin):
    def setup(self, config):
        super().setup(config)
        self.counted = yell_plugin.Counter("counted", "Lines counted.", ["verb"])
        self.sizes = yell_plugin.Histogram("line_bytes", "Line sizes.", [1, 10])

    def transform(self, line):
        if line == b"secret":
            yell_plugin.Bucket("secret")
        bucket = yell_plugin.Bucket("hits")
        self.sizes.observe([], len(line))
        if line == b"last":
            return bucket.update("last", lambda current: "seen")
        self.counted.add([line.decode()])
        return str(bucket.increment("count"))


class StateAndMetrics(unittest.TestCase):
    def setUp(self):
        yell_plugin_testing.reset_state()
        yell_plugin_testing.reset_metrics()
        yell_plugin_testing.grant_bucket("hits")

    def test_state_and_metrics_go_to_the_fake_host(self):
        host = TestHost(Counted)
        self.assertEqual(host.line(b"count"), [b"1"])
        self.assertEqual(host.line(b"count"), [b"2"])
        self.assertEqual(host.line(b"last"), [b"seen"])
        self.assertEqual(yell_plugin_testing.value("hits", "count"), b"2")
        self.assertEqual(yell_plugin_testing.metric_value("counted", ("count",)), 2)
        self.assertEqual(yell_plugin_testing.observed("line_bytes"), [5, 5, 4])
        with self.assertRaisesRegex(ValueError, "access denied"):
            host.line(b"secret")
        self.assertEqual(host.take_logs(), [], "a refused bucket is no bug")
        bucket = yell_plugin.Bucket("hits")
        bucket.set_many([("a", "x"), ("b", b"\x01")])
        self.assertEqual(bucket.get_many(["a", "nope"]), [b"x", None])
        self.assertEqual(bucket.keys(), ["a", "b", "count", "last"])
        bucket.delete_many(["a", "b"])
        self.assertFalse(bucket.exists("a"))
        with self.assertRaises(yell_plugin.StateError) as refused:
            yell_plugin.Bucket("secret")
        self.assertEqual(refused.exception.kind, "access-denied")
        with self.assertRaisesRegex(AssertionError, "has labels"):
            host.plugin.counted.add([])
