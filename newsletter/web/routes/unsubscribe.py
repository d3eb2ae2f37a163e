"""``/u/{token}``: the preference centre, one-click unsubscribe, and the preference form.

``GET /u/{token}`` shows the person's lists, a pause and the unsubscribe buttons;
``POST /u/{token}/preferences`` applies the lists and the pause; ``POST /u/{token}``
unsubscribes. GET changes nothing because mail scanners and link previewers fetch
every URL in an email. POST serves both the page's buttons and RFC 8058 one-click requests
(``List-Unsubscribe=One-Click``, form-encoded, no cookies), which mailbox providers
send from their own servers; both get 200.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from newsletter.errors import PreferenceError, TokenError
from newsletter.logs import log_event
from newsletter.services.preferences import (
    MAX_PAUSE_DAYS,
    Pause,
    PreferencesView,
    describe_preferences,
    save_preferences,
)
from newsletter.services.signup import describe_unsubscribe, token_ref, unsubscribe_with_token
from newsletter.web.state import WebState, client_ip, get_state

log = logging.getLogger(__name__)
router = APIRouter(tags=["unsubscribe"])

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"

_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        ONE_CLICK_FIELD: {"type": "string", "enum": [ONE_CLICK_VALUE]},
        "scope": {"type": "string", "enum": ["list", "all"]},
    },
}
_PREFS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "list": {"type": "array", "items": {"type": "string", "maxLength": 120}},
        "pause": {"type": "string", "enum": [p.value for p in Pause]},
        "until": {"type": "string", "format": "date"},
    },
}
_HTML_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"content": {"text/html": {}}, "description": "not a valid unsubscribe link"},
}


def _invalid(state: WebState, token: str) -> HTMLResponse:
    log_event(log, "unsubscribe.invalid_link", level=logging.WARNING, ref=token_ref(token))
    return state.pages.problem(
        "This link is not valid",
        "The unsubscribe link is incomplete or was changed. Please open it straight from "
        "one of our emails, or reply to any email and we will take you off the list.",
        status_code=400,
    )


@router.get("/u/{token}", response_class=HTMLResponse, responses=_HTML_ANSWERS)
async def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    """The preference centre: lists, a pause, and the unsubscribe buttons."""
    state = get_state(request)
    try:
        return await _page(request, state, token)
    except TokenError:
        return _invalid(state, token)


async def _page(
    request: Request,
    state: WebState,
    token: str,
    *,
    prefs: PreferencesView | None = None,
    notice: str = "",
    problem: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    view = await run_in_threadpool(describe_unsubscribe, state.sessions, state.signer, token)
    if prefs is None and view.subscriber_id is not None:
        prefs = await run_in_threadpool(
            describe_preferences, state.settings, state.sessions, state.signer, token
        )
    today = state.settings.today()
    return state.pages.response(
        "unsubscribe.html",
        status_code=status_code,
        title="Your email preferences",
        # Relative to this page's URL: never built from the Host header.
        action=f"./{token}",
        # Relative to the page (/u/TOKEN), so never built from the Host header.
        prefs_action=f"./{token}/preferences",
        email_hint=view.email_hint,
        list_name=view.list_name,
        other_lists=view.other_lists,
        prefs=prefs,
        notice=notice,
        problem=problem,
        tomorrow=(today + dt.timedelta(days=1)).isoformat(),
        latest=(today + dt.timedelta(days=MAX_PAUSE_DAYS)).isoformat(),
    )


@router.post(
    "/u/{token}/preferences",
    name="preferences",
    response_class=HTMLResponse,
    responses=_HTML_ANSWERS | {422: {"content": {"text/html": {}}, "description": "bad choice"}},
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/x-www-form-urlencoded": {"schema": _PREFS_SCHEMA}},
        }
    },
)
async def save(request: Request, token: str) -> HTMLResponse:
    """Apply the preference form; every change is recorded with this request's details."""
    state = get_state(request)
    try:
        return await _save(request, state, token)
    except TokenError:
        return _invalid(state, token)


async def _save(request: Request, state: WebState, token: str) -> HTMLResponse:
    try:
        form = await request.form()
    except HTTPException:
        form = None
    chosen = [v for v in form.getlist("list") if isinstance(v, str)] if form else []
    raw_pause = form.get("pause") if form else None
    raw_until = form.get("until") if form else None
    try:
        pause = Pause(raw_pause) if isinstance(raw_pause, str) else Pause.KEEP
        wanted = pause == Pause.UNTIL and isinstance(raw_until, str) and raw_until
        until = dt.date.fromisoformat(raw_until) if wanted and isinstance(raw_until, str) else None
    except ValueError:
        return await _page(
            request, state, token, problem="Please pick a valid date.", status_code=422
        )
    try:
        saved = await run_in_threadpool(
            lambda: save_preferences(
                state.settings,
                state.sessions,
                state.signer,
                token,
                chosen=chosen,
                pause=pause,
                until=until,
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
        )
    except PreferenceError as exc:
        return await _page(
            request, state, token, problem=f"Nothing was changed: {exc}.", status_code=422
        )
    notice = "Saved." if saved.changes else "Nothing to change: these were already your choices."
    return await _page(request, state, token, prefs=saved.view, notice=notice)


@router.post(
    "/u/{token}",
    name="unsubscribe",
    response_class=HTMLResponse,
    responses=_HTML_ANSWERS,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA}},
        }
    },
)
async def unsubscribe(request: Request, token: str) -> HTMLResponse:
    state = get_state(request)
    fields: dict[str, str] = {}
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # Whatever the body says, the token decides who; a broken body must not block it.
        try:
            form = await request.form()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        except HTTPException:
            fields = {}
    one_click = fields.get(ONE_CLICK_FIELD) == ONE_CLICK_VALUE
    everywhere = not one_click and fields.get("scope") == "all"
    source = "web:one-click" if one_click else "web:unsubscribe-page"
    try:
        await run_in_threadpool(
            unsubscribe_with_token,
            state.sessions,
            state.signer,
            token,
            everywhere=everywhere,
            source=source,
        )
    except TokenError:
        return _invalid(state, token)
    message = (
        "You will not receive any more emails from us."
        if everywhere
        else "You will not receive this newsletter any more."
    )
    return state.pages.response("unsubscribed.html", title="Unsubscribed", message=message)
