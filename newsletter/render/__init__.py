"""Rendering: an ``IssuePlan`` (or any email's values) to checked HTML and text.

Jinja2 templates produce MJML, mjml-python compiles it to email HTML, a separate text
template produces the plain-text part, and ``check_rendered`` vets both before anyone
can approve or send them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.render.checks import MAX_HTML_BYTES, check_rendered, is_allowed_url
    from newsletter.render.environment import get_environment
    from newsletter.render.model import (
        FIRST_NAME_FALLBACK,
        FIRST_NAME_HTML_TAG,
        FIRST_NAME_TAG,
        SUBSTITUTION_TAGS,
        UNSUBSCRIBE_URL_TAG,
        RenderedIssue,
        html_part,
        substitutions,
    )
    from newsletter.render.renderer import RenderContext, render_email, render_issue

# Where each name lives. They are imported on first use (PEP 562), so that code which
# needs only ``newsletter.render.model`` (the sender, ``issue send``) does not load
# Jinja2, MJML and css-inline.
_HOMES = {
    "MAX_HTML_BYTES": "checks",
    "check_rendered": "checks",
    "is_allowed_url": "checks",
    "get_environment": "environment",
    "FIRST_NAME_FALLBACK": "model",
    "FIRST_NAME_HTML_TAG": "model",
    "FIRST_NAME_TAG": "model",
    "SUBSTITUTION_TAGS": "model",
    "UNSUBSCRIBE_URL_TAG": "model",
    "RenderedIssue": "model",
    "html_part": "model",
    "substitutions": "model",
    "RenderContext": "renderer",
    "render_email": "renderer",
    "render_issue": "renderer",
}

__all__ = [
    "FIRST_NAME_FALLBACK",
    "FIRST_NAME_HTML_TAG",
    "FIRST_NAME_TAG",
    "MAX_HTML_BYTES",
    "SUBSTITUTION_TAGS",
    "UNSUBSCRIBE_URL_TAG",
    "RenderContext",
    "RenderedIssue",
    "check_rendered",
    "get_environment",
    "html_part",
    "is_allowed_url",
    "render_email",
    "render_issue",
    "substitutions",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
