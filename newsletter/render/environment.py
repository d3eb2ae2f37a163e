"""The Jinja2 environment shared by every render, cached per templates folder."""

from __future__ import annotations

import datetime as dt
import functools
import textwrap
from pathlib import Path

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from newsletter.render.text import markdown_to_text

# Markdown bodies (tips, intros) arrive as bare <p>/<ul>/<a>; email clients ignore <style>
# often enough that their look must travel as inline style attributes.
PROSE_CSS = """
p { margin: 0 0 12px 0; }
p:last-child { margin-bottom: 0; }
a { color: #0f6b73; text-decoration: underline; }
ul, ol { margin: 0 0 12px 0; padding-left: 22px; }
li { margin: 0 0 6px 0; }
strong { color: #1f2d33; }
"""

_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False)


def get_environment(templates_dir: Path) -> Environment:
    """The environment for ``templates_dir``; built once per folder and process."""
    path = Path(templates_dir)
    # A relative folder means "under the current directory", which can change.
    return _environment_as_given(path if path.is_absolute() else Path.cwd() / path)


@functools.lru_cache(maxsize=32)
def _environment_as_given(templates_dir: Path) -> Environment:
    # Resolving a path costs a system call per component; do it once per spelling.
    return _environment(templates_dir.resolve())


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        # Text templates must not escape: "&" in a subject is "&", not "&amp;".
        autoescape=select_autoescape(
            enabled_extensions=("mjml.j2", "mjml", "html.j2", "html", "xml"),
            disabled_extensions=("txt.j2", "txt"),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["prose"] = prose
    env.filters["wrap"] = wrap
    env.filters["md_text"] = markdown_to_text
    env.filters["long_date"] = long_date
    return env


def prose(html: str) -> Markup:
    """Trusted body HTML with the prose styles inlined, ready to drop into an mj-text."""
    if not html.strip():
        return Markup("")
    return Markup(_INLINER.inline_fragment(html, PROSE_CSS))


def wrap(value: str, width: int = 72, indent: str = "") -> str:
    """Wrap plain text paragraph by paragraph, never splitting URLs or tags."""
    paragraphs = value.split("\n\n")
    wrapped = []
    for para in paragraphs:
        lines = para.splitlines()
        # Lists and pre-formatted lines keep their breaks; flowing prose is refilled.
        if any(line.lstrip().startswith(("- ", "* ", "1.", "  ")) for line in lines):
            wrapped.append("\n".join(indent + line.rstrip() for line in lines))
            continue
        wrapped.append(
            textwrap.fill(
                " ".join(line.strip() for line in lines),
                width=width,
                initial_indent=indent,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n\n".join(wrapped)


def long_date(value: dt.date) -> str:
    """``March 4, 2025``: unambiguous for a US audience, no locale needed."""
    return f"{value:%B} {value.day}, {value.year}"
