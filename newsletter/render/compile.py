"""Jinja templates to MJML to HTML, with every library error translated once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import mjml

from newsletter.errors import RenderError
from newsletter.render.environment import get_environment


def render_template(templates_dir: Path, name: str, values: Mapping[str, Any]) -> str:
    """Render one Jinja template; a missing variable or template is a ``RenderError``."""
    env = get_environment(templates_dir)
    try:
        return env.get_template(name).render(values)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name or name}:{exc.lineno}"
        raise RenderError(f"template {where}: syntax error: {exc.message}") from exc
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {exc.name!r} not found in {templates_dir}") from exc
    except jinja2.TemplateError as exc:
        # StrictUndefined lands here: the message names the variable or attribute.
        raise RenderError(f"template {name}: {exc.message or exc}") from exc


def compile_mjml(markup: str, *, source: str) -> str:
    """Compile MJML markup to email HTML; ``source`` names the template in errors."""
    try:
        # Comments in the templates are for people reading them, not for inboxes.
        return mjml.mjml2html(markup, disable_comments=True)
    except ValueError as exc:
        raise RenderError(f"MJML in {source} does not compile: {exc}") from exc
