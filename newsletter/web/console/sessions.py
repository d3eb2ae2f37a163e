"""The console's signed, expiring session cookie and its CSRF token.

One cookie, ``nl_console``, scoped to ``/admin``: HttpOnly (no script reads it),
SameSite=Lax (no cross-site POST carries it) and Secure whenever the public URL is
https (except on plain http to localhost, where people first try it). Its value is
signed with NEWSLETTER_SECRET_KEY and carries a timestamp, so an altered or
older-than-``MAX_AGE`` cookie is ignored. It holds the CSRF token (also for
visitors not yet signed in, so the login form is protected too), and after sign-in the
user id and the user's session epoch, which logout, disable and role changes bump.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from newsletter.web.state import get_state

COOKIE_NAME = "nl_console"
COOKIE_PATH = "/admin"
MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


@dataclass(frozen=True)
class ConsoleSession:
    csrf: str
    user_id: int | None = None
    epoch: int = 0

    def signed_in(self, user_id: int, epoch: int) -> ConsoleSession:
        # A fresh CSRF token at sign-in: one seen before login is worth nothing after it.
        return replace(self, csrf=new_csrf(), user_id=user_id, epoch=epoch)


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def _serializer(request: Request) -> URLSafeTimedSerializer:
    secret = get_state(request).settings.signing_key()
    return URLSafeTimedSerializer(secret, salt="console-session")


def read(request: Request) -> ConsoleSession | None:
    """The session the request's cookie carries, or None when absent, forged or expired."""
    raw = request.cookies.get(COOKIE_NAME)
    if not raw:
        return None
    try:
        data = _serializer(request).loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    uid = data.get("u")
    epoch = data.get("e", 0)
    return ConsoleSession(
        csrf=data["c"],
        user_id=uid if isinstance(uid, int) else None,
        epoch=epoch if isinstance(epoch, int) else 0,
    )


def current(request: Request) -> ConsoleSession:
    """The request's session, or a new anonymous one that ``save`` will set."""
    found = getattr(request.state, "console_session", None)
    if isinstance(found, ConsoleSession):
        return found
    session = read(request)
    if session is None:
        session = ConsoleSession(csrf=new_csrf())
        request.state.console_session_dirty = True
    request.state.console_session = session
    return session


def replace_session(request: Request, session: ConsoleSession) -> None:
    request.state.console_session = session
    request.state.console_session_dirty = True


def save(request: Request, response: Response) -> None:
    """Set the cookie on ``response`` when the session is new or changed."""
    if not getattr(request.state, "console_session_dirty", False):
        return
    session: ConsoleSession = request.state.console_session
    value = _serializer(request).dumps(
        {"c": session.csrf, "u": session.user_id, "e": session.epoch}
    )
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=MAX_AGE_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def _secure(request: Request) -> bool:
    """Secure when the public URL is https, except for plain http to this very machine.

    ``newsletter serve`` on http://127.0.0.1 with the example's https public URL is how
    people try the console first; a Secure cookie would make sign-in silently fail there.
    """
    if not get_state(request).settings.public_url.startswith("https://"):
        return False
    local = request.url.scheme == "http" and request.url.hostname in LOOPBACK_HOSTS
    return not local


def clear(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH)
    request.state.console_session_dirty = False


async def presented_csrf(request: Request) -> str:
    """The token from the ``X-CSRF-Token`` header (htmx) or the ``csrf_token`` form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # Starlette caches the parsed form, so the route's own Form() fields still work.
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def csrf_ok(request: Request, session: ConsoleSession | None) -> bool:
    if session is None:
        return False
    given = await presented_csrf(request)
    return bool(given) and hmac.compare_digest(given.encode(), session.csrf.encode())
