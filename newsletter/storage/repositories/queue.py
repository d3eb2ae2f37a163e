"""The issue queue as the scheduler and ``status`` see it: what is due, upcoming, sent.

State changes go through ``repositories.issues`` (compare-and-set); this module adds
the read side and the one in-place edit the queue needs, a reschedule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.errors import ConflictError
from newsletter.storage.models import (
    BatchStatus,
    Issue,
    IssueStatus,
    MailingList,
    SendBatch,
    utcnow,
)

EDITABLE = (IssueStatus.DRAFT, IssueStatus.APPROVED)
SEND_STATES = (IssueStatus.SENDING, IssueStatus.SENT, IssueStatus.FAILED)


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


def _with_slug() -> Any:
    return select(Issue, MailingList.slug).join(MailingList, MailingList.id == Issue.list_id)


def issues_on(session: Session, issue_date: dt.date) -> list[tuple[Issue, str]]:
    """The live (not cancelled) issues of every list for one date."""
    stmt = _with_slug().where(Issue.issue_date == issue_date, Issue.status != IssueStatus.CANCELLED)
    return [(i, s) for i, s in session.execute(stmt.order_by(MailingList.slug)).all()]


def upcoming(session: Session, today: dt.date, limit: int = 20) -> list[tuple[Issue, str]]:
    """Issues dated today or later that have not started sending, soonest first."""
    stmt = (
        _with_slug()
        .where(Issue.issue_date >= today, Issue.status.in_(EDITABLE))
        .order_by(Issue.issue_date, MailingList.slug)
        .limit(limit)
    )
    return [(i, s) for i, s in session.execute(stmt).all()]


def in_status(session: Session, statuses: Collection[IssueStatus]) -> list[tuple[Issue, str]]:
    stmt = _with_slug().where(Issue.status.in_(list(statuses))).order_by(Issue.issue_date, Issue.id)
    return [(i, s) for i, s in session.execute(stmt).all()]


def settleable_issues(session: Session) -> list[tuple[int, str, dt.date]]:
    """Sent issues with a staged unknown batch that settling may still cancel and resend."""
    stmt = (
        select(Issue.id, MailingList.slug, Issue.issue_date)
        .join(MailingList, MailingList.id == Issue.list_id)
        .join(SendBatch, SendBatch.issue_id == Issue.id)
        .where(
            Issue.status == IssueStatus.SENT,
            SendBatch.status == BatchStatus.UNKNOWN,
            SendBatch.sg_batch_id.is_not(None),
            or_(SendBatch.settle_step.is_(None), SendBatch.settle_step != "fallback"),
        )
        .distinct()
    )
    return [(int(i), str(s), d) for i, s, d in session.execute(stmt).all()]


def recent_sends(session: Session, limit: int = 5) -> list[tuple[Issue, str]]:
    stmt = (
        _with_slug()
        .where(Issue.status.in_(SEND_STATES))
        .order_by(Issue.send_started_at.desc().nulls_last(), Issue.id.desc())
        .limit(limit)
    )
    return [(i, s) for i, s in session.execute(stmt).all()]


def batch_totals(session: Session, issue_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per issue: recipients by batch status (accepted, failed, unknown, pending, sending)."""
    if not issue_ids:
        return {}
    stmt = (
        select(SendBatch.issue_id, SendBatch.status, func.sum(SendBatch.recipients))
        .where(SendBatch.issue_id.in_(list(issue_ids)))
        .group_by(SendBatch.issue_id, SendBatch.status)
    )
    totals: dict[int, dict[str, int]] = {i: {} for i in issue_ids}
    for issue_id, status, recipients in session.execute(stmt).all():
        totals[issue_id][BatchStatus(status).value] = int(recipients or 0)
    return totals


def unknown_batches(session: Session, limit: int = 50) -> list[UnknownBatch]:
    """Batches whose outcome is unknown: a human must check SendGrid before resending."""
    stmt = (
        select(SendBatch, Issue.issue_date, MailingList.slug)
        .join(Issue, Issue.id == SendBatch.issue_id)
        .join(MailingList, MailingList.id == Issue.list_id)
        .where(SendBatch.status == BatchStatus.UNKNOWN)
        .order_by(SendBatch.updated_at, SendBatch.issue_id, SendBatch.batch_no)
        .limit(limit)
    )
    return [
        UnknownBatch(
            issue_id=b.issue_id,
            list_slug=slug,
            issue_date=day,
            batch_no=b.batch_no,
            recipients=b.recipients,
            message_id=b.message_id,
            error=b.error,
            updated_at=b.updated_at,
            settle_step=b.settle_step,
            settle_note=b.settle_note,
            request_started_at=b.request_started_at,
        )
        for b, day, slug in session.execute(stmt).all()
    ]


def reschedule(session: Session, issue_id: int, new_date: dt.date, **content: Any) -> bool:
    """Move a draft or approved issue to ``new_date`` with re-rendered ``content``.

    The approval is dropped: the date is printed in the issue, so the content changed.
    False when the issue is no longer editable (it started sending meanwhile).
    """
    stmt = (
        update(Issue)
        .where(Issue.id == issue_id, Issue.status.in_(EDITABLE))
        .values(
            issue_date=new_date,
            status=IssueStatus.DRAFT,
            approved_at=None,
            approved_by=None,
            approved_hash=None,
            updated_at=utcnow(),
            **content,
        )
        .execution_options(synchronize_session=False)
    )
    try:
        with session.begin_nested():
            result = session.execute(stmt)
    except IntegrityError as exc:
        raise ConflictError(
            f"issue {issue_id}: its list already has an issue for {new_date}; "
            "cancel that one first or pick another date"
        ) from exc
    return int(cast(CursorResult[Any], result).rowcount) == 1
