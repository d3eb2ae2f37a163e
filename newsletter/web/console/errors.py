"""Friendly HTML error pages for everything under ``/admin``; other paths keep theirs.

The handlers are installed on the whole app (exception handlers cannot be scoped to a
router), so each one checks the path first and hands anything outside the console to
the handler that was there before.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter.errors import (
    AccessError,
    ConflictError,
    IssueStateError,
    NewsletterError,
    NotFoundError,
    StorageError,
)
from newsletter.logs import log_event
from newsletter.services import users
from newsletter.web.console import sessions
from newsletter.web.console.auth import Actor, LoginRequired, login_url
from newsletter.web.console.pages import render
from newsletter.web.state import get_state

log = logging.getLogger(__name__)
Handler = Callable[[Request, Any], Response | Awaitable[Response]]

TITLES = {
    400: "That request was not understood",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "That cannot be done now",
    413: "Too large",
    422: "Please check the form",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Please try again shortly",
}


def in_console(request: Request) -> bool:
    path = request.url.path
    return (path == "/admin" or path.startswith("/admin/")) and not path.startswith(
        "/admin/static/"
    )


async def problem_page(request: Request, status: int, message: str) -> Response:
    if getattr(request.state, "actor", None) is None:
        await _find_actor(request)
    return render(
        request,
        "problem.html",
        status_code=status,
        title=TITLES.get(status, "Something went wrong"),
        message=message,
        status=status,
    )


async def _find_actor(request: Request) -> None:
    """On a page no route answered, still show the signed-in user's navigation."""
    session = sessions.read(request)
    if session is None or session.user_id is None:
        return
    user = await run_in_threadpool(
        users.session_user, get_state(request).sessions, session.user_id, session.epoch
    )
    if user is not None:
        request.state.console_session = session
        request.state.actor = Actor(user, session.csrf)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = login_url(exc.next_path)
    if request.headers.get("hx-request"):
        # htmx follows HX-Redirect with a full page load instead of swapping the login page in.
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _status_of(exc: NewsletterError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError | IssueStateError):
        return 409
    if isinstance(exc, AccessError):
        return 403
    if isinstance(exc, StorageError):
        return 503
    return 500


def install(app: FastAPI) -> None:
    previous_newsletter: Handler | None = app.exception_handlers.get(NewsletterError)
    previous_storage: Handler | None = app.exception_handlers.get(StorageError)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not in_console(request):
            return await http_exception_handler(request, exc)
        message = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        if exc.status_code == 404 and message == "Not Found":
            message = "There is no console page at this address."
        if exc.status_code == 405:
            message = "This address does not take that kind of request."
        response = await problem_page(request, exc.status_code, message)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not in_console(request):
            return await request_validation_exception_handler(request, exc)
        fields = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
            fields.append(f"{where}: {error.get('msg', 'invalid')}")
        return await problem_page(
            request, 400, "Some values were missing or invalid: " + "; ".join(fields)
        )

    async def newsletter_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NewsletterError)
        if not in_console(request):
            chosen = previous_storage if isinstance(exc, StorageError) else previous_newsletter
            if chosen is None:
                raise exc
            answer = chosen(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        status = _status_of(exc)
        if status >= 500:
            # Storage and unexpected errors may name hosts or tables: the log keeps the detail.
            log_event(log, "console.error", str(exc), level=logging.ERROR, path=request.url.path)
            message = TITLES[status] + ". The details are in the server log."
        else:
            message = str(exc)
        return await problem_page(request, status, message)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log_event(
            log,
            "console.bug",
            f"{exc.__class__.__name__}: {exc}",
            level=logging.ERROR,
            path=request.url.path,
        )
        if not in_console(request):
            return Response("Internal Server Error", status_code=500)
        return await problem_page(
            request, 500, "Something went wrong on our side; it has been logged."
        )

    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(NewsletterError, newsletter_error)
    app.add_exception_handler(StorageError, newsletter_error)
    app.add_exception_handler(Exception, unexpected)
