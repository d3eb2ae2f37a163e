"""Sign in, sign out, and set a password through a one-time link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from newsletter.errors import AccessError, LoginError, LoginThrottledError, TokenError
from newsletter.services import audit, users
from newsletter.web.console import sessions
from newsletter.web.console.auth import AnonymousForm, Editor
from newsletter.web.console.pages import render
from newsletter.web.state import client_ip, get_state

router = APIRouter(prefix="/admin", include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Only a console path: an open redirect to another site is never followed."""
    if value and value.startswith("/admin") and not value.startswith("//") and "\\" not in value:
        return value
    return "/admin"


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, _form: AnonymousForm, next: str = "/admin", done: str = ""
) -> HTMLResponse:
    notice = "Your password is set. Sign in with it now." if done == "password" else None
    return render(
        request,
        "login.html",
        title="Sign in",
        next=safe_next(next),
        email="",
        error=None,
        notice=notice,
    )


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    form: AnonymousForm,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/admin",
) -> Response:
    state = get_state(request)
    try:
        user = await run_in_threadpool(
            users.authenticate, state.sessions, email, password, client=client_ip(request)
        )
    except (LoginError, LoginThrottledError) as exc:
        status = 429 if isinstance(exc, LoginThrottledError) else 400
        headers = (
            {"retry-after": str(int(exc.retry_after) + 1)}
            if isinstance(exc, LoginThrottledError)
            else None
        )
        return render(
            request,
            "login.html",
            status_code=status,
            headers=headers,
            title="Sign in",
            next=safe_next(next),
            email=email,
            error=str(exc),
            notice=None,
        )
    sessions.replace_session(request, form.signed_in(user.id, user.session_epoch))
    await run_in_threadpool(
        audit.record_now, state.sessions, user.email, "user.login", f"user:{user.email}"
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    sessions.save(request, response)
    return response


@router.post("/logout")
async def logout(request: Request, actor: Editor) -> Response:
    await run_in_threadpool(users.end_sessions, get_state(request).sessions, actor.user.id)
    response = RedirectResponse("/admin/login", status_code=303)
    sessions.clear(request, response)
    return response


@router.get("/set-password/{token}", response_class=HTMLResponse)
def set_password_page(request: Request, token: str, _form: AnonymousForm) -> HTMLResponse:
    state = get_state(request)
    try:
        user = users.user_for_setup(state.settings, state.sessions, token)
    except TokenError as exc:
        return render(
            request,
            "problem.html",
            status_code=400,
            title="Link not valid",
            message=str(exc),
            status=400,
        )
    return render(
        request, "set_password.html", title="Choose a password", email=user.email, error=None
    )


@router.post("/set-password/{token}", response_class=HTMLResponse)
async def set_password(
    request: Request,
    token: str,
    _form: AnonymousForm,
    password: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    state = get_state(request)
    try:
        user = await run_in_threadpool(users.user_for_setup, state.settings, state.sessions, token)
        if password != confirm:
            raise AccessError("the two passwords differ")
        await run_in_threadpool(users.set_password, state.settings, state.sessions, token, password)
    except TokenError as exc:
        return render(
            request,
            "problem.html",
            status_code=400,
            title="Link not valid",
            message=str(exc),
            status=400,
        )
    except AccessError as exc:
        return render(
            request,
            "set_password.html",
            status_code=400,
            title="Choose a password",
            email=user.email,
            error=str(exc),
        )
    return RedirectResponse("/admin/login?done=password", status_code=303)
