"""What the documents tell a user to run, and the output they show; never runs anything.

Read from README.md and docs/*.md (fenced blocks and inline code in the prose) and from
the docstrings of benchmarks/, scripts/ and examples/ (their indented usage lines):

* ``Command``: a shell command as written (``\\`` continuations joined, ``[...]``
  optional parts expanded into one variant without and one with them);
* ``Snippet``: a fenced ``python`` block;
* ``Shown``: a fenced block without a language (program output, a diagram, a formula).

``shape`` turns a line of shown output into a pattern that any run of the same program
matches: numbers (and lists of them) and hex digests may differ, the words may not.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")))
PROGRAM_DIRS = ("benchmarks", "scripts", "examples")

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
# Inline code that is a command: the hcx CLI, the project's interpreter and tools, and the
# campaign table's shorthand (a program path with arguments).
INLINE_COMMAND = re.compile(
    r"(hcx [a-z]|\.venv/bin/|python |pytest |make |(benchmarks|scripts|examples)/\S+\.py )"
)
DOCSTRING_COMMAND = re.compile(r"^\s+((?:\.venv/bin/)?python\S* .*|hcx [a-z].*)$")


@dataclass(frozen=True)
class Command:
    source: str  # "docs/operations.md:74"
    text: str


@dataclass(frozen=True)
class Snippet:
    source: str
    text: str


@dataclass(frozen=True)
class Shown:
    source: str
    text: str


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _join_continuations(block: str) -> list[tuple[int, str]]:
    """(line offset, command) for each command of a shell block; comments dropped."""
    commands: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(block.splitlines()):
        line = raw.strip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        command = re.sub(r"\s+#.*$", "", " ".join(part for part in pending if part))
        pending = []
        if command and not command.startswith("#"):
            commands.append((start, command))
    return commands


def expand_optional(text: str) -> list[str]:
    """``a [b] [c]`` -> ``a``, ``a b c``: the command without and with its options."""
    if "[" not in text:
        return [text]
    bare = re.sub(r"\s*\[[^\]]*\]", "", text)
    full = re.sub(r"\[([^\]]*)\]", r"\1", text)
    return [bare, full]


def fenced() -> Iterator[tuple[str, str, str]]:
    """(source, language, body) of every fenced block of the documents."""
    for name in DOCUMENTS:
        text = (ROOT / name).read_text()
        for match in FENCE.finditer(text):
            yield f"{name}:{_line_of(text, match.start())}", match.group(1), match.group(2)


def commands() -> list[Command]:
    """Every command the documents and the programs' docstrings give, as written."""
    found: list[Command] = []
    for source, language, body in fenced():
        if language == "sh":
            name, line = source.rsplit(":", 1)
            for offset, command in _join_continuations(body):
                where = f"{name}:{int(line) + 1 + offset}"
                found.extend(Command(where, variant) for variant in expand_optional(command))
    for name in DOCUMENTS:
        text = (ROOT / name).read_text()
        prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
        # Inline code may wrap across a line break in the prose.
        for match in INLINE.finditer(prose.replace("\n", " ")):
            span = match.group(1).strip()
            if INLINE_COMMAND.match(span):
                where = f"{name}:{_line_of(prose, match.start())}"
                found.extend(Command(where, variant) for variant in expand_optional(span))
    for directory in PROGRAM_DIRS:
        for path in sorted((ROOT / directory).glob("*.py")):
            docstring = ast.get_docstring(ast.parse(path.read_text()), clean=False) or ""
            where = f"{directory}/{path.name} (docstring)"
            found.extend(Command(where, c) for c in _docstring_commands(docstring))
    return found


def _docstring_commands(docstring: str) -> list[str]:
    """The indented usage lines of a docstring, ``\\`` continuations joined."""
    out: list[str] = []
    pending: list[str] | None = None
    for line in docstring.splitlines():
        if pending is None:
            match = DOCSTRING_COMMAND.match(line)
            if not match:
                continue
            pending = []
            line = match.group(1)
        text = line.strip()
        pending.append(text.removesuffix("\\").strip())
        if not text.endswith("\\"):
            out.append(re.sub(r"\s+#.*$", "", " ".join(pending)))
            pending = None
    return out


def snippets() -> list[Snippet]:
    return [Snippet(s, body) for s, language, body in fenced() if language == "python"]


def shown() -> list[Shown]:
    return [Shown(s, body) for s, language, body in fenced() if language == ""]


# --- shapes of shown output --------------------------------------------------------------

_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?"
_TOKEN = re.compile(
    rf"(?P<hex>\b[0-9a-f]{{16,}}\b)|(?P<numbers>{_NUMBER}(?:, {_NUMBER})*)|(?P<space>\s+)"
)


def shape(line: str) -> str:
    """A regex for any line of the same shape: numbers, number lists, digests and runs of
    spaces may differ; everything else is literal."""
    out: list[str] = []
    position = 0
    for match in _TOKEN.finditer(line):
        out.append(re.escape(line[position : match.start()]))
        if match.group("hex"):
            out.append("[0-9a-f]+")
        elif match.group("numbers"):
            out.append(rf"{_NUMBER}(?:, {_NUMBER})*")
        else:
            out.append(r"\s+")
        position = match.end()
    out.append(re.escape(line[position:]))
    return "".join(out)


def missing_shape(shown_text: str, output: str) -> str | None:
    """None if ``output`` holds the shown lines' shapes in order (a run of shown lines of
    one shape matches one or more output lines); else the first shown line not found."""
    expected: list[tuple[str, re.Pattern[str]]] = []
    for line in shown_text.strip("\n").splitlines():
        pattern = shape(line.rstrip())
        if not expected or expected[-1][1].pattern != pattern:
            expected.append((line, re.compile(pattern)))
    lines = [line.rstrip() for line in output.splitlines()]
    index = 0
    for number, (line, compiled) in enumerate(expected):
        if number == 0:
            while index < len(lines) and not compiled.fullmatch(lines[index]):
                index += 1
        if index >= len(lines) or not compiled.fullmatch(lines[index]):
            return line
        while index < len(lines) and compiled.fullmatch(lines[index]):
            index += 1
    return None
