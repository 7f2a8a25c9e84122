#!/usr/bin/env python3
"""Checks the book's option tables against the binary's own --help.

Usage: scripts/check-docs-options.py [BINARY]
  BINARY defaults to $YELL_HOST_BINARY, else target/debug/yell-host.

Each command's options are documented once, in a table of the book that
follows a marker `<!-- options: COMMAND -->` in docs/src/*.md. The options of
`yell-host --help` (which serves) go in the table `serve`, with those of
`yell-host serve --help`; each subcommand listed by `yell-host --help` has a
table of its own. The check fails, naming the option, when:
- an option (long name, short name, alias) or argument of a command's --help
  is missing from the first column of its table;
- an option has a `[default: X]` that its row's default column does not show,
  or an environment variable (`[env: NAME=]`) that its row does not name;
- a table names an option that the command's --help does not have;
- a subcommand has no table.
Options every subcommand takes (--log-level, --log-format) are documented in
the `serve` table only; -h/--help and -V/--version need no row. A marker
`<!-- options: COMMAND +serve -->` says that COMMAND takes the server's
options too, documented in the `serve` table: its own table has the rest.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "docs" / "src"
MARKER = re.compile(r"<!--\s*options:\s*([\w-]+)(\s+\+serve)?\s*-->")
SECTION = re.compile(r"^(\w[\w ]*):$")
OPTION_LINE = re.compile(r"^(?: {2}(-[A-Za-z0-9]), | {6})(--[A-Za-z0-9][\w-]*)")
ARGUMENT_LINE = re.compile(r"^ {2}[<\[]([A-Z][A-Z0-9_]*)[>\]]")
COMMAND_LINE = re.compile(r"^ {2}([a-z][\w-]*) {2,}")
OPTION_TOKEN = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)")
NEED_NO_ROW = {"--help", "-h", "--version", "-V"}


class Option:
    def __init__(self, long, short):
        self.long = long
        self.short = short
        self.aliases = []
        self.default = None
        self.env = None

    def names(self):
        return [self.long] + ([self.short] if self.short else []) + self.aliases


def help_of(binary, command):
    """The options, arguments and subcommands of `binary [command] --help`."""
    argv = [binary] + ([command] if command else []) + ["--help"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("YELL_")}
    env.pop("CLICOLOR_FORCE", None)
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        sys.exit(f"check-docs-options: `{' '.join(argv)}` failed:\n{result.stderr}")
    options, arguments, commands = {}, [], []
    section, current = None, None
    for line in result.stdout.splitlines():
        heading = SECTION.match(line)
        if heading:
            section, current = heading.group(1), None
            continue
        if section == "Options":
            match = OPTION_LINE.match(line)
            if match:
                current = Option(match.group(2), match.group(1))
                options[current.long] = current
                continue
            if current is None:
                continue
            text = line.strip()
            aliases = re.fullmatch(r"\[(?:visible )?alias(?:es)?: (.*)\]", text)
            default = re.fullmatch(r"\[default: (.*)\]", text)
            env_var = re.search(r"\[env: (\w+)=", text)
            if aliases:
                current.aliases += [a.strip() for a in aliases.group(1).split(",")]
            elif default:
                current.default = default.group(1)
            if env_var:
                current.env = env_var.group(1)
        elif section == "Arguments":
            match = ARGUMENT_LINE.match(line)
            if match:
                arguments.append(match.group(1))
        elif section == "Commands":
            match = COMMAND_LINE.match(line)
            if match and match.group(1) != "help":
                commands.append(match.group(1))
    return options, arguments, commands


def cells(row):
    """The cells of a Markdown table row (`\\|` stays inside a cell)."""
    parts = re.split(r"(?<!\\)\|", row.strip())
    return [part.strip() for part in parts[1:-1]]


def book_tables():
    """{command: (file, [row cells])} for every marked table of the book."""
    tables = {}
    for path in sorted(BOOK.glob("**/*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            marker = MARKER.search(line)
            if not marker:
                continue
            command = marker.group(1)
            where = f"{path.relative_to(ROOT)}:{number + 1}"
            if command in tables:
                sys.exit(f"check-docs-options: a second table for `{command}` at {where}")
            rows, start = [], number + 1
            while start < len(lines) and not lines[start].strip():
                start += 1
            while start < len(lines) and lines[start].lstrip().startswith("|"):
                rows.append(cells(lines[start]))
                start += 1
            if len(rows) < 3:
                sys.exit(f"check-docs-options: no table after the marker at {where}")
            # Drop the header and the |---| line.
            tables[command] = (where, rows[2:], bool(marker.group(2)))
    return tables


def plain(text):
    return text.replace("`", "").replace("\\|", "|")


def check(command, shown, options, arguments, table, skip):
    """Problems of one command's table; `shown` is how the command is typed."""
    where, rows, _ = table
    problems = []
    row_of = {}
    for row in rows:
        for token in OPTION_TOKEN.findall(plain(row[0])):
            row_of.setdefault(token, row)
    known = set(NEED_NO_ROW)
    for option in options.values():
        known.update(option.names())
    for option in options.values():
        if option.long in NEED_NO_ROW or option.long in skip:
            continue
        row = row_of.get(option.long)
        if row is None:
            problems.append(f"`{shown} --help` has {option.long}, missing from the book's table ({where})")
            continue
        for name in option.names()[1:]:
            if name not in row_of:
                problems.append(f"{option.long}: `{shown} --help` also names it {name}, missing from its row ({where})")
        if option.default is not None and (len(row) < 2 or option.default not in plain(row[1])):
            problems.append(
                f"{option.long}: `{shown} --help` says [default: {option.default}], "
                f"its row ({where}) says {row[1] if len(row) > 1 else 'nothing'!r}"
            )
        if option.env and option.env not in " ".join(row):
            problems.append(f"{option.long}: its row ({where}) does not name its environment variable {option.env}")
    for argument in arguments:
        if not any(re.search(rf"\b{argument}\b", plain(row[0])) for row in rows):
            problems.append(f"`{shown} --help` takes the argument {argument}, missing from the book's table ({where})")
    for token in row_of:
        if token not in known:
            problems.append(f"the book's table ({where}) names {token}, which `{shown} --help` does not have")
    return problems


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("YELL_HOST_BINARY", "target/debug/yell-host")
    if not os.access(binary, os.X_OK):
        sys.exit(f"check-docs-options: no yell-host binary at {binary} (cargo build, or set YELL_HOST_BINARY)")
    top_options, _, commands = help_of(binary, None)
    helps = {command: help_of(binary, command) for command in commands}
    # What every subcommand takes is documented once, with the server's options.
    everywhere = set.intersection(*(set(h[0]) for h in helps.values())) if helps else set()
    tables = book_tables()

    problems = []
    counts = []
    for command in ["serve"] + [c for c in commands if c != "serve"]:
        if command not in tables:
            problems.append(f"`yell-host {command}` has no options table in the book (a `<!-- options: {command} -->` marker)")
            continue
        options, arguments, _ = helps.get(command, ({}, [], []))
        skip = set()
        if command == "serve":
            options = {**top_options, **options}
            shown = "yell-host"
        else:
            skip = set(everywhere)
            if tables[command][2]:
                # `+serve`: the server's options it takes are in the serve table.
                skip |= set(top_options) | set(helps.get("serve", ({},))[0])
            shown = f"yell-host {command}"
        problems += check(command, shown, options, arguments, tables[command], skip)
        documented = len([o for o in options if o not in NEED_NO_ROW and o not in skip]) + len(arguments)
        counts.append(f"{command} {documented}")
    for command in tables:
        if command != "serve" and command not in commands:
            problems.append(f"the book has an options table for `{command}` ({tables[command][0]}), not a command of `yell-host --help`")

    for problem in problems:
        print(f"options: {problem}", file=sys.stderr)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"check-docs-options: {len(problems)} {noun} between {binary} --help and the book", file=sys.stderr)
        return 1
    print(f"check-docs-options: every option of {binary} --help is in the book ({', '.join(counts)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
