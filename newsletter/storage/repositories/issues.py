"""Issues: create, read, and compare-and-set state changes.

Every change of ``status`` (and of the send lease) is a single conditional UPDATE
whose row count says whether this caller won; nothing here reads a status and then
writes it in a second step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Update, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.errors import ConflictError, NotFoundError
from newsletter.storage.models import Issue, IssueStatus, MailingList, utcnow

# Issues whose content has reached (some) subscribers; assembly must not repeat it.
DELIVERED_STATUSES = (IssueStatus.SENDING, IssueStatus.SENT, IssueStatus.FAILED)


@dataclass(frozen=True)
class NewIssue:
    """The stored snapshot of one assembled and rendered issue."""

    list_id: int
    issue_date: dt.date
    subject: str
    preheader: str
    html: str
    text: str
    article_slugs: Sequence[str]
    tip_slugs: Sequence[str]
    content_hash: str
    source: str = "auto"
    notes: Sequence[str] = ()
    intro: str = ""
    subject_chosen: bool = False
    preheader_chosen: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    issue_date: dt.date
    article_slugs: tuple[str, ...]
    tip_slugs: tuple[str, ...]


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _execute_update(session: Session, stmt: Update) -> int:
    return _rowcount(session.execute(stmt.execution_options(synchronize_session=False)))


def get_issue(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id, populate_existing=True)
    if issue is None:
        raise NotFoundError(f"issue {issue_id} does not exist (see `newsletter issue list`)")
    return issue


def list_slug(session: Session, list_id: int) -> str:
    slug = session.scalar(select(MailingList.slug).where(MailingList.id == list_id))
    if slug is None:
        raise NotFoundError(f"list id {list_id} does not exist")
    return slug


def find_live_issue(session: Session, list_id: int, issue_date: dt.date) -> Issue | None:
    """The one issue of this list and date that is not cancelled, if any."""
    return session.scalar(
        select(Issue).where(
            Issue.list_id == list_id,
            Issue.issue_date == issue_date,
            Issue.status != IssueStatus.CANCELLED,
        )
    )


def create_issue(session: Session, new: NewIssue) -> Issue:
    """Insert a draft; ``ConflictError`` if the list already has a live issue that day."""
    existing = find_live_issue(session, new.list_id, new.issue_date)
    if existing is not None:
        raise ConflictError(
            f"list {list_slug(session, new.list_id)!r} already has issue {existing.id} for "
            f"{new.issue_date} (status {existing.status})"
        )
    now = utcnow()
    issue = Issue(
        list_id=new.list_id,
        issue_date=new.issue_date,
        status=IssueStatus.DRAFT,
        subject=new.subject,
        preheader=new.preheader,
        html=new.html,
        text=new.text,
        article_slugs=list(new.article_slugs),
        tip_slugs=list(new.tip_slugs),
        content_hash=new.content_hash,
        source=new.source,
        notes=list(new.notes),
        intro=new.intro,
        subject_chosen=new.subject_chosen,
        preheader_chosen=new.preheader_chosen,
        created_at=now,
        updated_at=now,
        snapshot_done=False,
        recipients=0,
        batch_count=0,
    )
    session.add(issue)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        # Another process built the same list and date between our check and insert.
        raise ConflictError(
            f"list {list_slug(session, new.list_id)!r} already has an issue for {new.issue_date}"
        ) from exc
    return issue


def list_issues(
    session: Session, *, list_id: int | None = None, limit: int = 50
) -> list[tuple[Issue, str]]:
    """Newest first, each with its list's slug."""
    stmt = (
        select(Issue, MailingList.slug)
        .join(MailingList, MailingList.id == Issue.list_id)
        .order_by(Issue.issue_date.desc(), Issue.id.desc())
        .limit(limit)
    )
    if list_id is not None:
        stmt = stmt.where(Issue.list_id == list_id)
    return [(issue, slug) for issue, slug in session.execute(stmt)]


def delivered_history(
    session: Session, list_id: int, *, exclude_date: dt.date | None = None
) -> list[HistoryEntry]:
    """What this list has received, oldest first (the input of assembly's history)."""
    stmt = (
        select(Issue.issue_date, Issue.article_slugs, Issue.tip_slugs)
        .where(Issue.list_id == list_id, Issue.status.in_(DELIVERED_STATUSES))
        .order_by(Issue.issue_date, Issue.id)
    )
    if exclude_date is not None:
        stmt = stmt.where(Issue.issue_date != exclude_date)
    return [
        HistoryEntry(day, tuple(articles or ()), tuple(tips or ()))
        for day, articles, tips in session.execute(stmt)
    ]


def transition(
    session: Session,
    issue_id: int,
    *,
    expected: IssueStatus | Collection[IssueStatus],
    to: IssueStatus,
    **values: Any,
) -> bool:
    """Compare-and-set the status (plus ``values``); True when this caller won."""
    allowed = [expected] if isinstance(expected, IssueStatus) else list(expected)
    stmt = (
        update(Issue)
        .where(Issue.id == issue_id, Issue.status.in_(allowed))
        .values(status=to, updated_at=utcnow(), **values)
    )
    return _execute_update(session, stmt) == 1


def take_lease(
    session: Session,
    issue_id: int,
    *,
    expected: Collection[IssueStatus],
    seen_owner: str | None,
    owner: str,
    until: dt.datetime,
    **values: Any,
) -> bool:
    """Move to ``sending`` under a new lease, if status and lease holder are as seen."""
    lease_matches = (
        Issue.lease_owner.is_(None) if seen_owner is None else (Issue.lease_owner == seen_owner)
    )
    stmt = (
        update(Issue)
        .where(Issue.id == issue_id, Issue.status.in_(list(expected)), lease_matches)
        .values(
            status=IssueStatus.SENDING,
            lease_owner=owner,
            lease_until=until,
            updated_at=utcnow(),
            **values,
        )
    )
    return _execute_update(session, stmt) == 1


def renew_lease(session: Session, issue_id: int, owner: str, until: dt.datetime) -> bool:
    stmt = (
        update(Issue)
        .where(Issue.id == issue_id, Issue.lease_owner == owner)
        .values(lease_until=until)
    )
    return _execute_update(session, stmt) == 1


def finish_send(
    session: Session, issue_id: int, owner: str, *, to: IssueStatus, **values: Any
) -> bool:
    """Leave ``sending`` (to sent, failed or back to approved) and drop our lease."""
    stmt = (
        update(Issue)
        .where(
            Issue.id == issue_id,
            Issue.status == IssueStatus.SENDING,
            or_(Issue.lease_owner == owner, Issue.lease_owner.is_(None)),
        )
        .values(status=to, lease_owner=None, lease_until=None, updated_at=utcnow(), **values)
    )
    return _execute_update(session, stmt) == 1


def release_lease(session: Session, issue_id: int, owner: str) -> None:
    stmt = (
        update(Issue)
        .where(Issue.id == issue_id, Issue.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )
    _execute_update(session, stmt)


def set_snapshot_totals(session: Session, issue_id: int, *, recipients: int, batches: int) -> None:
    stmt = (
        update(Issue)
        .where(Issue.id == issue_id)
        .values(snapshot_done=True, recipients=recipients, batch_count=batches)
    )
    _execute_update(session, stmt)
