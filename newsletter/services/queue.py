"""Marketing's issue queue (queue, cancel, reschedule), review notices, and ``status``.

A queued issue is built exactly like an override file would build it, from the
articles and tips marketing chose; it is stored as a draft and goes through the same
approval as any other issue.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from newsletter.errors import (
    FieldError,
    FieldProblem,
    IssueStateError,
    NotFoundError,
)
from newsletter.services.send_retry import window_closes
from newsletter.settings import Settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import IssueStatus
from newsletter.storage.repositories import events as events_repo
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import lists as lists_repo
from newsletter.storage.repositories import queue as queue_repo

if TYPE_CHECKING:
    # Content, rendering and issue building are imported by the functions that use them,
    # so that ``newsletter status`` (``scheduler_status``) loads no rendering.
    from newsletter.content.models import Library
    from newsletter.services.issues import IssueView

log = logging.getLogger("newsletter.scheduler.queue")


# -- queue, cancel, reschedule ------------------------------------------------------------


def _slug_problems(
    library: Library, articles: Sequence[str], tips: Sequence[str], where: str
) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for field, noun, slugs, known in (
        ("articles", "article", articles, library.articles),
        ("tips", "tip", tips, library.tips),
    ):
        unknown = [repr(s) for s in dict.fromkeys(slugs) if s not in known]
        if unknown:
            problems.append(
                FieldProblem(field, f"unknown {noun} {', '.join(unknown)} (not in {where})")
            )
        twice = [repr(s) for s, n in Counter(slugs).items() if n > 1]
        if twice:
            problems.append(FieldProblem(field, f"{noun} {', '.join(twice)} chosen more than once"))
    return problems


def _date_problems(
    cfg: Settings, issue_date: dt.date, today: dt.date | None, *, off_schedule: bool
) -> list[FieldProblem]:
    today = today or dt.datetime.now(cfg.zone).date()
    if issue_date < today:
        return [FieldProblem("date", f"{issue_date} is in the past (today is {today})")]
    from newsletter.services import timing

    if off_schedule or timing.scheduled_time(cfg, issue_date) is not None:
        return []
    following = timing.next_send_date(cfg, issue_date)
    nearest = f"; the next send day is {timing.describe_date(following)}" if following else ""
    return [
        FieldProblem(
            "date",
            f"the send schedule ({cfg.send_schedule!r}, NEWSLETTER_SEND_SCHEDULE) never sends "
            f"on {timing.describe_date(issue_date)}{nearest}. Confirm the off-schedule date "
            "(--off-schedule) to queue it anyway; the scheduler will not send it, "
            "`newsletter issue send ID` will on that day",
        )
    ]


def _raise_if(problems: list[FieldProblem]) -> None:
    if problems:
        raise FieldError(problems)


def queue_issue(
    cfg: Settings,
    engine: Engine,
    list_slug: str,
    issue_date: dt.date,
    *,
    articles: Sequence[str] = (),
    tips: Sequence[str] = (),
    subject: str | None = None,
    preheader: str | None = None,
    intro: str = "",
    replace: bool = False,
    off_schedule: bool = False,
    today: dt.date | None = None,
) -> IssueView:
    """Store a draft for ``list_slug`` on ``issue_date`` built from marketing's choices.

    Slots left empty (no articles, one article of three, no tips) are filled the usual
    way; an override file for that date gives what the queue leaves out. Invalid input
    raises ``FieldError`` naming each field (``list``, ``date``, ``articles``, ``tips``);
    a date the send schedule never sends on needs ``off_schedule``. ``ConflictError``
    when the list already has a live issue that day, unless ``replace`` cancels it.
    """
    from newsletter.content.loader import library_for_issue
    from newsletter.content.models import IssueOverride
    from newsletter.services.issues import build_issue

    problems = _date_problems(cfg, issue_date, today, off_schedule=off_schedule)
    with transaction(session_factory(engine)) as session:
        try:
            lists_repo.get_by_slug(session, list_slug)
        except NotFoundError as exc:
            problems.append(FieldProblem("list", str(exc)))
    library, _ = library_for_issue(
        cfg.content_dir, list_slug, issue_date, wanted=(*articles, *tips)
    )
    problems += _slug_problems(library, articles, tips, str(cfg.content_dir))
    _raise_if(problems)
    override = IssueOverride(
        list_slug=list_slug,
        issue_date=issue_date,
        subject=subject,
        preheader=preheader,
        articles=tuple(articles),
        tips=tuple(tips),
        intro=intro,
    )
    return build_issue(cfg, engine, list_slug, issue_date, override=override, replace=replace)


def cancel_issue(engine: Engine, issue_id: int) -> IssueView:
    """draft/approved -> cancelled; an issue that started sending cannot be cancelled."""
    from newsletter.services.issues import view_of

    factory = session_factory(engine)
    with transaction(factory) as session:
        issue = issue_repo.get_issue(session, issue_id)
        if not issue_repo.transition(
            session, issue_id, expected=queue_repo.EDITABLE, to=IssueStatus.CANCELLED
        ):
            raise IssueStateError(
                f"issue {issue_id} is {issue.status}; only a draft or approved issue can be "
                "cancelled"
            )
        issue = issue_repo.get_issue(session, issue_id)
        return view_of(issue, issue_repo.list_slug(session, issue.list_id))


def reschedule_issue(
    cfg: Settings,
    engine: Engine,
    issue_id: int,
    new_date: dt.date,
    *,
    off_schedule: bool = False,
    today: dt.date | None = None,
) -> IssueView:
    """Move a draft or approved issue to ``new_date``, re-rendered; it needs approval again.

    The date is checked like ``queue_issue``'s (``FieldError`` on ``date``).
    """
    from newsletter.content.loader import library_for_issue
    from newsletter.services.issues import view_of
    from newsletter.services.review import render_picks

    _raise_if(_date_problems(cfg, new_date, today, off_schedule=off_schedule))
    factory = session_factory(engine)
    with transaction(factory) as session:
        issue = issue_repo.get_issue(session, issue_id)
        if issue.status not in queue_repo.EDITABLE:
            raise IssueStateError(
                f"issue {issue_id} is {issue.status}; only a draft or approved issue can move"
            )
        slug = lists_repo.get(session, issue.list_id).slug
        before = view_of(issue, slug)
    library, _ = library_for_issue(
        cfg.content_dir, slug, new_date, wanted=(*before.article_slugs, *before.tip_slugs)
    )
    _raise_if(_slug_problems(library, before.article_slugs, before.tip_slugs, str(cfg.content_dir)))
    # The date is printed in the issue, so the content (and its hash) change with it.
    page = render_picks(cfg, engine, before, new_date)
    with transaction(factory) as session:
        moved = queue_repo.reschedule(
            session,
            issue_id,
            new_date,
            html=page.html,
            text=page.text,
            content_hash=page.content_hash,
        )
        if not moved:
            raise IssueStateError(f"issue {issue_id} started sending meanwhile; not moved")
        issue = issue_repo.get_issue(session, issue_id)
        return view_of(issue, slug)


# -- status -----------------------------------------------------------------------------


def approval_state(status: IssueStatus, approved_hash: str | None, content_hash: str) -> str:
    if status == IssueStatus.DRAFT:
        return "needs approval"
    if approved_hash != content_hash:
        return "changed since approval: approve again"
    return "approved"


def scheduler_status(cfg: Settings, engine: Engine, now: dt.datetime) -> dict[str, Any]:
    """Everything ``newsletter status`` shows, as plain data (also its ``--json``)."""
    from newsletter.content.loader import check_library
    from newsletter.schedule_rules.specs import JOBS, LEASE_NAME
    from newsletter.services.hold import held_status
    from newsletter.storage.models import JobRunStatus
    from newsletter.storage.repositories import scheduling as sched_repo

    today = now.astimezone(cfg.zone).date()
    factory = session_factory(engine)
    with transaction(factory) as session:
        lease = sched_repo.get_lease(session, LEASE_NAME)
        last_run = sched_repo.last_holder_run(session)
        jobs = []
        for spec in JOBS:
            last = sched_repo.last_run(session, spec.id)
            jobs.append(
                {
                    "id": spec.id,
                    "schedule": spec.schedule_text(cfg),
                    "next_run": _iso(spec.next_run(cfg, now)),
                    "last_status": str(last.status) if last else None,
                    "last_started_at": _iso(last.started_at) if last else None,
                    "last_detail": last.detail if last and last.detail else None,
                }
            )
        upcoming = [
            {
                "id": i.id,
                "list": slug,
                "date": i.issue_date.isoformat(),
                "status": str(i.status),
                "approval": approval_state(i.status, i.approved_hash, i.content_hash),
                "approved_by": i.approved_by,
                "subject": i.subject,
            }
            for i, slug in queue_repo.upcoming(session, today)
        ]
        sends = queue_repo.recent_sends(session)
        totals = queue_repo.batch_totals(session, [i.id for i, _ in sends])
        recent = [
            {
                "id": i.id,
                "list": slug,
                "date": i.issue_date.isoformat(),
                "status": str(i.status),
                "started_at": _iso(i.send_started_at),
                "sent_at": _iso(i.sent_at),
                "recipients": i.recipients,
                "accepted": totals[i.id].get("accepted", 0),
                "failed": totals[i.id].get("failed", 0),
                "unknown": totals[i.id].get("unknown", 0),
                "pending": totals[i.id].get("pending", 0) + totals[i.id].get("sending", 0),
            }
            for i, slug in sends
        ]
        failed_sends = [_failed_send(cfg, s, now) for s in recent if s["status"] == "failed"]
        unknown = [
            dataclasses.asdict(b) | {"issue_date": b.issue_date.isoformat()}
            for b in queue_repo.unknown_batches(session)
        ]
        missed = [
            {
                "job": r.job_id,
                "scheduled_for": _iso(r.scheduled_for),
                "recorded_at": _iso(r.started_at),
                "detail": r.detail,
            }
            for r in sched_repo.recent_runs(session, statuses=[JobRunStatus.MISSED], limit=10)
        ]
        failed_events = {
            "total": events_repo.count_failed(session),
            "recent": [
                {
                    "id": e.id,
                    "event": e.event,
                    "sg_event_id": e.sg_event_id,
                    "received_at": _iso(e.received_at),
                    "error": e.error,
                }
                for e in events_repo.failed_events(session)
            ],
        }
    return {
        "now": now.isoformat(),
        "timezone": cfg.timezone,
        "leader": _leader(lease, now, last_run),
        "jobs": jobs,
        "upcoming": upcoming,
        "recent_sends": recent,
        "failed_sends": failed_sends,
        "unknown_batches": unknown,
        "missed_runs": missed,
        "failed_events": failed_events,
        # Files the next assemble leaves out (or is stopped by, when an issue needs them).
        "content_problems": [str(p) for p in check_library(cfg.content_dir).problems],
        # Staged issues an operator cancelled or paused, and what SendGrid still delivers.
        "held_issues": held_status(cfg, engine),
    }


def _failed_send(cfg: Settings, send: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A send that ended with failed batches: a failure, whatever its jobs reported."""
    closes = window_closes(cfg, dt.date.fromisoformat(send["date"]))
    return {
        "id": send["id"],
        "list": send["list"],
        "date": send["date"],
        "failed": send["failed"],
        "window_closes": closes.isoformat(),
        "retrying": now < closes,
        "command": f"newsletter issue send {send['id']}",
    }


def _leader(lease: Any, now: dt.datetime, last_run: Any) -> dict[str, Any]:
    if lease is None:
        if last_run is None:
            return {"state": "none", "holder": None}
        # Released on a clean stop (or after --once): schedulers have run, none leads now.
        return {
            "state": "stopped",
            "holder": last_run.holder,
            "last_run_job": last_run.job_id,
            "last_run_at": last_run.started_at.isoformat(),
        }
    alive = lease.expires_at > now
    return {
        "state": "leading" if alive else "expired",
        "holder": lease.holder,
        "since": lease.acquired_at.isoformat(),
        "heartbeat_age_s": round((now - lease.heartbeat_at).total_seconds()),
        "expires_in_s": round((lease.expires_at - now).total_seconds()),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
