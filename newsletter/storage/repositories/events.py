"""Webhook events: store raw, claim pending, apply effects in bulk, read results.

Every write here is one statement per batch (one cached INSERT ... ON CONFLICT run over
all rows, or an UPDATE with an IN list), never a statement built per event: a
1000-event webhook call must finish well under a second on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.storage.models import (
    Delivery,
    DeliveryOutcome,
    Issue,
    IssueEventCount,
    Membership,
    MembershipStatus,
    SendBatch,
    Subscriber,
    WebhookEvent,
)

# Values per IN list: far below SQLite's and PostgreSQL's bound-parameter caps.
CHUNK = 900

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class PendingEvent:
    id: int
    event: str
    email: str | None
    sg_message_id: str | None
    timestamp: int
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutcomeDelta:
    """What one batch of events adds to one (issue, address) outcome."""

    issue_id: int
    email: str
    email_key: str
    status: str
    status_rank: int
    delivered_at: dt.datetime | None = None
    first_opened_at: dt.datetime | None = None
    first_clicked_at: dt.datetime | None = None
    bounced_at: dt.datetime | None = None
    complained_at: dt.datetime | None = None
    unsubscribed_at: dt.datetime | None = None
    opens: int = 0
    clicks: int = 0


def _chunks(items: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert(session: Session, table: Table) -> Any:
    # ON CONFLICT is spelled the same on both backends, but SQLAlchemy keeps it per dialect.
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def store_events(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert raw events, skipping any that repeat either dedupe key; returns rows added."""
    if not rows:
        return 0
    table = WebhookEvent.__table__
    assert isinstance(table, Table)
    stmt = _insert(session, table).on_conflict_do_nothing().returning(table.c.id)
    # One cached statement run over all rows (SQLAlchemy packs them into multi-row
    # VALUES); RETURNING counts what was new, where psycopg's rowcount would say -1.
    return len(session.execute(stmt, list(rows)).all())


