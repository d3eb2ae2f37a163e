"""Markdown for tips and intro notes: safe HTML, readable plain text, and link checks.

Raw HTML is disabled, so anything that looks like a tag is escaped rather than passed
to the email; markdown-it's own link validation already drops ``javascript:`` and
similar schemes. ``to_text`` walks the same syntax tree so both parts of an email say
the same thing.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

TEXT_WIDTH = 72
"""Plain-text paragraphs wrap here; long URLs are never broken."""


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


@dataclass(frozen=True)
class Link:
    """A link or image target found in Markdown; ``line`` is 1-based within the text."""

    url: str
    line: int | None
    kind: str  # "link" or "image"


def to_html(md: str) -> str:
    """Render Markdown to HTML with raw HTML escaped."""
    if not md.strip():
        return ""
    return str(_parser().render(md))


def links(md: str) -> list[Link]:
    """Every link and image target, in document order."""
    found: list[Link] = []
    tree = SyntaxTreeNode(_parser().parse(md))
    for child in tree.children:
        _collect_links(child, None, found)
    return found


def _collect_links(node: SyntaxTreeNode, line: int | None, found: list[Link]) -> None:
    # Inline nodes carry no line map of their own; the enclosing block's first line is
    # the best location a person can be pointed at.
    if node.map is not None:
        line = node.map[0] + 1
    if node.type == "link":
        found.append(Link(str(node.attrs.get("href", "")), line, "link"))
    elif node.type == "image":
        found.append(Link(str(node.attrs.get("src", "")), line, "image"))
    for child in node.children:
        _collect_links(child, line, found)


@cache
def _html_finder() -> MarkdownIt:
    # The same grammar with raw HTML switched on, only to find what the real parser
    # would escape into visible "<b>" text.
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def raw_html(md: str) -> list[tuple[int | None, str]]:
    """Every raw HTML tag or block in ``md`` as (1-based line, the tag), document order.

    Emails escape raw HTML, so a writer's ``<b>`` or ``<br>`` shows as literal text.
    """
    found: list[tuple[int | None, str]] = []
    for token in _html_finder().parse(md):
        line = token.map[0] + 1 if token.map else None
        if token.type == "html_block":
            found.append((line, token.content.strip().splitlines()[0]))
        for child in token.children or ():
            if child.type == "html_inline":
                found.append((line, child.content))
    return found


def to_text(md: str, width: int | None = TEXT_WIDTH) -> str:
    """Plain text for an email's text part: list markers kept, links as ``text (url)``."""
    if not md.strip():
        return ""
    tree = SyntaxTreeNode(_parser().parse(md))
    return "\n".join(_blocks(tree.children, width)).strip("\n")


def _blocks(nodes: list[SyntaxTreeNode], width: int | None) -> list[str]:
    lines: list[str] = []
    for node in nodes:
        rendered = _block(node, width)
        if not rendered:
            continue
        if lines:
            lines.append("")
        lines.extend(rendered)
    return lines


def _block(node: SyntaxTreeNode, width: int | None) -> list[str]:
    kind = node.type
    if kind in ("paragraph", "heading"):
        return _wrap(_inline_of(node), width)
    if kind == "bullet_list":
        return _list_items(node, width, ordered=False)
    if kind == "ordered_list":
        return _list_items(node, width, ordered=True)
    if kind == "blockquote":
        inner = _blocks(node.children, None if width is None else max(width - 2, 20))
        return [f"> {line}".rstrip() for line in inner]
    if kind in ("code_block", "fence"):
        return ["    " + line for line in node.content.rstrip("\n").split("\n")]
    if kind == "hr":
        return ["-" * 20]
    if kind == "table":
        return [" | ".join(_inline_of(cell) for cell in row.children) for row in _rows(node)]
    # Unknown block types still contribute their text rather than vanish.
    return _blocks(node.children, width) if node.children else _wrap(node.content, width)


def _rows(table: SyntaxTreeNode) -> list[SyntaxTreeNode]:
    return [row for section in table.children for row in section.children]


def _list_items(node: SyntaxTreeNode, width: int | None, *, ordered: bool) -> list[str]:
    lines: list[str] = []
    start = int(str(node.attrs.get("start", 1))) if ordered else 1
    for index, item in enumerate(node.children):
        marker = f"{start + index}. " if ordered else "- "
        indent = " " * len(marker)
        inner_width = None if width is None else max(width - len(marker), 20)
        body = _item_body(item, inner_width)
        for position, line in enumerate(body or [""]):
            prefix = marker if position == 0 else indent
            lines.append((prefix + line).rstrip() if line else "")
    return lines


def _item_body(item: SyntaxTreeNode, width: int | None) -> list[str]:
    # Items are kept compact (no blank line between a line and its nested list), which
    # reads better in plain text than the loose spacing HTML would use.
    lines: list[str] = []
    for child in item.children:
        lines.extend(_block(child, width))
    return lines


def _inline_of(node: SyntaxTreeNode) -> str:
    return "".join(_inline(child) for child in node.children)


def _inline(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "text":
        return node.content
    if kind == "code_inline":
        return node.content
    if kind == "softbreak":
        return " "
    if kind == "hardbreak":
        return "\n"
    if kind == "link":
        label = _inline_of(node)
        href = str(node.attrs.get("href", ""))
        # An autolink's label is its URL; printing it twice would be noise.
        return href if label in (href, href.removeprefix("mailto:")) else f"{label} ({href})"
    if kind == "image":
        alt = _inline_of(node)
        return f"[{alt}]" if alt else ""
    return _inline_of(node)


def _wrap(text: str, width: int | None) -> list[str]:
    paragraphs = text.split("\n")
    if width is None:
        return paragraphs
    lines: list[str] = []
    for part in paragraphs:
        wrapped = textwrap.wrap(part, width=width, break_long_words=False, break_on_hyphens=False)
        lines.extend(wrapped or [""])
    return lines
