"""``GET /archive/{list}`` and ``/archive/{list}/{date}``: sent issues, for anyone to read.

Public and read-only. The web version is email HTML (inline styles, remote images), so
it gets the preview's policy: still no scripts, no forms, no framing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from newsletter.errors import NotFoundError
from newsletter.services import archive
from newsletter.web.security import PREVIEW_CSP
from newsletter.web.state import get_state

router = APIRouter(tags=["archive"])

ListSlug = Annotated[
    str, Path(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=120, description="the list")
]
# Public pages that change only when an issue is sent: a short shared cache is harmless.
_CACHE = {"Cache-Control": "public, max-age=300"}
_ANSWERS: dict[int | str, dict[str, object]] = {404: {"description": "no such list or issue"}}


def _missing(request: Request) -> HTMLResponse:
    return get_state(request).pages.problem(
        "Not found", "There is no such issue in our archive.", status_code=404
    )


@router.get("/archive/{list_slug}", response_class=HTMLResponse, responses=_ANSWERS)
async def archive_index(request: Request, list_slug: ListSlug) -> HTMLResponse:
    state = get_state(request)
    try:
        index = await run_in_threadpool(
            archive.archive_index, state.settings, state.sessions, list_slug
        )
    except NotFoundError:
        return _missing(request)
    return state.pages.response("archive_index.html", headers=_CACHE, index=index, title="")


@router.get("/archive/{list_slug}/{issue_date}", response_class=HTMLResponse, responses=_ANSWERS)
async def archive_issue(request: Request, list_slug: ListSlug, issue_date: dt.date) -> HTMLResponse:
    state = get_state(request)
    try:
        page = await run_in_threadpool(
            archive.web_version, state.settings, state.sessions, list_slug, issue_date
        )
    except NotFoundError:
        return _missing(request)
    return HTMLResponse(page, headers={"Content-Security-Policy": PREVIEW_CSP, **_CACHE})
