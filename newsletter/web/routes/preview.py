"""``GET /issues/{id}/preview`` (HTML) and ``.txt``: marketing's look before sending."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasicCredentials
from starlette.concurrency import run_in_threadpool

from newsletter.errors import NotFoundError
from newsletter.render.model import RenderedIssue, substitutions
from newsletter.services.events import preview_issue
from newsletter.web.security import PREVIEW_CSP, basic_scheme, bearer_scheme, check_admin
from newsletter.web.state import get_state

router = APIRouter(tags=["preview"])

IssueId = Annotated[int, Path(ge=1, le=2_147_483_647, description="the issue's id")]
SAMPLE_FIRST_NAME = "Alex"


def require_admin(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    _basic: Annotated[HTTPBasicCredentials | None, Depends(basic_scheme)],
) -> None:
    # The schemes above only document the two ways in; the check reads the header itself.
    token = get_state(request).settings.admin_token
    check_admin(token.get_secret_value() if token else None, request)


_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"description": "no or wrong admin token"},
    403: {"description": "previews are disabled (NEWSLETTER_ADMIN_TOKEN not set)"},
    404: {"description": "no such issue"},
}


async def _filled(request: Request, issue_id: int) -> RenderedIssue:
    state = get_state(request)
    sample = substitutions(SAMPLE_FIRST_NAME, f"{state.settings.public_url}/u/preview-sample")
    try:
        return await run_in_threadpool(preview_issue, state.sessions, issue_id, sample=sample)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


@router.get(
    "/issues/{issue_id}/preview",
    response_class=HTMLResponse,
    dependencies=[Depends(require_admin)],
    responses=_RESPONSES,
)
async def preview_html(request: Request, issue_id: IssueId) -> HTMLResponse:
    issue = await _filled(request, issue_id)
    return HTMLResponse(issue.html, headers={"Content-Security-Policy": PREVIEW_CSP})


@router.get(
    "/issues/{issue_id}/preview.txt",
    response_class=PlainTextResponse,
    dependencies=[Depends(require_admin)],
    responses=_RESPONSES,
)
async def preview_text(request: Request, issue_id: IssueId) -> PlainTextResponse:
    issue = await _filled(request, issue_id)
    return PlainTextResponse(f"Subject: {issue.subject}\n\n{issue.text}")
