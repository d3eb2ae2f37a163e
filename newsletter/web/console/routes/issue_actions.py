"""``POST /admin/issues/{id}/test|approve|cancel|reschedule|rebuild|send``.

Each calls the same service as the CLI command of the same name and records who did it.
Approve, cancel and send first show a confirmation that says exactly when the issue
goes out (or that it never will); only the confirmed form (``confirm=yes``) acts.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from newsletter.errors import AddressError, DeliveryError, FieldError, IssueStateError
from newsletter.services import audit, issues, queue, review, send_start
from newsletter.services.issues_send import send_test
from newsletter.services.timing import describe_date, describe_time, due_time
from newsletter.web.console.auth import Actor, Approver, Editor
from newsletter.web.console.pages import render
from newsletter.web.console.routes.issues import issue_page
from newsletter.web.state import WebState, get_state

router = APIRouter(prefix="/admin/issues", include_in_schema=False)

IssueId = Annotated[int, Path(ge=1, le=2_147_483_647)]
MAX_TEST_ADDRESSES = 10
_SPLIT = re.compile(r"[\s,;]+")


def _done(issue_id: int, what: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/issues/{issue_id}?done={what}", status_code=303)


def _record(state: WebState, actor: Actor, action: str, issue_id: int, detail: str = "") -> None:
    audit.record_now(state.sessions, actor.email, action, audit.issue_target(issue_id), detail)


@router.post("/{issue_id}/test", response_class=HTMLResponse)
async def test(
    request: Request,
    issue_id: IssueId,
    actor: Editor,
    to: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    state = get_state(request)
    addresses = [a for a in _SPLIT.split(to) if a]
    problem = None
    if not addresses:
        problem = "enter at least one address"
    elif len(addresses) > MAX_TEST_ADDRESSES:
        problem = f"at most {MAX_TEST_ADDRESSES} addresses per test"
    if problem is None:
        try:
            result = await run_in_threadpool(
                send_test, state.settings, state.engine, issue_id, addresses, sender=state.sender
            )
        except (AddressError, DeliveryError) as exc:
            problem = str(exc)
        else:
            await run_in_threadpool(
                _record, state, actor, "issue.test", issue_id, "to " + ", ".join(result.to)
            )
            return _done(issue_id, "test")
    return await run_in_threadpool(
        issue_page, request, issue_id, errors={"to": [problem]}, status_code=400
    )


def _goes_out(state: WebState, day: dt.date) -> str:
    when = due_time(state.settings, day)
    text = describe_time(when, state.settings.zone)
    if when < dt.datetime.now(dt.UTC):
        return f"Its send time ({text}) has passed: the scheduler sends it on its next run"
    return f"It goes out {text}"


def _confirm(
    request: Request,
    *,
    title: str,
    message: str,
    action: str,
    button: str,
    danger: bool = False,
    keep: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "confirm.html",
        title=title,
        message=message,
        action=action,
        button=button,
        danger=danger,
        back=action.rsplit("/", 1)[0],
        keep=keep or {},
    )


@router.post("/{issue_id}/approve", response_class=HTMLResponse)
async def approve(
    request: Request,
    issue_id: IssueId,
    actor: Approver,
    confirm: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    state = get_state(request)
    view, sendable = await run_in_threadpool(issues.send_preview, state.engine, issue_id)
    if confirm != "yes":
        return _confirm(
            request,
            title=f"Approve issue #{issue_id}?",
            message=(
                f"“{view.subject}” for {view.list_slug}, {describe_date(view.issue_date)}. "
                f"{_goes_out(state, view.issue_date)} to {sendable} subscribers. "
                "The approval covers exactly this content; any later change needs a new one."
            ),
            action=f"/admin/issues/{issue_id}/approve",
            button="Approve",
        )
    approved = await run_in_threadpool(issues.approve_issue, state.engine, issue_id, by=actor.email)
    await run_in_threadpool(
        _record, state, actor, "issue.approve", issue_id, f"content {approved.content_hash[:12]}"
    )
    return _done(issue_id, "approved")


@router.post("/{issue_id}/cancel", response_class=HTMLResponse)
async def cancel(
    request: Request,
    issue_id: IssueId,
    actor: Approver,
    confirm: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    state = get_state(request)
    view = await run_in_threadpool(issues.show_issue, state.engine, issue_id)
    if confirm != "yes":
        return _confirm(
            request,
            title=f"Cancel issue #{issue_id}?",
            message=(
                f"“{view.subject}” for {view.list_slug}, {describe_date(view.issue_date)}, "
                "will never be sent. This cannot be undone; you can compose a new issue for "
                "the date afterwards."
            ),
            action=f"/admin/issues/{issue_id}/cancel",
            button="Cancel this issue",
            danger=True,
        )
    await run_in_threadpool(queue.cancel_issue, state.engine, issue_id)
    await run_in_threadpool(_record, state, actor, "issue.cancel", issue_id)
    return _done(issue_id, "cancelled")


@router.post("/{issue_id}/reschedule", response_class=HTMLResponse)
async def reschedule(
    request: Request,
    issue_id: IssueId,
    *,
    actor: Editor,
    date: Annotated[str, Form(max_length=10)] = "",
    off_schedule: Annotated[str, Form(max_length=3)] = "",
    other_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    state = get_state(request)
    off = off_schedule == "yes"
    raw = other_date if off else date
    try:
        day = dt.date.fromisoformat(raw)
        before = await run_in_threadpool(issues.show_issue, state.engine, issue_id)
        await run_in_threadpool(
            queue.reschedule_issue, state.settings, state.engine, issue_id, day, off_schedule=off
        )
    except ValueError:
        message = f"{raw!r} is not a date (use YYYY-MM-DD)" if raw else "choose a date"
        return await run_in_threadpool(
            issue_page, request, issue_id, errors={"date": [message]}, status_code=400
        )
    except FieldError as exc:
        errors = {"date": [p.message for p in exc.problems]}
        return await run_in_threadpool(
            issue_page, request, issue_id, errors=errors, status_code=400
        )
    detail = f"{before.issue_date.isoformat()} -> {day.isoformat()}"
    await run_in_threadpool(_record, state, actor, "issue.reschedule", issue_id, detail)
    return _done(issue_id, "rescheduled")


@router.post("/{issue_id}/rebuild", response_class=HTMLResponse)
async def rebuild(request: Request, issue_id: IssueId, actor: Editor) -> Response:
    """Content changed since approval: a fresh draft from today's content replaces it."""
    state = get_state(request)
    try:
        fresh = await run_in_threadpool(
            review.rebuild_for_approval, state.settings, state.engine, issue_id
        )
    except IssueStateError as exc:
        return await run_in_threadpool(
            issue_page, request, issue_id, errors={"rebuild": [str(exc)]}, status_code=409
        )
    await run_in_threadpool(
        _record, state, actor, "issue.rebuild", issue_id, f"replaced by issue {fresh.id}"
    )
    await run_in_threadpool(
        _record, state, actor, "issue.rebuild", fresh.id, f"rebuilt from issue {issue_id}"
    )
    return _done(fresh.id, "rebuilt")


