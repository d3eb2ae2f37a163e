"""The figures ``/metrics`` reports, read from the database at scrape time.

Every web worker and scheduler reads the same rows, so they all report the same truth.
Each query is a GROUP BY over a small table (batches, issues, job runs, event counts)
or the trigger-kept member counts; none touches the raw events or the deliveries.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.storage.models import (
    Issue,
    IssueEventCount,
    IssueStatus,
    JobRun,
    MailingList,
    SendBatch,
    WebhookEvent,
)
from newsletter.storage.repositories import member_counts


def _value(raw: object) -> str:
    return str(getattr(raw, "value", raw))


def batches_by_status(session: Session) -> dict[str, tuple[int, int]]:
    """Batch status -> (batches, recipients), over every issue."""
    query = select(
        SendBatch.status, func.count(), func.coalesce(func.sum(SendBatch.recipients), 0)
    ).group_by(SendBatch.status)
    return {_value(s): (int(n), int(r)) for s, n, r in session.execute(query)}


def issues_by_status(session: Session) -> dict[str, int]:
    query = select(Issue.status, func.count()).group_by(Issue.status)
    return {_value(s): int(n) for s, n in session.execute(query)}


def event_counts(session: Session) -> dict[str, int]:
    query = select(IssueEventCount.event, func.sum(IssueEventCount.count)).group_by(
        IssueEventCount.event
    )
    return {str(e): int(n or 0) for e, n in session.execute(query)}


def pending_events(session: Session) -> int:
    query = select(func.count()).where(WebhookEvent.processed.is_(False))
    return int(session.scalar(query) or 0)


def members_by_status(session: Session) -> dict[tuple[str, str], int]:
    """(list slug, membership status) -> members, from the trigger-kept counts."""
    slugs = {i: s for i, s in session.execute(select(MailingList.id, MailingList.slug))}
    return {
        (str(slugs[list_id]), _value(status)): n
        for list_id, per_list in member_counts.by_status(session).items()
        if list_id in slugs
        for status, n in per_list.items()
        if n
    }


def job_runs_by_status(session: Session) -> dict[tuple[str, str], int]:
    query = select(JobRun.job_id, JobRun.status, func.count()).group_by(
        JobRun.job_id, JobRun.status
    )
    return {(str(j), _value(s)): int(n) for j, s, n in session.execute(query)}


def last_sends(
    session: Session,
) -> list[tuple[str, dt.datetime, dt.datetime | None, float | None]]:
    """Per list: (slug, list created, last successful send finished, its duration in s)."""
    latest = (
        select(Issue.list_id, func.max(Issue.sent_at).label("sent_at"))
        .where(Issue.status == IssueStatus.SENT, Issue.sent_at.is_not(None))
        .group_by(Issue.list_id)
        .subquery()
    )
    query = (
        select(MailingList.slug, MailingList.created_at, latest.c.sent_at)
        .outerjoin(latest, latest.c.list_id == MailingList.id)
        .order_by(MailingList.slug)
    )
    rows = []
    for slug, created, sent_at in session.execute(query):
        duration = None
        if sent_at is not None:
            started = session.scalar(
                select(Issue.send_started_at)
                .where(Issue.sent_at == sent_at, Issue.status == IssueStatus.SENT)
                .limit(1)
            )
            if started is not None:
                duration = max((_aware(sent_at) - _aware(started)).total_seconds(), 0.0)
        rows.append((str(slug), _aware(created), _aware(sent_at) if sent_at else None, duration))
    return rows


def _aware(value: dt.datetime) -> dt.datetime:
    # max() over a UTCDateTime column comes back without the type's conversion on SQLite.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
