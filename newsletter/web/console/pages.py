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
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from newsletter.services.timing import describe_date, describe_time
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


def when(value: dt.datetime | None, zone: ZoneInfo) -> str:
    return "—" if value is None else describe_time(value, zone)


def day(value: dt.date | None) -> str:
    return "—" if value is None else describe_date(value)


class ConsolePages:
    def __init__(self, settings: Settings) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        zone = settings.zone
        self._env.filters["when"] = lambda v: when(v, zone)
        self._env.filters["day"] = day
        self._env.globals.update(
            site={"name": settings.from_name, "postal_address": settings.postal_address},
            zone=settings.timezone,
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


def wants_part(request: Request, target: str) -> bool:
    """An htmx request that swaps only the element ``target`` (its id), not a history restore.

    htmx sends ``HX-Target`` with the id it will swap; a history restore (the back button
    after the cache was lost) asks for the whole page again, so it gets the whole page.
    """
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and headers.get("hx-history-restore-request") != "true"
        and headers.get("hx-target") == target
    )


def render_part(request: Request, page: str, part: str, target: str, **values: Any) -> HTMLResponse:
    """``part`` alone for htmx swapping ``target``, else the whole ``page`` (which includes it).

    Either way the answer varies by those headers, so no cache hands one for the other.
    """
    answer = render(request, part if wants_part(request, target) else page, **values)
    answer.headers["vary"] = "HX-Request, HX-Target, HX-History-Restore-Request"
    return answer


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