def claim_pending(session: Session, limit: int) -> list[PendingEvent]:
    """The oldest unprocessed events, locked against a concurrent processor."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        # A write first takes SQLite's write lock now, so a second processor waits here
        # instead of reading the same pending rows and counting them twice.
        session.execute(update(WebhookEvent).where(WebhookEvent.id < 0).values(processed=True))
    query = (
        select(
            WebhookEvent.id,
            WebhookEvent.event,
            WebhookEvent.email,
            WebhookEvent.sg_message_id,
            WebhookEvent.timestamp,
            WebhookEvent.payload,
        )
        .where(WebhookEvent.processed.is_(False))
        .order_by(WebhookEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [PendingEvent(*row) for row in session.execute(query)]


def count_pending(session: Session) -> int:
    query = select(func.count()).where(WebhookEvent.processed.is_(False))
    return int(session.scalar(query) or 0)


def mark_processed(session: Session, ids: Sequence[int], now: dt.datetime) -> None:
    for chunk in _chunks(ids):
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id.in_(chunk))
            .values(processed=True, processed_at=now)
        )


def issues_for_message_ids(session: Session, message_ids: Iterable[str]) -> dict[str, int]:
    """X-Message-Id of a send batch -> its issue id, for the ids that are known."""
    wanted = sorted(set(message_ids))
    found: dict[str, int] = {}
    for chunk in _chunks(wanted):
        query = select(SendBatch.message_id, SendBatch.issue_id).where(
            SendBatch.message_id.in_(chunk)
        )
        for message_id, issue_id in session.execute(query):
            if message_id is not None:
                found[message_id] = issue_id
    return found


def existing_issue_ids(session: Session, issue_ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(issue_ids))
    found: set[int] = set()
    for chunk in _chunks(wanted):
        found.update(session.scalars(select(Issue.id).where(Issue.id.in_(chunk))))
    return found


def unsubscribe_everywhere(
    session: Session, email_keys: Sequence[str], now: dt.datetime, *, source: str
) -> int:
    """Every live membership of these addresses becomes unsubscribed; returns rows changed."""
    changed = 0
    for chunk in _chunks(email_keys):
        ids = select(Subscriber.id).where(Subscriber.email_key.in_(chunk)).scalar_subquery()
        result = session.execute(
            update(Membership)
            .where(
                Membership.subscriber_id.in_(ids),
                Membership.status != MembershipStatus.UNSUBSCRIBED,
            )
            .values(
                status=MembershipStatus.UNSUBSCRIBED,
                unsubscribed_at=now,
                unsubscribe_source=source,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        changed += result.rowcount  # type: ignore[attr-defined]
    return changed


def upsert_outcomes(session: Session, deltas: Sequence[OutcomeDelta], now: dt.datetime) -> None:
    """Merge per-address deltas: first timestamps stay, counts add, the top status stays."""
    if not deltas:
        return
    table = DeliveryOutcome.__table__
    assert isinstance(table, Table)
    stmt = _insert(session, table)
    new = stmt.excluded
    old = table.c
    higher = new.status_rank >= old.status_rank
    stmt = stmt.on_conflict_do_update(
        index_elements=[old.issue_id, old.email_key],
        set_={
            "status": case((higher, new.status), else_=old.status),
            "status_rank": case((higher, new.status_rank), else_=old.status_rank),
            "delivered_at": func.coalesce(old.delivered_at, new.delivered_at),
            "first_opened_at": func.coalesce(old.first_opened_at, new.first_opened_at),
            "first_clicked_at": func.coalesce(old.first_clicked_at, new.first_clicked_at),
            "bounced_at": func.coalesce(old.bounced_at, new.bounced_at),
            "complained_at": func.coalesce(old.complained_at, new.complained_at),
            "unsubscribed_at": func.coalesce(old.unsubscribed_at, new.unsubscribed_at),
            "opens": old.opens + new.opens,
            "clicks": old.clicks + new.clicks,
            "updated_at": new.updated_at,
        },
    )
    # Key order: concurrent processors lock rows in the same order and cannot deadlock.
    ordered = sorted(deltas, key=lambda d: (d.issue_id, d.email_key))
    values = [
        {
            "issue_id": d.issue_id,
            "email_key": d.email_key,
            "email": d.email,
            "status": d.status,
            "status_rank": d.status_rank,
            "delivered_at": d.delivered_at,
            "first_opened_at": d.first_opened_at,
            "first_clicked_at": d.first_clicked_at,
            "bounced_at": d.bounced_at,
            "complained_at": d.complained_at,
            "unsubscribed_at": d.unsubscribed_at,
            "opens": d.opens,
            "clicks": d.clicks,
            "updated_at": now,
        }
        for d in ordered
    ]
    session.execute(stmt, values)


def add_event_counts(session: Session, counts: dict[tuple[int, str], int]) -> None:
    if not counts:
        return
    table = IssueEventCount.__table__
    assert isinstance(table, Table)
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.issue_id, table.c.event],
        set_={"count": table.c.count + stmt.excluded.count},
    )
    rows = [{"issue_id": i, "event": e, "count": n} for (i, e), n in sorted(counts.items())]
    session.execute(stmt, rows)


@dataclass(frozen=True)
class OutcomeTotals:
    outcomes: int
    delivered: int
    bounced: int
    opened: int
    clicked: int
    complaints: int
    unsubscribed_events: int


def outcome_totals(session: Session, issue_id: int) -> OutcomeTotals:
    c = DeliveryOutcome
    query = select(
        func.count(),
        func.count(c.delivered_at),
        func.count(c.bounced_at),
        func.count(c.first_opened_at),
        func.count(c.first_clicked_at),
        func.count(c.complained_at),
        func.count(c.unsubscribed_at),
    ).where(c.issue_id == issue_id)
    row = session.execute(query).one()
    return OutcomeTotals(*(int(v or 0) for v in row))


def event_counts(session: Session, issue_id: int) -> dict[str, int]:
    query = select(IssueEventCount.event, IssueEventCount.count).where(
        IssueEventCount.issue_id == issue_id
    )
    return {event: int(count) for event, count in session.execute(query)}


def unsubscribed_since(session: Session, issue_id: int, since: dt.datetime) -> int:
    """Recipients of the issue whose membership of its list ended at or after ``since``."""
    query = (
        select(func.count())
        .select_from(Delivery)
        .join(Issue, Issue.id == Delivery.issue_id)
        .join(
            Membership,
            (Membership.subscriber_id == Delivery.subscriber_id)
            & (Membership.list_id == Issue.list_id),
        )
        .where(
            Delivery.issue_id == issue_id,
            Membership.status == MembershipStatus.UNSUBSCRIBED,
            Membership.unsubscribed_at >= since,
        )
    )
    return int(session.scalar(query) or 0)


def get_issue(session: Session, issue_id: int) -> Issue | None:
    return session.get(Issue, issue_id)