@router.post("/{issue_id}/send", response_class=HTMLResponse)
async def send(
    request: Request,
    issue_id: IssueId,
    actor: Approver,
    confirm: Annotated[str, Form(max_length=3)] = "",
    deliver: Annotated[str, Form(max_length=3)] = "due",
) -> Response:
    """Stage an approved issue as ``issue send`` does; the send runs after the response."""
    state = get_state(request)
    deliver_now = deliver == "now"
    asked = dt.datetime.now(dt.UTC)
    try:
        plan = await run_in_threadpool(
            send_start.plan_send,
            state.settings,
            state.engine,
            issue_id,
            deliver_now=deliver_now,
            now=asked,
        )
    except IssueStateError as exc:
        return await run_in_threadpool(
            issue_page, request, issue_id, errors={"send": [str(exc)]}, status_code=409
        )
    what = plan.describe(state.settings.zone)
    if confirm != "yes":
        return _confirm(
            request,
            title=f"Send issue #{issue_id}?",
            message=f"“{plan.subject}”. {what} {plan.undo}",
            action=f"/admin/issues/{issue_id}/send",
            button="Send now",
            keep={"deliver": "now" if deliver_now else "due"},
        )
    await run_in_threadpool(_record, state, actor, "issue.send", issue_id, what)
    answer = _done(issue_id, "sending")
    # After the response (like the welcome email): the page never waits for the batches.
    answer.background = BackgroundTask(
        send_start.run_send,
        state.settings,
        state.engine,
        issue_id,
        actor=actor.email,
        deliver_now=deliver_now,
        now=asked,
        sender=state.sender,
    )
    return answer
