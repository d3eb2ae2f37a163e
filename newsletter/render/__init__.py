"""Rendering: an ``IssuePlan`` (or any email's values) to checked HTML and text.

Jinja2 templates produce MJML, mjml-python compiles it to email HTML, a separate text
template produces the plain-text part, and ``check_rendered`` vets both before anyone
can approve or send them.
"""

from __future__ import annotations

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
