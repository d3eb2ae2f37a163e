"""The issue queue as the scheduler sees it: what is due on a date, what may settle.

State changes go through ``repositories.issues`` (compare-and-set); this module adds
the scheduler's reads and the one in-place edit the queue needs, a reschedule. What
``newsletter status`` reads of the queue (upcoming, last sends, unknown batches) is in
``repositories.overview``, in Core.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
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
from newsletter.storage.repositories.overview import EDITABLE


def _with_slug() -> Any:
    return select(Issue, MailingList.slug).join(MailingList, MailingList.id == Issue.list_id)


def issues_on(session: Session, issue_date: dt.date) -> list[tuple[Issue, str]]:
    """The live (not cancelled) issues of every list for one date."""
    stmt = _with_slug().where(Issue.issue_date == issue_date, Issue.status != IssueStatus.CANCELLED)
    return [(i, s) for i, s in session.execute(stmt.order_by(MailingList.slug)).all()]


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
