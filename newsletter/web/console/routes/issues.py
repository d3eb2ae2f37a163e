"""Issues: the list, compose and queue (``/admin/issues/new``), and the review page.

Queueing goes through ``services.queue.queue_issue``, exactly like ``newsletter issue
queue``; the review page reads ``services.review``. The actions (test, approve, cancel,
reschedule, rebuild) are in ``issue_actions``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from newsletter.errors import ConflictError, FieldError
from newsletter.services import audit, issues, queue, review
from newsletter.services.compose import compose_options, send_dates
from newsletter.services.timing import describe_time
from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus
from newsletter.storage.repositories import calendar as calendar_repo
from newsletter.web.console.auth import Actor, Editor
from newsletter.web.console.pages import render
from newsletter.web.security import PREVIEW_CSP
from newsletter.web.state import WebState, get_state

router = APIRouter(prefix="/admin", include_in_schema=False)

IssueId = Annotated[int, Path(ge=1, le=2_147_483_647)]
MAX_TEXT = 300
MAX_INTRO = 4000
# The frames on the review page load this page from the console itself.
FRAME_CSP = PREVIEW_CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")


@router.get("/issues", response_class=HTMLResponse)
def issue_list(request: Request, actor: Editor) -> HTMLResponse:
    found = issues.list_issues(get_state(request).engine, limit=100)
    return render(request, "issues.html", title="Issues", issues=found)


def _form_values(options: Any, values: dict[str, Any]) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "list": options.lists[0][0] if len(options.lists) == 1 else "",
        "date": options.dates[0].day.isoformat() if options.dates else "",
        "off_schedule": False,
        "other_date": "",
        "articles": [],
        "tips": [],
        "positions": {},
        "subject": "",
        "preheader": "",
        "intro": "",
    }
    return defaults | values


def _compose_page(
    request: Request,
    values: dict[str, Any],
    *,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
    conflict: int | None = None,
) -> HTMLResponse:
    state = get_state(request)
    options = compose_options(state.settings, state.engine)
    return render(
        request,
        "compose.html",
        status_code=status_code,
        title="Compose an issue",
        options=options,
        form=_form_values(options, values),
        errors=errors or {},
        conflict=conflict,
    )


@router.get("/issues/new", response_class=HTMLResponse)
def compose(
    request: Request,
    actor: Editor,
    list_: Annotated[str, Query(alias="list", max_length=100)] = "",
    date: Annotated[str, Query(max_length=10)] = "",
) -> HTMLResponse:
    values: dict[str, Any] = {}
    if list_:
        values["list"] = list_
    if date:
        state = get_state(request)
        offered = {d.day.isoformat() for d in send_dates(state.settings, state.settings.today())}
        if date in offered:
            values["date"] = date
        else:
            values |= {"off_schedule": True, "other_date": date}
    return _compose_page(request, values)


def _strings(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def _text(form: FormData, name: str, limit: int = MAX_TEXT) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _ordered(form: FormData, name: str) -> tuple[list[str], dict[str, str]]:
    """The ticked slugs, ordered by the position typed next to each (then form order)."""
    picked = list(dict.fromkeys(_strings(form, name)))
    positions = {slug: _text(form, f"pos-{name}-{slug}", 3) for slug in picked}

    def key(item: tuple[int, str]) -> tuple[int, int]:
        index, slug = item
        typed = positions.get(slug, "")
        return (int(typed) if typed.isdigit() else 1000, index)

    return [slug for _, slug in sorted(enumerate(picked), key=key)], positions


def _chosen_date(values: dict[str, Any]) -> tuple[dt.date | None, str | None]:
    raw = values["other_date"] if values["off_schedule"] else values["date"]
    if not raw:
        return None, "choose a send date" if not values["off_schedule"] else "enter a date"
    try:
        return dt.date.fromisoformat(raw), None
    except ValueError:
        return None, f"{raw!r} is not a date (use YYYY-MM-DD)"


@router.post("/issues/new", response_class=HTMLResponse)
async def queue_issue(request: Request, actor: Editor) -> Response:
    form = await request.form()
    articles, article_pos = _ordered(form, "articles")
    tips, tip_pos = _ordered(form, "tips")
    values: dict[str, Any] = {
        "list": _text(form, "list", 100),
        "date": _text(form, "date", 10),
        "off_schedule": form.get("off_schedule") == "yes",
        "other_date": _text(form, "other_date", 10),
        "articles": articles,
        "tips": tips,
        "positions": {
            **{f"articles-{k}": v for k, v in article_pos.items()},
            **{f"tips-{k}": v for k, v in tip_pos.items()},
        },
        "subject": _text(form, "subject"),
        "preheader": _text(form, "preheader"),
        "intro": _text(form, "intro", MAX_INTRO),
    }
    day, date_problem = _chosen_date(values)
    errors: dict[str, list[str]] = {}
    if date_problem:
        errors["date"] = [date_problem]
    if not values["list"]:
        errors["list"] = ["choose a list"]
    if errors or day is None:
        return _compose_page(request, values, errors=errors, status_code=400)
    state = get_state(request)
    try:
        view = await run_in_threadpool(_queue, state, actor, values, day)
    except FieldError as exc:
        for problem in exc.problems:
            errors.setdefault(problem.field, []).append(problem.message)
        return _compose_page(request, values, errors=errors, status_code=400)
    except ConflictError:
        existing = _live_issue(state, values["list"], day)
        errors["date"] = [
            f"this list already has an issue for {day.isoformat()}; open it to change or cancel it"
        ]
        return _compose_page(request, values, errors=errors, status_code=409, conflict=existing)
    return RedirectResponse(f"/admin/issues/{view.id}?done=queued", status_code=303)


def _queue(state: WebState, actor: Actor, values: dict[str, Any], day: dt.date) -> Any:
    view = queue.queue_issue(
        state.settings,
        state.engine,
        values["list"],
        day,
        articles=values["articles"],
        tips=values["tips"],
        subject=values["subject"] or None,
        preheader=values["preheader"] or None,
        intro=values["intro"],
        off_schedule=values["off_schedule"],
    )
    picks = ", ".join([*view.article_slugs, *view.tip_slugs])
    audit.record_now(
        state.sessions,
        actor.email,
        "issue.queue",
        audit.issue_target(view.id),
        f"{view.list_slug} {view.issue_date.isoformat()}: {picks}",
    )
    return view


def _live_issue(state: WebState, slug: str, day: dt.date) -> int | None:
    with transaction(state.sessions) as session:
        for row in calendar_repo.live_issues_between(session, day, day):
            if row.list_slug == slug:
                return row.id
    return None


NOTICES = {
    "queued": "Queued as a draft. It goes out {when} once it is approved.",
    "approved": "Approved. It goes out {when}.",
    "test": "Test sent. Check the inbox (and the outbox folder when no SendGrid key is set).",
    "cancelled": "Cancelled. Nothing will be sent for this issue.",
    "rescheduled": "Moved. It goes out {when} once it is approved again.",
    "rebuilt": "Rebuilt from today's content as a new draft. Approve it to send it {when}.",
    "sending": "The send has started; its progress shows below and its outcome in the history.",
}


def send_progress(view: issues.IssueView) -> dict[str, int] | None:
    """Recipients and batches by outcome, for the issue page's delivery box."""
    counts = view.counts
    if counts is None or not counts.total_batches:
        return None
    pending = counts.recipients_in(BatchStatus.PENDING) + counts.recipients_in(BatchStatus.SENDING)
    failed = counts.recipients_in(BatchStatus.FAILED)
    unknown = counts.recipients_in(BatchStatus.UNKNOWN)
    waiting = counts.batches_in(BatchStatus.PENDING) + counts.batches_in(BatchStatus.SENDING)
    return {
        "accepted": counts.recipients_in(BatchStatus.ACCEPTED),
        "total": counts.total_recipients - counts.skipped,
        "pending": pending,
        "failed": failed,
        "unknown": unknown,
        "skipped": counts.skipped,
        "batches": counts.total_batches,
        "done_batches": counts.total_batches - waiting,
        "problems": failed + unknown,
    }


