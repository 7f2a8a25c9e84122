#!/usr/bin/env python3
"""Lists the `use` edges between the modules of each Rust crate of the
project and fails on a pair of modules that import each other.

An edge A -> B means module A names an item of module B (`use crate::b::X`,
`super::X`, a `crate::b::f()` path, or a parent's `pub use child::X`).
Inline `#[cfg(test)] mod tests` blocks are left out: a test of a module
sees its module. Usage: check-module-edges.py [--list] [CRATE_SRC_DIR...]
(default: host/src and host/runtime/src).
"""

import os
import re
import sys

ROOTS = ["host/src", "host/runtime/src"]


def module_of(src, path):
    rel = os.path.relpath(path, src)[: -len(".rs")]
    parts = rel.split(os.sep)
    if parts[-1] in ("lib", "main") and len(parts) == 1:
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def strip(text):
    """Source without comments, strings and inline test modules."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    match = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    if match:
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        text = text[: match.start()] + text[i:]
    return text


def expand(tree):
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d']."""
    tree = re.sub(r"\s+", "", tree)
    depth = 0
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                prefix, inner = tree[:i], tree[i + 1 : tree.rindex("}")]
                items, start, level = [], 0, 0
                for j, c in enumerate(inner):
                    level += {"{": 1, "}": -1}.get(c, 0)
                    if c == "," and level == 0:
                        items.append(inner[start:j])
                        start = j + 1
                items.append(inner[start:])
                return [p for item in items if item for p in expand(prefix + item)]
            depth += 1
    return [tree.split(" as ")[0]]


def resolve(path, here, modules):
    """The module a path names an item of, or None outside the crate."""
    parts = [p for p in path.split("::") if p]
    if not parts:
        return None
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    elif parts[0] in ("super", "self"):
        base = here
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super":
                base = base[:-1]
            parts = parts[1:]
        rest = parts
    elif here + (parts[0],) in modules:
        base, rest = here, parts
    else:
        return None
    target = base
    for part in rest:
        if target + (part,) in modules:
            target = target + (part,)
        else:
            break
    return target


def edges_of(src):
    files = []
    for directory, _, names in os.walk(src):
        files += [os.path.join(directory, n) for n in names if n.endswith(".rs")]
    modules = {module_of(src, f): f for f in files}
    edges = set()
    for module, path in modules.items():
        text = strip(open(path, encoding="utf-8").read())
        paths = []
        for use in re.finditer(r"\buse\s+([^;]+);", text):
            paths += expand(use.group(1))
        paths += re.findall(r"\b(?:crate|super)(?:::\w+)+", text)
        for p in paths:
            target = resolve(p, module, modules)
            if target is not None and target != module:
                edges.add((module, target))
    return edges


def name(module):
    return "::".join(module) or "(crate root)"


def main(argv):
    listing = "--list" in argv
    roots = [a for a in argv if not a.startswith("--")] or ROOTS
    failed = False
    for src in roots:
        edges = edges_of(src)
        if listing:
            for a, b in sorted(edges):
                print(f"{src}: {name(a)} -> {name(b)}")
        for a, b in sorted(edges):
            if (b, a) in edges and a < b:
                print(f"{src}: {name(a)} and {name(b)} import each other")
                failed = True
        print(f"check-module-edges: {src}: {len(edges)} edges", file=sys.stderr)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
