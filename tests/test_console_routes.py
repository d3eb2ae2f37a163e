"""Every console route declares its role; every state-changing one refuses missing CSRF.

The routes are discovered from the app, so a page added later is covered without
touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_support import Console, csrf_of, open_console
from fastapi.routing import APIRoute

from newsletter.storage.models import UserRole
from newsletter.web.console.auth import anonymous_form
from newsletter.web.console.sessions import CSRF_HEADER

ANONYMOUS = "anonymous"
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def _declared(route: APIRoute) -> str | None:
    """The role a route requires ("anonymous" for the sign-in forms), None if it declares none."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        role = getattr(dep.call, "required_role", None)
        if role is not None:
            return str(role)
        if dep.call is anonymous_form:
            return ANONYMOUS
        stack.extend(dep.dependencies)
    return None


def _build_routes() -> list[APIRoute]:
    import tempfile

    from test_web_support import web_settings

    from newsletter.storage import migrate
    from newsletter.storage.db import make_engine
    from newsletter.web import create_app

    folder = Path(tempfile.mkdtemp(prefix="console-routes-"))
    url = f"sqlite:///{folder / 'routes.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app(web_settings(url, folder))
    return [r for r in _walk(app.routes) if r.path == "/admin" or r.path.startswith("/admin/")]


def _walk(routes: list[Any]) -> Iterator[APIRoute]:
    # FastAPI 0.16x keeps included routers as branches; older versions flatten them.
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes)


_ROUTES = _build_routes()
POSTS = [r for r in _ROUTES if "POST" in r.methods]


def _url(route: APIRoute) -> str:
    return _PARAM.sub(lambda m: "x" if m.group(1) == "token" else "1", route.path)


def test_the_console_has_post_routes_to_check() -> None:
    paths = {r.path for r in POSTS}
    assert {"/admin/login", "/admin/logout"} <= paths
    # The actions that send mail to the whole list are approvers' (the walk below checks
    # the role, the CSRF refusal and the login redirect of each).
    declared = {r.path: _declared(r) for r in POSTS}
    assert declared["/admin/issues/{issue_id}/send"] == str(UserRole.APPROVER)
    assert declared["/admin/issues/{issue_id}/approve"] == str(UserRole.APPROVER)


@pytest.mark.parametrize("route", _ROUTES, ids=lambda r: f"{sorted(r.methods)[0]} {r.path}")
def test_every_console_route_declares_who_may_use_it(route: APIRoute) -> None:
    assert _declared(route) is not None, (
        f"{route.path} declares no role: add `actor: Editor` (or Approver/Admin) to it"
    )
    assert route.include_in_schema is False


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    # SQLite only: the checks here are about the web layer, the same on either database.
    folder = tmp_path_factory.mktemp("console-routes")
    from newsletter.storage import migrate
    from newsletter.storage.db import make_engine

    url = f"sqlite:///{folder / 'console.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    with open_console(url, folder) as found:
        yield found


@pytest.mark.parametrize("route", POSTS, ids=lambda r: r.path)
def test_post_without_csrf_is_refused(console: Console, route: APIRoute) -> None:
    declared = _declared(route)
    if declared == ANONYMOUS:
        client = console.client()
        csrf_of(client, "/admin/login")
    else:
        client, _ = console.signed_in(UserRole.ADMIN)
    for data in ({}, {"csrf_token": "forged-token"}):
        answer = client.post(_url(route), data=data)
        assert answer.status_code == 403, (route.path, data, answer.text[:300])
        assert "text/html" in answer.headers["content-type"]
    forged = client.post(_url(route), headers={CSRF_HEADER: "forged-token"})
    assert forged.status_code == 403


@pytest.mark.parametrize(
    "route", [r for r in POSTS if _declared(r) != ANONYMOUS], ids=lambda r: r.path
)
def test_post_without_a_session_goes_to_login(console: Console, route: APIRoute) -> None:
    answer = console.client().post(_url(route), data={"csrf_token": "anything"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/admin/login")


LOWER = {
    str(UserRole.APPROVER): UserRole.EDITOR,
    str(UserRole.ADMIN): UserRole.APPROVER,
}


@pytest.mark.parametrize(
    "route", [r for r in _ROUTES if _declared(r) in LOWER], ids=lambda r: r.path
)
def test_a_lower_role_is_refused_even_with_a_valid_token(console: Console, route: APIRoute) -> None:
    declared = _declared(route)
    assert declared is not None
    client, token = console.signed_in(LOWER[declared])
    method = "POST" if "POST" in route.methods else "GET"
    answer = client.request(
        method, _url(route), data={"csrf_token": token} if method == "POST" else None
    )
    assert answer.status_code == 403, (route.path, answer.text[:300])
    assert f"needs the {declared} role" in answer.text
