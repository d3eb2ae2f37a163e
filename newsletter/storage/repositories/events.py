"""Webhook events: store raw, claim pending, apply effects in bulk, read results.

Every write here is one statement per batch, never one per event: the raw events and the
per-address outcomes and the per-issue counters are each written by one INSERT ... SELECT
from the whole batch sent as a single JSON parameter (``rowsets.json_rows``) with ON
CONFLICT; updates take an IN list. A 1000-event webhook
call must finish well under a second on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.storage.models import (
    Base,
    DeliveryOutcome,
    Issue,
    IssueEventCount,
    IssueEventHour,
    IssueLinkClick,
    IssueOutcomeTotals,
    Membership,
    MembershipStatus,
    SendBatch,
    Subscriber,
    WebhookEvent,
)
from newsletter.storage.repositories.rowsets import json_rows

# Values per IN list: far below SQLite's and PostgreSQL's bound-parameter caps.
CHUNK = 900

# The "first time" columns of delivery_outcomes, each with its bit in ``prev_seen``
# (the v0006 migration repeats these numbers: keep them in step).
OUTCOME_BITS = (
    ("delivered_at", 1),
    ("first_opened_at", 2),
    ("first_clicked_at", 4),
    ("bounced_at", 8),
    ("complained_at", 16),
    ("unsubscribed_at", 32),
    ("dropped_at", 64),
)
# The issue_outcome_totals column each of them counts.
OUTCOME_TOTAL_OF = {
    "delivered_at": "delivered",
    "first_opened_at": "opened",
    "first_clicked_at": "clicked",
    "bounced_at": "bounced",
    "complained_at": "complained",
    "unsubscribed_at": "unsubscribed",
    "dropped_at": "dropped",
}

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
    dropped_at: dt.datetime | None = None
    opens: int = 0
    clicks: int = 0


def _chunks(items: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(session: Session, table: Table) -> Any:
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
    names = list(rows[0])
    batch = json_rows(session, table, names, rows)
    stmt = dialect_insert(session, table).from_select(names, batch)
    # One statement for the whole batch, in the order posted (ids follow it); a repeat
    # inside the batch is skipped like one stored earlier. RETURNING counts what was
    # new, where psycopg's rowcount would say -1.
    return len(session.execute(stmt.on_conflict_do_nothing().returning(table.c.id)).all())


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


def mark_failed(session: Session, event_id: int, error: str, now: dt.datetime) -> None:
    """Set a still-pending event aside: no longer pending, with the error that stopped it."""
    session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.processed.is_(False))
        .values(processed=True, processed_at=now, error=error)
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


def seen_mask(columns: Any) -> Any:
    """SQL for the ``prev_seen`` bits of a row whose columns are ``columns``."""
    return sum(
        (case((columns[column].is_(None), 0), else_=bit) for column, bit in OUTCOME_BITS[1:]),
        start=case((columns[OUTCOME_BITS[0][0]].is_(None), 0), else_=OUTCOME_BITS[0][1]),
    )


def upsert_outcomes(
    session: Session, deltas: Sequence[OutcomeDelta], now: dt.datetime
) -> dict[int, Counter[str]]:
    """Merge per-address deltas: first timestamps stay, counts add, the top status stays.

    Returns, per issue, how many people each outcome gained (``OUTCOME_BITS`` names):
    the upsert keeps the row's previous "seen" bits in ``prev_seen`` and returns them
    with the merged row, so the gain is known under the row lock, race-free.
    """
    if not deltas:
        return {}
    table = DeliveryOutcome.__table__
    assert isinstance(table, Table)
    # Key order: concurrent processors lock rows in the same order and cannot deadlock.
    ordered = sorted(deltas, key=lambda d: (d.issue_id, d.email_key))
    values = [
        {
            "issue_id": d.issue_id,
            "email_key": d.email_key,
            "email": d.email,
            "status": d.status,
            "status_rank": d.status_rank,
            **{column: getattr(d, column) for column, _ in OUTCOME_BITS},
            "opens": d.opens,
            "clicks": d.clicks,
            "updated_at": now,
            "prev_seen": 0,
        }
        for d in ordered
    ]
    names = list(values[0])
    stmt = dialect_insert(session, table).from_select(
        names, json_rows(session, table, names, values)
    )
    new = stmt.excluded
    old = table.c
    higher = new.status_rank >= old.status_rank
    merged = {column: func.coalesce(old[column], new[column]) for column, _ in OUTCOME_BITS}
    stmt = stmt.on_conflict_do_update(
        index_elements=[old.issue_id, old.email_key],
        set_={
            "status": case((higher, new.status), else_=old.status),
            "status_rank": case((higher, new.status_rank), else_=old.status_rank),
            **merged,
            "opens": old.opens + new.opens,
            "clicks": old.clicks + new.clicks,
            "updated_at": new.updated_at,
            "prev_seen": seen_mask(old),
        },
    ).returning(old.issue_id, old.prev_seen, *(old[column] for column, _ in OUTCOME_BITS))
    gained: dict[int, Counter[str]] = {}
    for issue_id, prev_seen, *stamps in session.execute(stmt):
        for (column, bit), stamp in zip(OUTCOME_BITS, stamps, strict=True):
            if stamp is not None and not prev_seen & bit:
                gained.setdefault(issue_id, Counter())[OUTCOME_TOTAL_OF[column]] += 1
    return gained


def add_counts(
    session: Session, model: type[Base], keys: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """Add each row's other columns onto the row with the same ``keys`` (or insert it)."""
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, Table)
    names = list(rows[0])
    added = [name for name in names if name not in keys]
    # Key order, as in upsert_outcomes: concurrent processors cannot deadlock.
    ordered = sorted(rows, key=lambda row: tuple(row[name] for name in keys))
    stmt = dialect_insert(session, table).from_select(
        names, json_rows(session, table, names, ordered)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[name] for name in keys],
        set_={name: table.c[name] + stmt.excluded[name] for name in added},
    )
    session.execute(stmt)


def add_event_counts(session: Session, counts: dict[tuple[int, str], int]) -> None:
    rows = [{"issue_id": i, "event": e, "count": n} for (i, e), n in counts.items()]
    add_counts(session, IssueEventCount, ("issue_id", "event"), rows)


def add_event_hours(session: Session, counts: dict[tuple[int, int, str], int]) -> None:
    rows = [{"issue_id": i, "hour": h, "event": e, "count": n} for (i, h, e), n in counts.items()]
    add_counts(session, IssueEventHour, ("issue_id", "hour", "event"), rows)


def add_link_clicks(session: Session, counts: dict[tuple[int, str], int]) -> None:
    rows = [{"issue_id": i, "url": u, "count": n} for (i, u), n in counts.items()]
    add_counts(session, IssueLinkClick, ("issue_id", "url"), rows)


def add_outcome_totals(session: Session, gained: dict[int, Counter[str]]) -> None:
    names = sorted(OUTCOME_TOTAL_OF.values())
    rows = [
        {"issue_id": issue_id, **{name: counts.get(name, 0) for name in names}}
        for issue_id, counts in gained.items()
    ]
    add_counts(session, IssueOutcomeTotals, ("issue_id",), rows)


def get_issue(session: Session, issue_id: int) -> Issue | None:
    return session.get(Issue, issue_id)
