"""Split a content file into YAML front matter and a Markdown body, keeping line numbers.

PyYAML is translated here and nowhere else. The loader is PyYAML's safe loader with
two changes: dates stay strings (the content models parse them, so ``2024-13-01``
gets a clear message instead of a ``ValueError`` from deep inside YAML), and a key
given twice is an error instead of the last one silently winning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from newsletter.errors import ContentProblem

FENCE = "---"
KeyPath = tuple[str | int, ...]

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _FrontMatterLoader(yaml.SafeLoader):
    """Safe loading without implicit timestamps."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Document:
    """One parsed content file.

    ``lines`` maps a key path (``("image", "alt")``, ``("articles", 2)``) to the
    1-based line in the file where that key or item starts.
    """

    path: Path
    data: dict[str, Any]
    body: str
    body_line: int
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, key: KeyPath) -> int | None:
        """The line of ``key``, else of its nearest parent that has one."""
        for end in range(len(key), 0, -1):
            line = self.lines.get(key[:end])
            if line is not None:
                return line
        return None


class FrontMatterError(Exception):
    """Raised inside this package only; carries the problem to report."""

    def __init__(self, problem: ContentProblem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def read_text(path: Path) -> str:
    """The file's text; a read failure or non-UTF-8 bytes become a ``FrontMatterError``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FrontMatterError(
            ContentProblem(path, f"cannot read the file: {exc.strerror or exc}")
        ) from exc
    try:
        # utf-8-sig: editors on Windows add a byte-order mark that is harmless to drop.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        bad = raw[exc.start]
        raise FrontMatterError(
            ContentProblem(
                path,
                f"the file is not UTF-8 text (byte 0x{bad:02x} on line {line}); "
                "save it with UTF-8 encoding",
                line=line,
            )
        ) from exc


def parse(path: Path, text: str) -> Document:
    """Split ``text`` at its ``---`` fences and load the YAML between them."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != FENCE:
        raise FrontMatterError(
            ContentProblem(
                path,
                "no front matter: the file must start with a '---' line, then YAML keys, "
                "then another '---' line",
                line=1,
            )
        )
    closing = next((i for i in range(1, len(lines)) if lines[i].strip() == FENCE), None)
    if closing is None:
        raise FrontMatterError(
            ContentProblem(
                path,
                "unterminated front matter: no closing '---' line after the opening one",
                line=1,
            )
        )
    yaml_text = "".join(lines[1:closing])
    data, key_lines = _load_yaml(path, yaml_text)
    body = "".join(lines[closing + 1 :])
    return Document(path=path, data=data, body=body, body_line=closing + 2, lines=key_lines)


def _load_yaml(path: Path, text: str) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    # The front matter starts on line 2 of the file; YAML marks are 0-based.
    offset = 2
    loader = _FrontMatterLoader(text)
    try:
        node = loader.get_single_node()
        key_lines: dict[KeyPath, int] = {}
        if node is not None:
            _index_lines(path, node, (), key_lines, offset)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + offset if mark is not None else None
        detail = exc.problem or "invalid YAML"
        if exc.context:
            context = exc.context
            start = exc.context_mark
            if start is not None and (mark is None or start.line != mark.line):
                context += f" that starts on line {start.line + offset}"
            detail = f"{detail} ({context})"
        if mark is not None:
            detail += _quote_hint(text, mark.line)
        raise FrontMatterError(
            ContentProblem(path, f"YAML syntax error: {detail}", line=line)
        ) from exc
    except yaml.YAMLError as exc:
        raise FrontMatterError(ContentProblem(path, f"YAML syntax error: {exc}")) from exc
    finally:
        loader.dispose()
    if data is None:
        # An empty block is allowed here; each kind of file reports its missing fields.
        return {}, key_lines
    if not isinstance(data, dict):
        raise FrontMatterError(
            ContentProblem(
                path,
                f"the front matter must be 'key: value' lines, not a {_yaml_kind(data)}",
                line=offset,
            )
        )
    bad_keys = [key for key in data if not isinstance(key, str)]
    if bad_keys:
        key = bad_keys[0]
        raise FrontMatterError(
            ContentProblem(path, f"key {key!r} is not a word; keys are names like 'title'")
        )
    return data, key_lines


_KEY_VALUE = re.compile(r"^\s*([A-Za-z_][\w-]*):\s+(.+?)\s*$")


def _quote_hint(text: str, index: int) -> str:
    # "title: Heat or ice: a rule" is the usual cause of YAML's "mapping values are not
    # allowed here": a second ": " inside an unquoted value.
    lines = text.splitlines()
    found = _KEY_VALUE.match(lines[index]) if 0 <= index < len(lines) else None
    if found is None or ": " not in found.group(2) or found.group(2)[0] in "\"'":
        return ""
    key, value = found.groups()
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'; the value of {key!r} contains ": ", so put it in quotes: {key}: "{quoted}"'


def _index_lines(
    path: Path, node: yaml.Node, key: KeyPath, out: dict[KeyPath, int], offset: int
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            name = str(key_node.value)
            line = key_node.start_mark.line + offset
            if name in seen:
                dotted = ".".join(str(part) for part in (*key, name))
                raise FrontMatterError(
                    ContentProblem(
                        path,
                        f"key {dotted!r} appears twice (lines {seen[name]} and {line})",
                        field=dotted,
                        line=line,
                    )
                )
            seen[name] = line
            out[(*key, name)] = line
            _index_lines(path, value_node, (*key, name), out, offset)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            out[(*key, index)] = item.start_mark.line + offset
            _index_lines(path, item, (*key, index), out, offset)


def _yaml_kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "plain text"
    return type(value).__name__
