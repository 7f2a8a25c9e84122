#!/usr/bin/env python3
"""Fails when a test of tests/test-names.txt is gone, or no longer runs.

tests/test-names.txt holds every test of the project, one per line: the
name it had before the suite became one binary, a tab, and its name now
(`-` on the left for a test written since). A name is a test binary as
cargo-nextest names it (`PACKAGE::TARGET`, or `PACKAGE` for a library's
unit tests, or `PACKAGE::doctest` for documentation examples), a space,
and the test's path in that binary.

This lists the tests that exist now, without running them (cargo nextest
list, for the host workspace and the plugins' workspace, the
documentation examples, the Python SDK's unittest cases, named
`python::FOLDER ID`, the JavaScript SDK's `node --test` cases, named
`node::FOLDER NAME`, and the C SDK's native checks, named `c::FOLDER
NAME`), and fails when

- a test on the list is missing: deleted, renamed or moved without the
  list saying so;
- a test on the list is skipped (`#[ignore]`), unless the list marks it
  so with a trailing ` (ignored)`;
- a test exists that is not on the list: add it, with `--add`.

A benchmark that used to be an ignored test is listed as `bench
PACKAGE::BENCH SCENARIO`: a scenario of host/benches/BENCH.rs.

Usage: check-test-names.py [--add]
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "tests" / "test-names.txt"
IGNORED = " (ignored)"


def nextest_names(manifest):
    """Every test of the workspace of `manifest`: {name: ignored}."""
    output = subprocess.run(
        ["cargo", "nextest", "list", "--workspace", "--manifest-path", str(manifest),
         "--message-format", "json", "--run-ignored", "all"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE,
    ).stdout
    listing = json.loads(output)
    names = {}
    for binary_id, suite in listing["rust-suites"].items():
        for test, case in suite["testcases"].items():
            names[f"{binary_id} {test}"] = case.get("ignored", False)
    return names


def doctest_names(manifest, package_dir):
    """The documentation examples: {name: ignored}. Named by file, item and
    order, not line number, so an edit above one does not rename it; an
    example fenced as `ignore` is not run."""
    output = subprocess.run(
        ["cargo", "test", "--doc", "--workspace", "--manifest-path", str(manifest),
         "--", "--list", "--format", "terse"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ).stdout
    names = {}
    counts = {}
    for line in output.splitlines():
        match = re.match(r"^(\S+) - (.*?) ?\(line (\d+)\)(?: - compile)?: test$", line)
        if not match:
            continue
        path, item, number = match.groups()
        package = package_dir(path)
        key = f"{package}::doctest {path} - {item}".rstrip()
        counts[key] = counts.get(key, 0) + 1
        source = (manifest.parent / path).read_text().splitlines()
        fence = source[int(number) - 1] if int(number) <= len(source) else ""
        names[f"{key} #{counts[key]}"] = "```ignore" in fence
    return names


def host_package(path):
    return "yell-runtime" if path.startswith("host/runtime/") else "yell-host"


def plugin_package(path):
    manifest = ROOT / "plugins" / Path(path).parts[0] / "Cargo.toml"
    text = manifest.read_text() if manifest.exists() else ""
    match = re.search(r'^name\s*=\s*"([^"]+)"', text, re.M)
    return match.group(1) if match else path


def python_names(folder):
    """The unit tests of the Python SDK (unittest's ids): {name: False}."""
    output = subprocess.run(
        [sys.executable, "-c",
         "import sys, unittest\n"
         "def ids(suite):\n"
         "    for test in suite:\n"
         "        yield from ids(test) if isinstance(test, unittest.TestSuite) else [test.id()]\n"
         f"print('\\n'.join(ids(unittest.defaultTestLoader.discover({str(folder)!r}, 'test_*.py'))))"],
        cwd=folder, check=True, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    ).stdout
    return {f"python::{folder.relative_to(ROOT)} {name}": False for name in output.split()}


def node_names(folder):
    """The unit tests of the JavaScript SDK (`node --test`, which has no
    listing of its own: run, they take a fraction of a second):
    {name: skipped}."""
    output = subprocess.run(
        ["node", "--test", "--test-reporter=tap"],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ).stdout
    names = {}
    for line in output.splitlines():
        match = re.match(r"^(?:not )?ok \d+ - (.*?)( # SKIP.*)?$", line)
        if match:
            names[f"node::{folder.relative_to(ROOT)} {match.group(1)}"] = bool(match.group(2))
    return names


def c_names():
    """The C SDK's native unit tests (scripts/test-c-sdk.sh builds and runs
    them, in about a second; each prints `ok NAME`): {name: False}."""
    output = subprocess.run(
        [str(ROOT / "scripts" / "test-c-sdk.sh")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ).stdout
    return {f"c::plugins/c/sdk {match.group(1)}": False
            for match in re.finditer(r"^(?:not )?ok (.*)$", output, re.M)}


def current():
    names = {}
    names.update(c_names())
    names.update(node_names(ROOT / "plugins" / "js" / "sdk"))
    names.update(python_names(ROOT / "plugins" / "python" / "sdk"))
    names.update(nextest_names(ROOT / "Cargo.toml"))
    names.update(nextest_names(ROOT / "plugins" / "Cargo.toml"))
    names.update(doctest_names(ROOT / "Cargo.toml", host_package))
    names.update(doctest_names(ROOT / "plugins" / "Cargo.toml", plugin_package))
    return names


def listed():
    """The list's entries: [(before, after, may_be_ignored)]."""
    entries = []
    for number, line in enumerate(LIST.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if "\t" not in line:
            sys.exit(f"{LIST}:{number}: expected BEFORE<TAB>AFTER, got {line!r}")
        before, after = line.split("\t", 1)
        ignored = after.endswith(IGNORED)
        entries.append((before, after.removesuffix(IGNORED), ignored))
    return entries


def main():
    add = "--add" in sys.argv[1:]
    now = current()
    entries = listed()
    problems = []
    seen = set()
    for before, after, may_be_ignored in entries:
        if after in seen:
            problems.append(f"listed twice: {after}")
        seen.add(after)
        if after.startswith("bench "):
            # A benchmark that was an ignored test: a scenario of a bench
            # binary now (`bench PACKAGE::BENCH SCENARIO`).
            _, target, scenario = after.split(" ", 2)
            source = ROOT / "host" / "benches" / f"{target.split('::')[1]}.rs"
            if not (source.exists() and f'("{scenario}", ' in source.read_text()):
                problems.append(f"missing: benchmark {after}")
            continue
        if after not in now:
            was = "" if before in ("-", after) else f" (before: {before})"
            problems.append(f"missing: {after}{was}")
        elif now[after] and not may_be_ignored:
            problems.append(f"ignored, so not run: {after}")
    unlisted = sorted(name for name in now if name not in seen)
    if add and unlisted:
        with LIST.open("a") as out:
            for name in unlisted:
                out.write(f"-\t{name}{IGNORED if now[name] else ''}\n")
        print(f"check-test-names: added {len(unlisted)} new tests to {LIST.relative_to(ROOT)}")
        unlisted = []
    problems.extend(f"not on the list (add it: scripts/check-test-names.py --add): {name}"
                    for name in unlisted)
    if problems:
        for problem in problems:
            print(f"check-test-names: {problem}", file=sys.stderr)
        count = len(problems)
        sys.exit(f"check-test-names: {count} problem{'s' if count != 1 else ''} "
                 f"with {LIST.relative_to(ROOT)}")
    print(f"check-test-names: all {len(entries)} tests of the list exist and run")


if __name__ == "__main__":
    main()
