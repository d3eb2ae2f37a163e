"""Double opt-in, first half: the demo signup page and ``POST /subscribe``.

The second half, the confirm link, is ``routes/confirm.py``.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from newsletter.audience.names import MAX_NAME_LENGTH, name_problem
from newsletter.errors import AddressError, NewsletterError, NotFoundError, PersonNameError
from newsletter.logs import log_event
from newsletter.services.signup import (
    SignupRequest,
    check_signup,
    default_list_slug,
    request_signup,
    send_confirmation,
    take_signup_slot,
)
from newsletter.web.state import WebState, client_ip, get_state

log = logging.getLogger(__name__)
router = APIRouter(tags=["signup"])

CHECK_INBOX = (
    "If that address can receive email, a confirmation link is on its way. "
    "Open it to start receiving the newsletter."
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,119}")


class SignupForm(BaseModel):
    """The signup fields; ``website`` is the honeypot and must stay empty."""

    email: str = Field(max_length=320, description="the address to subscribe")
    name: str | None = Field(
        default=None, max_length=MAX_NAME_LENGTH, description="first name, optional"
    )
    list: str | None = Field(
        default=None, max_length=120, description="list slug; optional when only one exists"
    )
    website: str | None = Field(
        default=None, max_length=2000, description="leave empty (bots fill it in)"
    )
    timezone: str | None = Field(
        default=None, max_length=64, description="the browser's IANA time zone, optional"
    )

    @field_validator("email", "name", "list", "timezone")
    @classmethod
    def _no_control_characters(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("name")
    @classmethod
    def _a_plain_name(cls, value: str | None) -> str | None:
        problem = name_problem(value) if value else None
        if problem is not None:
            raise ValueError(problem)
        return value


class SignupAnswer(BaseModel):
    status: str
    message: str


class Problem(BaseModel):
    detail: str


_FORM_SCHEMA = SignupForm.model_json_schema()
_SUBSCRIBE_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": _FORM_SCHEMA},
        "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
    },
}


@router.get("/signup", response_class=HTMLResponse, summary="Demo page with the signup form")
async def signup_page(
    request: Request,
    list_slug: Annotated[str | None, Query(alias="list", max_length=120)] = None,
) -> HTMLResponse:
    state = get_state(request)
    if list_slug is None:
        list_slug = await run_in_threadpool(default_list_slug, state.sessions) or ""
    # Relative to /signup, never built from the Host header (which the client chooses),
    # and right behind a proxy that serves the app under a path prefix.
    action = "subscribe"
    script_url = "static/timezone.js"
    return state.pages.response(
        "signup.html", title="Sign up", action=action, list_slug=list_slug, script_url=script_url
    )


@router.post(
    "/subscribe",
    name="subscribe",
    response_model=SignupAnswer,
    responses={
        200: {"content": {"text/html": {}}, "description": "the same answer for every address"},
        400: {"model": Problem, "description": "the body cannot be read"},
        415: {"model": Problem, "description": "neither a form nor JSON"},
        422: {"model": Problem, "description": "the address or list is not usable"},
        429: {"model": Problem, "description": "too many sign-ups from this address"},
    },
    openapi_extra={"requestBody": _SUBSCRIBE_BODY},
)
async def subscribe(request: Request, background: BackgroundTasks) -> Response:
    state = get_state(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    as_json = media == "application/json"
    wait = await run_in_threadpool(
        take_signup_slot, state.sessions, client_ip(request), state.signup_windows
    )
    if wait is not None:
        log_event(log, "signup.rate_limited", level=logging.WARNING, ip=client_ip(request))
        seconds = str(math.ceil(wait))
        message = "Too many sign-ups from your network. Please try again in a minute."
        return _problem(state, as_json, 429, "Slow down", message, headers={"Retry-After": seconds})
    data = await _read_fields(request, media)
    if isinstance(data, Response):
        return data
    try:
        form = SignupForm.model_validate(data)
    except ValidationError as exc:
        return _problem(state, as_json, 422, "Please check the form", _describe(exc))
    if form.website:
        # A bot filled the honeypot: answer as usual so it learns nothing, do nothing.
        log_event(log, "signup.honeypot", level=logging.WARNING, ip=client_ip(request))
        return _check_inbox(state, as_json)
    slug = form.list or await run_in_threadpool(default_list_slug, state.sessions)
    if not slug or not _SLUG.fullmatch(slug):
        return _problem(state, as_json, 422, "Unknown list", "Please choose a newsletter list.")
    signup = SignupRequest(
        email=form.email,
        name=form.name,
        list_slug=slug,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        timezone=form.timezone or None,
    )
    try:
        await run_in_threadpool(check_signup, state.sessions, signup)
    except AddressError:
        message = "That does not look like an email address. Please check it and try again."
        return _problem(state, as_json, 422, "Please check your address", message)
    except PersonNameError as exc:
        return _problem(state, as_json, 422, "Please check your name", f"Your {exc}.")
    except NotFoundError:
        return _problem(state, as_json, 422, "Unknown list", f"There is no list called {slug!r}.")
    # Everything that depends on the address's state (new, pending, subscribed,
    # suppressed, in its cooldown) happens after the answer, which is the same for all:
    # neither its content nor its timing can tell them apart.
    background.add_task(_record_signup, state, signup)
    return _check_inbox(state, as_json)


async def _read_fields(request: Request, media: str) -> dict[str, Any] | Response:
    state = get_state(request)
    if media == "application/json":
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return JSONResponse({"detail": "the body is not valid JSON"}, status_code=400)
        if not isinstance(data, dict):
            return JSONResponse({"detail": "the body must be a JSON object"}, status_code=400)
        return data
    if media in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        return {key: value for key, value in form.items() if isinstance(value, str)}
    return _problem(
        state, False, 415, "Unsupported form", "Send the form as a web form or as JSON."
    )


def _record_signup(state: WebState, signup: SignupRequest) -> None:
    """The sign-up's work, after the answer; a failure here is logged, never lost."""
    try:
        pending = request_signup(state.sessions, signup)
        if pending is not None:
            send_confirmation(state.settings, state.signer, state.sender, pending)
    except NewsletterError as exc:
        log_event(log, "signup.failed", str(exc), level=logging.ERROR, list=signup.list_slug)
    except Exception as exc:
        # A bug, but the person still waits for an email that will not come: say so loudly.
        log_event(
            log,
            "signup.failed",
            f"{type(exc).__name__}: {exc}",
            level=logging.ERROR,
            exc_info=True,
            list=signup.list_slug,
        )


def _check_inbox(state: WebState, as_json: bool) -> Response:
    if as_json:
        return JSONResponse({"status": "ok", "message": CHECK_INBOX})
    return state.pages.response("check_inbox.html", title="Check your inbox", message=CHECK_INBOX)


def _problem(
    state: WebState,
    as_json: bool,
    status: int,
    title: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    if as_json:
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    return state.pages.problem(title, message, status_code=status, headers=headers)


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "form"
        parts.append(f"{field}: {error['msg']}")
    return "Please check the form: " + "; ".join(parts)
