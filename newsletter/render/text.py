"""Helpers for the plain-text part: Markdown to text, and tidying the rendered text."""

from __future__ import annotations

import functools
import re

from newsletter.content.markdown import to_text

_BLANK_RUNS = re.compile(r"\n{3,}")


# Parsing Markdown costs more than the rest of the text part; tips are immutable and
# come back week after week, so one conversion per distinct body is enough.
@functools.lru_cache(maxsize=1024)
def markdown_to_text(markdown: str) -> str:
    """Plain text for a Markdown body (tips, intro notes), wrapped for a text email."""
    return to_text(markdown).strip()


def tidy_text(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, exactly one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"
