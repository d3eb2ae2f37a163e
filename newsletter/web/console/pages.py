"""Rendering console pages: one Jinja environment, one layout, one helper.

``render(request, "page.html", **values)`` fills in what every page needs (the user,
the CSRF token, the navigation, the clinic's name and time zone), sets the console's
Content-Security-Policy (scripts from this site only: htmx) and, when the session is
new, its cookie.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from newsletter.settings import Settings
from newsletter.storage.models import UserRole
from newsletter.web.console import sessions
from newsletter.web.console.auth import Actor

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
STATIC_PATH = "/admin/static"

CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    role: UserRole = UserRole.EDITOR


# Pages other engineers add slot in here; the route still declares its own role.
NAV: tuple[NavItem, ...] = (
    NavItem("Home", "/admin"),
    NavItem("Issues", "/admin/issues"),
    NavItem("Content", "/admin/content"),
    NavItem("Lists", "/admin/lists"),
    NavItem("Subscribers", "/admin/subscribers"),
    NavItem("Audit log", "/admin/audit"),
    NavItem("Users", "/admin/users", UserRole.ADMIN),
)


def when(value: dt.datetime | None, zone: str) -> str:
    """``Tue 8 Dec 2026 at 09:00 America/New_York``: a moment as people here read it."""
    if value is None:
        return "—"
    from zoneinfo import ZoneInfo

    local = value.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y} at {local:%H:%M} {zone}"


def day(value: dt.date | None) -> str:
    if value is None:
        return "—"
    return f"{value:%a} {value.day} {value:%b %Y}"


class ConsolePages:
    def __init__(self, settings: Settings) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        zone = settings.timezone
        self._env.filters["when"] = lambda v: when(v, zone)
        self._env.filters["day"] = day
        self._env.globals.update(
            site={"name": settings.from_name, "postal_address": settings.postal_address},
            zone=zone,
            static=STATIC_PATH,
            Role=UserRole,
        )

    def html(self, template: str, **values: Any) -> str:
        return self._env.get_template(template).render(**values)


def pages_of(request: Request) -> ConsolePages:
    found: ConsolePages = request.app.state.console_pages
    return found


def nav_for(actor: Actor | None, path: str) -> list[dict[str, Any]]:
    if actor is None:
        return []
    items = []
    for item in NAV:
        if not actor.can(item.role):
            continue
        active = path == item.href if item.href == "/admin" else path.startswith(item.href)
        items.append({"label": item.label, "href": item.href, "active": active})
    return items


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """A console page, with the layout's values filled in and the session cookie kept."""
    actor: Actor | None = getattr(request.state, "actor", None)
    session = sessions.current(request)
    values.setdefault("title", "")
    body = pages_of(request).html(
        template,
        actor=actor,
        csrf_token=session.csrf,
        nav=nav_for(actor, request.url.path),
        **values,
    )
    response = HTMLResponse(body, status_code=status_code, headers=headers)
    response.headers["content-security-policy"] = CONSOLE_CSP
    sessions.save(request, response)
    return response
