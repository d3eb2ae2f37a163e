"""``/admin/audit``: who did what, and when, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from newsletter.services import audit
from newsletter.web.console.auth import Editor
from newsletter.web.console.pages import render
from newsletter.web.state import get_state

router = APIRouter(prefix="/admin", include_in_schema=False)
PAGE_SIZE = 100


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    actor: Editor,
    target: Annotated[str | None, Query(max_length=400)] = None,
    who: Annotated[str | None, Query(max_length=320)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> HTMLResponse:
    entries = audit.entries(
        get_state(request).sessions,
        target=target or None,
        actor=who or None,
        before_id=before,
        limit=PAGE_SIZE,
    )
    older = entries[-1].id if len(entries) == PAGE_SIZE else None
    return render(
        request,
        "audit.html",
        title="Audit log",
        entries=entries,
        target=target or "",
        who=who or "",
        older=older,
    )
