"""``GET /confirm/{token}`` shows a Confirm button; ``POST /confirm/{token}`` subscribes.

GET changes nothing because mail scanners and link previewers open every link in an
email, which would otherwise confirm sign-ups nobody made. The POST is the act of
consent: its address and user agent are what the consent record keeps.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from newsletter.errors import TokenError, TokenExpiredError
from newsletter.logs import log_event
from newsletter.services.audience import ConfirmOutcome
from newsletter.services.signup import (
    Confirmed,
    ConfirmView,
    confirm_signup,
    describe_confirm,
    token_ref,
)
from newsletter.services.welcome import send_welcome
from newsletter.web.state import WebState, client_ip, get_state

log = logging.getLogger(__name__)
router = APIRouter(tags=["signup"])

T = TypeVar("T")

_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"content": {"text/html": {}}, "description": "not a valid link"},
    410: {"content": {"text/html": {}}, "description": "expired, already used or withdrawn"},
}


def _max_age(state: WebState) -> dt.timedelta:
    return dt.timedelta(hours=state.settings.confirm_token_max_age_hours)


async def _checked(state: WebState, token: str, call: Callable[[], T]) -> T | HTMLResponse:
    """``call()``'s result, or the friendly page for a bad or expired link."""
    try:
        return await run_in_threadpool(call)
    except TokenExpiredError:
        log_event(log, "signup.confirm_expired", ref=token_ref(token))
        return state.pages.problem(
            "This link has expired",
            "Confirmation links work for a limited time. Please sign up again and we will "
            "send you a fresh one.",
            status_code=410,
        )
    except TokenError:
        log_event(log, "signup.confirm_invalid", level=logging.WARNING, ref=token_ref(token))
        return state.pages.problem(
            "This link is not valid",
            "The confirmation link is incomplete or was changed. Please open it straight "
            "from the email, or sign up again.",
            status_code=400,
        )


def _already(state: WebState, list_name: str) -> HTMLResponse:
    return state.pages.problem(
        "This link has already been used",
        f"You are already subscribed to {list_name}. There is nothing more to do.",
        status_code=410,
    )


def _withdrawn(state: WebState, list_name: str) -> HTMLResponse:
    return state.pages.problem(
        "This link can no longer be used",
        f"Since this link was sent, {list_name} was stopped for this address, and an old "
        "link does not undo that. To subscribe again, please sign up again.",
        status_code=410,
    )


@router.get("/confirm/{token}", response_class=HTMLResponse, responses=_ANSWERS)
async def confirm_page(request: Request, token: str) -> HTMLResponse:
    state = get_state(request)
    view = await _checked(
        state,
        token,
        lambda: describe_confirm(state.sessions, state.signer, token, max_age=_max_age(state)),
    )
    if not isinstance(view, ConfirmView):
        return view
    if view.subscribed:
        return _already(state, view.list_name)
    if view.withdrawn:
        return _withdrawn(state, view.list_name)
    return state.pages.response(
        "confirm.html",
        title="Confirm your subscription",
        # Relative to this page's own URL: never built from the Host header, and right
        # behind a proxy that serves the app under a path prefix.
        action=f"./{token}",
        email_hint=view.email_hint,
        list_name=view.list_name,
    )


@router.post("/confirm/{token}", name="confirm", response_class=HTMLResponse, responses=_ANSWERS)
async def confirm(request: Request, token: str) -> HTMLResponse:
    state = get_state(request)
    result = await _checked(
        state,
        token,
        lambda: confirm_signup(
            state.sessions,
            state.signer,
            token,
            max_age=_max_age(state),
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        ),
    )
    if not isinstance(result, Confirmed):
        return result
    if result.outcome == ConfirmOutcome.ALREADY_SUBSCRIBED:
        return _already(state, result.list_name)
    if result.outcome == ConfirmOutcome.WITHDRAWN:
        return _withdrawn(state, result.list_name)
    # After the response, like the confirmation email: the page never waits on SendGrid.
    welcome = BackgroundTask(
        send_welcome,
        state.settings,
        state.sessions,
        state.signer,
        state.sender,
        subscriber_id=result.subscriber_id,
        list_id=result.list_id,
    )
    page = state.pages.response(
        "confirmed.html",
        title="You are subscribed",
        message=f"Thank you! You will receive {result.list_name} every week.",
    )
    page.background = welcome
    return page