def issue_page(
    request: Request,
    issue_id: int,
    *,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
    done: str = "",
) -> HTMLResponse:
    state = get_state(request)
    found = review.review_issue(state.settings, state.engine, issue_id)
    zone = state.settings.zone
    notice = NOTICES.get(done, "").format(when=describe_time(found.send_at, zone))
    return render(
        request,
        "issue.html",
        status_code=status_code,
        title=f"Issue #{issue_id}",
        review=found,
        issue=found.issue,
        notice=notice,
        notice_key=done,
        progress=send_progress(found.issue),
        errors=errors or {},
        dates=send_dates(state.settings, state.settings.today()),
        history=audit.entries(state.sessions, target=audit.issue_target(issue_id), limit=50),
        checks=review.CHECKS_RUN,
    )


@router.get("/issues/{issue_id}", response_class=HTMLResponse)
def issue_detail(
    request: Request,
    issue_id: IssueId,
    actor: Editor,
    done: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    return issue_page(request, issue_id, done=done)


@router.get("/issues/{issue_id}/progress", response_class=HTMLResponse)
def issue_progress(request: Request, issue_id: IssueId, actor: Editor) -> HTMLResponse:
    """The delivery box alone (htmx polls it while the issue is sending)."""
    view = issues.show_issue(get_state(request).engine, issue_id)
    return render(request, "_send_progress.html", issue=view, progress=send_progress(view))


@router.get("/issues/{issue_id}/frame", response_class=HTMLResponse)
def issue_frame(request: Request, issue_id: IssueId, actor: Editor) -> HTMLResponse:
    """The email itself with sample values, for the 375 px and 600 px frames."""
    state = get_state(request)
    sample = review.stored_sample(state.settings, state.engine, issue_id)
    return HTMLResponse(
        sample.html,
        headers={"content-security-policy": FRAME_CSP, "x-frame-options": "SAMEORIGIN"},
    )
