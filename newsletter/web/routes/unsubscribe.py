"""``GET /u/{token}`` shows a confirm page; ``POST /u/{token}`` unsubscribes.

GET changes nothing because mail scanners and link previewers fetch every URL in an
email. POST serves both the page's buttons and RFC 8058 one-click requests
(``List-Unsubscribe=One-Click``, form-encoded, no cookies), which mailbox providers
send from their own servers; both get 200.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from newsletter.errors import TokenError
from newsletter.logs import log_event
from newsletter.services.signup import describe_unsubscribe, token_ref, unsubscribe_with_token
from newsletter.web.state import WebState, get_state

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
    state = get_state(request)
    try:
        view = await run_in_threadpool(describe_unsubscribe, state.sessions, state.signer, token)
    except TokenError:
        return _invalid(state, token)
    return state.pages.response(
        "unsubscribe.html",
        title="Unsubscribe",
        action=str(request.url_for("unsubscribe", token=token)),
        email_hint=view.email_hint,
        list_name=view.list_name,
        other_lists=view.other_lists,
    )


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
