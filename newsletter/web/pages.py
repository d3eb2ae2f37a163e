"""The app's HTML pages: Jinja2 templates in ``newsletter/web/templates``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi.responses import HTMLResponse

from newsletter.settings import Settings

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")


class Pages:
    """Renders a page template with the clinic's name and address filled in."""

    def __init__(self, settings: Settings) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._site = {"name": settings.from_name, "postal_address": settings.postal_address}

    def html(self, template: str, **values: Any) -> str:
        return self._env.get_template(template).render(site=self._site, **values)

    def response(
        self,
        template: str,
        *,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **values: Any,
    ) -> HTMLResponse:
        return HTMLResponse(self.html(template, **values), status_code=status_code, headers=headers)

    def problem(
        self, title: str, message: str, *, status_code: int, headers: dict[str, str] | None = None
    ) -> HTMLResponse:
        """The friendly page for anything that went wrong: never a stack trace."""
        return self.response(
            "problem.html",
            status_code=status_code,
            headers=headers,
            title=title,
            message=message,
        )
