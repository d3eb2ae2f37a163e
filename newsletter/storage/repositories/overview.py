"""What ``newsletter status`` reads, in SQLAlchemy Core: the lease, job runs, the queue.

These queries name the lightweight clauses of ``storage.tables`` instead of the models,
so a status imports no ORM. They take a Core ``Connection`` or an ORM ``Session`` (both
execute a Core statement), and the ORM repositories that need the same answers
(``scheduling.get_lease``, ``queue.batch_totals``, ``settling.held_issues``) are these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, select

from newsletter.storage.tables import (
    issues,
    job_runs,
    lists,
    scheduler_leases,
    send_batches,
    webhook_events,
)
from newsletter.storage.types import BatchStatus, IssueStatus, JobRunStatus

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    Reader = Connection | Session

EDITABLE = (IssueStatus.DRAFT, IssueStatus.APPROVED)
SEND_STATES = (IssueStatus.SENDING, IssueStatus.SENT, IssueStatus.FAILED)
HOLDS = ("cancel", "pause")


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    acquired_at: dt.datetime
    heartbeat_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class RunInfo:
    """One row of ``job_runs``."""

    id: int
    job_id: str
    scheduled_for: dt.datetime | None
    status: JobRunStatus
    holder: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    counts: dict[str, Any]
    detail: str


@dataclass(frozen=True)
class QueuedIssue:
    """An issue not yet sending, as the queue shows it."""

    id: int
    list_slug: str
    issue_date: dt.date
    status: IssueStatus
    subject: str
    content_hash: str
    approved_by: str | None
    approved_hash: str | None


@dataclass(frozen=True)
class SentIssue:
    """An issue that started sending, with when and to how many."""

    id: int
    list_slug: str
    issue_date: dt.date
    status: IssueStatus
    send_started_at: dt.datetime | None
    sent_at: dt.datetime | None
    recipients: int


_Issue = TypeVar("_Issue", QueuedIssue, SentIssue)


@dataclass(frozen=True)
class UnknownBatch:
    issue_id: int
    list_slug: str
    issue_date: dt.date
    batch_no: int
    recipients: int
    message_id: str | None
    error: str | None
    updated_at: dt.datetime
    settle_step: str | None = None
    """Staged sends: "queued" (waits for one of SendGrid's 10 holds) or "fallback"."""
    settle_note: str | None = None
    request_started_at: dt.datetime | None = None
    """When its request began to be written (None: recorded before that was kept)."""


@dataclass(frozen=True)
class FailedEvent:
    """A webhook event whose processing failed on its own and was set aside."""

    id: int
    event: str
    sg_event_id: str | None
    received_at: dt.datetime
    error: str


def get_lease(db: Reader, name: str) -> LeaseInfo | None:
    lease = scheduler_leases.c
    stmt = select(
        lease.name, lease.holder, lease.acquired_at, lease.heartbeat_at, lease.expires_at
    ).where(lease.name == name)
    row = db.execute(stmt).first()
    return LeaseInfo(*row) if row is not None else None


def _runs() -> Any:
    runs = job_runs.c
    return select(
        runs.id,
        runs.job_id,
        runs.scheduled_for,
        runs.status,
        runs.holder,
        runs.started_at,
        runs.finished_at,
        runs.counts,
        runs.detail,
    ).order_by(runs.started_at.desc(), runs.id.desc())


def _run(row: Any) -> RunInfo:
    return RunInfo(
        id=row.id,
        job_id=row.job_id,
        scheduled_for=row.scheduled_for,
        status=JobRunStatus(row.status),
        holder=row.holder,
        started_at=row.started_at,
        finished_at=row.finished_at,
        counts=row.counts or {},
        detail=row.detail or "",
    )


def recent_runs(
    db: Reader, *, statuses: Sequence[JobRunStatus] | None = None, limit: int = 20
) -> list[RunInfo]:
    """The latest runs (of these statuses), newest first."""
    stmt = _runs().limit(limit)
    if statuses:
        stmt = stmt.where(job_runs.c.status.in_([str(s) for s in statuses]))
    return [_run(row) for row in db.execute(stmt)]


def last_run(db: Reader, job_id: str) -> RunInfo | None:
    """The latest run of ``job_id`` that did run (a missed fire time is no run)."""
    runs = job_runs.c
    stmt = _runs().where(runs.job_id == job_id, runs.status != str(JobRunStatus.MISSED))
    row = db.execute(stmt.limit(1)).first()
    return _run(row) if row is not None else None


def last_holder_run(db: Reader) -> RunInfo | None:
    """The latest run any scheduler started (missed runs have no holder)."""
    row = db.execute(_runs().where(job_runs.c.holder.is_not(None)).limit(1)).first()
    return _run(row) if row is not None else None


def _with_slug(*columns: Any) -> Any:
    slug = lists.c.slug.label("list_slug")
    return select(*columns, slug).join(lists, lists.c.id == issues.c.list_id)


def _issues(db: Reader, kind: type[_Issue], stmt: Any) -> list[_Issue]:
    return [kind(**{**row._mapping, "status": IssueStatus(row.status)}) for row in db.execute(stmt)]


def upcoming(db: Reader, today: dt.date, limit: int = 20) -> list[QueuedIssue]:
    """Issues dated today or later that have not started sending, soonest first."""
    i = issues.c
    stmt = (
        _with_slug(
            i.id, i.issue_date, i.status, i.subject, i.content_hash, i.approved_by, i.approved_hash
        )
        .where(i.issue_date >= today, i.status.in_([str(s) for s in EDITABLE]))
        .order_by(i.issue_date, lists.c.slug)
        .limit(limit)
    )
    return _issues(db, QueuedIssue, stmt)


def recent_sends(db: Reader, limit: int = 5) -> list[SentIssue]:
    """The issues that started sending most recently, newest first."""
    i = issues.c
    stmt = (
        _with_slug(i.id, i.issue_date, i.status, i.send_started_at, i.sent_at, i.recipients)
        .where(i.status.in_([str(s) for s in SEND_STATES]))
        .order_by(i.send_started_at.desc().nulls_last(), i.id.desc())
        .limit(limit)
    )
    return _issues(db, SentIssue, stmt)


def batch_totals(db: Reader, issue_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per issue: recipients by batch status (accepted, failed, unknown, pending, sending)."""
    if not issue_ids:
        return {}
    b = send_batches.c
    stmt = (
        select(b.issue_id, b.status, func.sum(b.recipients))
        .where(b.issue_id.in_(list(issue_ids)))
        .group_by(b.issue_id, b.status)
    )
    totals: dict[int, dict[str, int]] = {i: {} for i in issue_ids}
    for issue_id, status, recipients in db.execute(stmt).all():
        totals[issue_id][BatchStatus(status).value] = int(recipients or 0)
    return totals


def unknown_batches(db: Reader, limit: int = 50) -> list[UnknownBatch]:
    """Batches whose outcome is unknown: a human must check SendGrid before resending."""
    b = send_batches.c
    stmt = (
        select(
            b.issue_id,
            lists.c.slug,
            issues.c.issue_date,
            b.batch_no,
            b.recipients,
            b.message_id,
            b.error,
            b.updated_at,
            b.settle_step,
            b.settle_note,
            b.request_started_at,
        )
        .join(issues, issues.c.id == b.issue_id)
        .join(lists, lists.c.id == issues.c.list_id)
        .where(b.status == str(BatchStatus.UNKNOWN))
        .order_by(b.updated_at, b.issue_id, b.batch_no)
        .limit(limit)
    )
    return [UnknownBatch(*row) for row in db.execute(stmt)]


def count_failed_events(db: Reader) -> int:
    """How many webhook events were set aside because processing them failed."""
    stmt = (
        select(func.count()).select_from(webhook_events).where(webhook_events.c.error.is_not(None))
    )
    return int(db.execute(stmt).scalar() or 0)


def failed_events(db: Reader, limit: int = 10) -> list[FailedEvent]:
    """The most recently set-aside events, newest first."""
    e = webhook_events.c
    stmt = (
        select(e.id, e.event, e.sg_event_id, e.received_at, e.error)
        .where(e.error.is_not(None))
        .order_by(e.id.desc())
        .limit(limit)
    )
    return [FailedEvent(*row) for row in db.execute(stmt)]


def held_issues(db: Reader) -> list[tuple[int, str]]:
    """Staged issues an operator cancelled or paused at SendGrid, with the hold."""
    i = issues.c
    stmt = select(i.id, i.stage_hold).where(
        i.stage_hold.in_(HOLDS),
        i.status.in_([str(IssueStatus.SENT), str(IssueStatus.SENDING)]),
    )
    return [(int(issue_id), str(hold)) for issue_id, hold in db.execute(stmt).all()]
