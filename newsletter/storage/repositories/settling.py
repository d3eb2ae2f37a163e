"""Settling send batches: webhook evidence and what it settles (services/batch_settle),
and the issues an operator holds at SendGrid (services/hold)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, or_, select, update
from sqlalchemy.orm import Session

from newsletter.storage.models import BatchStatus, SendBatch, utcnow

_BATCHES = cast(Table, SendBatch.__table__)
_B = _BATCHES.c

# (issue id, batch number, SendGrid batch id or None): one request's events.
BatchKey = tuple[int, int, str | None]


@dataclass(frozen=True)
class Candidate:
    """An unknown batch that settling by events may decide."""

    issue_id: int
    batch_no: int
    recipients: int
    send_at: dt.datetime | None
    events_seen: int


def _same_request(key: BatchKey) -> Any:
    issue_id, batch_no, sg_batch_id = key
    same_id = _B.sg_batch_id.is_(None) if sg_batch_id is None else _B.sg_batch_id == sg_batch_id
    return and_(_B.issue_id == issue_id, _B.batch_no == batch_no, same_id)


def add_batch_events(session: Session, counts: Mapping[BatchKey, int]) -> None:
    """Count processed/delivered events on the batch whose current request sent them.

    An event of an earlier request of the same batch (cancelled and sent again under a
    new batch id) matches no row: it says nothing about the current request.
    """
    for key, count in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        stmt = update(_BATCHES).where(_same_request(key))
        session.connection().execute(stmt.values(events_seen=_B.events_seen + count))


def unknown_with_events(session: Session, keys: list[BatchKey]) -> list[Candidate]:
    """Those of ``keys`` whose batch is unknown and has events counted."""
    if not keys:
        return []
    stmt = select(_B.issue_id, _B.batch_no, _B.recipients - _B.skipped, _B.send_at, _B.events_seen)
    stmt = stmt.where(
        or_(*[_same_request(k) for k in keys]),
        _B.status == BatchStatus.UNKNOWN.value,
        _B.events_seen > 0,
    )
    return [Candidate(*row) for row in session.connection().execute(stmt)]


def silent_unknown(
    session: Session, *, sent_before: dt.datetime, issue_id: int | None = None
) -> list[Candidate]:
    """Staged unknown batches with no event whose ``send_at`` is before ``sent_before``."""
    stmt = select(_B.issue_id, _B.batch_no, _B.recipients - _B.skipped, _B.send_at, _B.events_seen)
    stmt = stmt.where(
        _B.status == BatchStatus.UNKNOWN.value,
        _B.sg_batch_id.is_not(None),
        _B.events_seen == 0,
        _B.send_at <= sent_before,
    )
    if issue_id is not None:
        stmt = stmt.where(_B.issue_id == issue_id)
    stmt = stmt.order_by(_B.issue_id, _B.batch_no)
    return [Candidate(*row) for row in session.connection().execute(stmt)]


def batches_with_events(session: Session, issue_id: int, *, after: int) -> list[int]:
    """The issue's batches numbered above ``after`` that have events counted."""
    stmt = (
        select(_B.batch_no)
        .where(_B.issue_id == issue_id, _B.batch_no > after, _B.events_seen > 0)
        .order_by(_B.batch_no)
    )
    return [int(n) for n in session.scalars(stmt)]


def settle_unknown(
    session: Session,
    issue_id: int,
    batch_no: int,
    *,
    to_status: BatchStatus,
    rule: str,
    note: str,
) -> bool:
    """unknown -> ``to_status`` (compare-and-set), recording the rule and its note."""
    stmt = (
        update(_BATCHES)
        .where(
            _B.issue_id == issue_id,
            _B.batch_no == batch_no,
            _B.status == BatchStatus.UNKNOWN.value,
        )
        .values(
            status=to_status.value,
            settle_step=None,
            settle_rule=rule,
            settle_note=note,
            updated_at=utcnow(),
        )
    )
    result = cast(CursorResult[Any], session.connection().execute(stmt))
    return int(result.rowcount) == 1
