"""Who may do what in the console, decided here and nowhere else.

Every console route declares one of ``Editor``, ``Approver`` or ``Admin`` (or, for the
sign-in forms, ``AnonymousForm``). The dependency finds the signed-in user, refuses an
unsafe request whose CSRF token is missing or wrong (403), and refuses a user whose
role is below the route's (403). Templates may hide a button by role, but the server
never relies on that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from newsletter.services import users
from newsletter.services.users import UserView
from newsletter.storage.models import UserRole
from newsletter.web.console import sessions
from newsletter.web.state import get_state

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_REFUSED = (
    "This form has expired or did not come from the console. Reload the page and try again."
)


class LoginRequired(Exception):
    """No valid session: the handler redirects to the login page, back here afterwards."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path
        super().__init__(next_path)


@dataclass(frozen=True)
class Actor:
    """The signed-in user of this request and the CSRF token its forms must carry."""

    user: UserView
    csrf: str

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def role(self) -> UserRole:
        return self.user.role

    def can(self, role: UserRole) -> bool:
        return self.user.role.allows(role)


def login_url(next_path: str) -> str:
    return "/admin/login?next=" + quote(next_path, safe="/")


async def _check_csrf(request: Request, session: sessions.ConsoleSession | None) -> None:
    if request.method not in SAFE_METHODS and not await sessions.csrf_ok(request, session):
        raise HTTPException(status_code=403, detail=CSRF_REFUSED)


RoleDependency = Callable[[Request], Awaitable[Actor]]


def require(role: UserRole) -> RoleDependency:
    """The dependency a console route declares: signed in, CSRF-checked, at least ``role``."""

    async def dependency(request: Request) -> Actor:
        session = sessions.read(request)
        user = None
        if session is not None and session.user_id is not None:
            state = get_state(request)
            user = await run_in_threadpool(
                users.session_user, state.sessions, session.user_id, session.epoch
            )
        if user is None or session is None:
            raise LoginRequired(_here(request))
        request.state.console_session = session
        await _check_csrf(request, session)
        actor = Actor(user, session.csrf)
        request.state.actor = actor
        if not user.role.allows(role):
            raise HTTPException(
                status_code=403,
                detail=f"This needs the {role} role; you are signed in as {user.role}.",
            )
        return actor

    dependency.required_role = role  # type: ignore[attr-defined]  # read by the route test
    return dependency


async def anonymous_form(request: Request) -> sessions.ConsoleSession:
    """For the sign-in and set-password forms: no user yet, but the CSRF token still counts."""
    session = sessions.read(request) if request.method not in SAFE_METHODS else None
    await _check_csrf(request, session)
    return sessions.current(request)


def _here(request: Request) -> str:
    if request.method in SAFE_METHODS:
        query = f"?{request.url.query}" if request.url.query else ""
        return request.url.path + query
    return "/admin"


Editor = Annotated[Actor, Depends(require(UserRole.EDITOR))]
Approver = Annotated[Actor, Depends(require(UserRole.APPROVER))]
Admin = Annotated[Actor, Depends(require(UserRole.ADMIN))]
AnonymousForm = Annotated[sessions.ConsoleSession, Depends(anonymous_form)]
