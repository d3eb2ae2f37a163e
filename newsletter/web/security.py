"""Security middleware and the admin check.

CSRF: the app keeps no session and sets no cookie, so there is no ambient credential
a cross-site form could ride on. ``POST /subscribe`` is cross-site by design (the form
sits on the clinic's website); double opt-in and the rate limit are its defence.
``POST /u/{token}`` and ``POST /confirm/{token}`` act only with the secret token in the
path, which a forging site cannot know. See docs/web.md.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Callable

from fastapi import HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.logs import TOKEN_PATH, mask_text

# The app's own pages: one stylesheet, forms that post back here, and only the app's own
# script files (the sign-up form's time-zone filler); no inline scripts.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# An issue preview is email HTML: inline styles and remote images, still no scripts.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; font-src https: data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)

_DEFAULT_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", PAGE_CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Token URLs must never leak to the next site through the Referer header.
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    # Pages carry tokens and personal state: no shared cache may keep them.
    (b"cache-control", b"no-store"),
)


class SecurityHeadersMiddleware:
    """Adds the default security headers to every response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in _DEFAULT_HEADERS if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answers 413 before the body is parsed when it is larger than its path allows.

    The declared Content-Length is checked first; a chunked body is counted as it
    streams, so a client cannot slip past by leaving the length out.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"detail":"request body larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Declared for the OpenAPI schema; the check itself is ``require_admin``.
bearer_scheme = HTTPBearer(auto_error=False, description="NEWSLETTER_ADMIN_TOKEN as a bearer")
basic_scheme = HTTPBasic(auto_error=False, description="any user name, the token as password")


def presented_token(request: Request) -> str | None:
    """The token from ``Authorization: Bearer`` or the password of HTTP Basic."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, colon, password = decoded.partition(":")
        return password if colon else None
    return None


def check_admin(expected: str | None, request: Request) -> None:
    """Raise 403 when no admin token is set, 401 when the request lacks the right one."""
    if not expected:
        raise HTTPException(
            status_code=403,
            detail="previews are disabled: set NEWSLETTER_ADMIN_TOKEN to enable them",
        )
    given = presented_token(request)
    # compare_digest: the time taken says nothing about how much of the token matched.
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status_code=401,
            detail="a valid admin token is required (Bearer, or Basic with it as password)",
            headers={"WWW-Authenticate": 'Basic realm="newsletter preview", charset="UTF-8"'},
        )


def mask_token_paths(text: str) -> str:
    """``/u/AbCdEf…`` for ``/u/<token>``: enough to correlate, too little to use."""
    return TOKEN_PATH.sub(r"\1\2…", text)


class TokenPathFilter(logging.Filter):
    """Keeps tokens and secrets out of access logs (uvicorn logs every path and query).

    On the logger itself, so whatever handler uvicorn's log set-up adds sees masked text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask_text(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = mask_text(record.msg)
        return True


def install_token_path_filter(logger_name: str = "uvicorn.access") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, TokenPathFilter) for f in logger.filters):
        logger.addFilter(TokenPathFilter())
