"""The send ledger: delivery rows, send batches, and their compare-and-set moves.

A recipient's outcome is its batch's status; a delivery row only records whether the
person was still queued or was skipped at send time. That keeps recording a batch to a
one-row UPDATE, which matters at a thousand batches per million recipients.

The snapshot is written by INSERT ... SELECT straight from the audience query, with
batch numbers computed by the database, so no recipient passes through Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from sqlalchemy import (
    CursorResult,
    Integer,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from newsletter.storage.models import (
    BatchStatus,
    Delivery,
    DeliveryStatus,
    Membership,
    SendBatch,
    Subscriber,
    utcnow,
)
from newsletter.storage.repositories.audience import _sendable_condition

# (subscriber_id, email, name, first_name, still_sendable): one row of a batch.
BatchRow = tuple[int, str, str | None, str | None, bool]

_DELIVERIES = cast(Table, Delivery.__table__)
_BATCHES = cast(Table, SendBatch.__table__)
_MEMBERSHIPS = cast(Table, Membership.__table__)
_SUBSCRIBERS = cast(Table, Subscriber.__table__)
_D = _DELIVERIES.c
_B = _BATCHES.c


@dataclass(frozen=True)
class BatchInfo:
    batch_no: int
    status: BatchStatus
    recipients: int
    skipped: int
    attempts: int
    message_id: str | None
    error: str | None
    error_field: str | None
    status_code: int | None
    updated_at: dt.datetime
    sg_batch_id: str | None = None
    send_at: dt.datetime | None = None
    settle_step: str | None = None
    settle_note: str | None = None
    settle_rule: str | None = None
    events_seen: int = 0
    request_started_at: dt.datetime | None = None
    """When the latest request started to be written (None: none may have left)."""


@dataclass(frozen=True)
class LedgerCounts:
    """Batches and recipients per batch status; recipients exclude skipped people."""

    batches: dict[BatchStatus, int] = field(default_factory=dict)
    recipients: dict[BatchStatus, int] = field(default_factory=dict)
    skipped: int = 0

    @property
    def total_batches(self) -> int:
        return sum(self.batches.values())

    @property
    def total_recipients(self) -> int:
        return sum(self.recipients.values()) + self.skipped

    def batches_in(self, status: BatchStatus) -> int:
        return self.batches.get(status, 0)

    def recipients_in(self, status: BatchStatus) -> int:
        return self.recipients.get(status, 0)


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _run(session: Session, stmt: Any) -> Any:
    # Core statements on the session's connection: no ORM bookkeeping on the hot path.
    return session.connection().execute(stmt)


def snapshot_position(
    session: Session, issue_id: int, send_at: dt.datetime | None = None
) -> tuple[int | None, int]:
    """The last subscriber id written so far (of the batches with ``send_at``, when given)
    and the last batch number overall: where a snapshot resumes."""
    last = select(func.max(_D.subscriber_id)).where(_D.issue_id == issue_id)
    if send_at is not None:
        batches = select(_B.batch_no).where(_B.issue_id == issue_id, _B.send_at == send_at)
        last = last.where(_D.batch_no.in_(batches.scalar_subquery()))
    last_subscriber = session.scalar(last)
    last_batch = session.scalar(select(func.max(_B.batch_no)).where(_B.issue_id == issue_id))
    return last_subscriber, int(last_batch or 0)


def has_batches_at(session: Session, issue_id: int, send_at: dt.datetime) -> bool:
    """Whether the snapshot has started the group of ``send_at``."""
    found = session.scalar(
        select(_B.batch_no).where(_B.issue_id == issue_id, _B.send_at == send_at).limit(1)
    )
    return found is not None


def sendable_zones(session: Session, list_id: int) -> list[str | None]:
    """Every distinct time zone among a list's sendable members (None: no zone)."""
    stmt = (
        select(_SUBSCRIBERS.c.timezone)
        .select_from(_MEMBERSHIPS)
        .join(_SUBSCRIBERS, _SUBSCRIBERS.c.id == _MEMBERSHIPS.c.subscriber_id)
        .where(and_(*_sendable_condition(list_id)))  # type: ignore[arg-type]
        .distinct()
    )
    return list(session.scalars(stmt))


def snapshot_recipients(session: Session, issue_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(_B.recipients), 0)).where(_B.issue_id == issue_id)
    )
    return int(total or 0)


def snapshot_chunk(
    session: Session,
    issue_id: int,
    list_id: int,
    *,
    after: int,
    first_batch: int,
    batch_size: int,
    limit: int,
    send_at: dt.datetime | None = None,
    zones: Collection[str] | None = None,
) -> int:
    """Copy the next ``limit`` sendable members (ids above ``after``) into deliveries.

    Batch numbers start at ``first_batch`` and are cut every ``batch_size`` rows; the
    matching send_batches rows are written too, with ``send_at``. With ``zones``, only
    members whose time zone is one of them ("" for no zone). Returns how many were copied.
    """
    where = [*_sendable_condition(list_id), _MEMBERSHIPS.c.subscriber_id > after]
    if zones is not None:
        where.append(func.coalesce(_SUBSCRIBERS.c.timezone, "").in_(list(zones)))
    page = (
        select(
            _SUBSCRIBERS.c.id, _SUBSCRIBERS.c.email, _SUBSCRIBERS.c.name, _SUBSCRIBERS.c.first_name
        )
        .select_from(_MEMBERSHIPS)
        .join(_SUBSCRIBERS, _SUBSCRIBERS.c.id == _MEMBERSHIPS.c.subscriber_id)
        .where(and_(*where))  # type: ignore[arg-type]
        .order_by(_MEMBERSHIPS.c.subscriber_id)
        .limit(limit)
        .subquery()
    )
    position = func.row_number().over(order_by=page.c.id) - 1
    rows = select(
        literal(issue_id, Integer),
        page.c.id,
        literal(first_batch, Integer) + position // batch_size,
        page.c.email,
        page.c.name,
        page.c.first_name,
        literal(DeliveryStatus.QUEUED.value),
    )
    columns = ["issue_id", "subscriber_id", "batch_no", "email", "name", "first_name", "status"]
    copy = insert(_DELIVERIES).from_select(columns, rows)
    # psycopg reports no row count for INSERT ... SELECT unless asked to keep it.
    copied = _rowcount(_run(session, copy.execution_options(preserve_rowcount=True)))
    if copied:
        sizes = (
            select(
                _D.issue_id,
                _D.batch_no,
                literal(BatchStatus.PENDING.value),
                func.count(),
                literal(0, Integer),
                literal(0, Integer),
                literal(utcnow(), _B.updated_at.type),
                literal(send_at, _B.send_at.type),
            )
            .where(_D.issue_id == issue_id, _D.batch_no >= first_batch)
            .group_by(_D.issue_id, _D.batch_no)
        )
        batch_columns = [
            "issue_id",
            "batch_no",
            "status",
            "recipients",
            "skipped",
            "attempts",
            "updated_at",
            "send_at",
        ]
        _run(session, insert(_BATCHES).from_select(batch_columns, sizes))
    return copied


def batch_numbers(session: Session, issue_id: int, statuses: Collection[BatchStatus]) -> list[int]:
    stmt = (
        select(_B.batch_no)
        .where(_B.issue_id == issue_id, _B.status.in_([s.value for s in statuses]))
        .order_by(_B.batch_no)
    )
    return [int(n) for n in session.scalars(stmt)]


def batch_infos(
    session: Session, issue_id: int, statuses: Collection[BatchStatus] | None = None
) -> list[BatchInfo]:
    stmt = select(SendBatch).where(SendBatch.issue_id == issue_id).order_by(SendBatch.batch_no)
    if statuses is not None:
        stmt = stmt.where(SendBatch.status.in_(list(statuses)))
    return [
        BatchInfo(
            batch_no=b.batch_no,
            status=b.status,
            recipients=b.recipients,
            skipped=b.skipped,
            attempts=b.attempts,
            message_id=b.message_id,
            error=b.error,
            error_field=b.error_field,
            status_code=b.status_code,
            updated_at=b.updated_at,
            sg_batch_id=b.sg_batch_id,
            send_at=b.send_at,
            settle_step=b.settle_step,
            settle_note=b.settle_note,
            settle_rule=b.settle_rule,
            events_seen=b.events_seen or 0,
            request_started_at=b.request_started_at,
        )
        for b in session.scalars(stmt.execution_options(populate_existing=True))
    ]


def batch_recipients(
    session: Session, issue_id: int, batch_no: int, list_id: int
) -> list[BatchRow]:
    """Everyone still queued in a batch, each flagged sendable-now or not: one SELECT."""
    membership = and_(
        _MEMBERSHIPS.c.list_id == list_id, _MEMBERSHIPS.c.subscriber_id == _D.subscriber_id
    )
    sendable = case((and_(*_sendable_condition(list_id)), 1), else_=0)  # type: ignore[arg-type]
    stmt = (
        select(_D.subscriber_id, _D.email, _D.name, _D.first_name, sendable)
        .select_from(_DELIVERIES)
        .outerjoin(_MEMBERSHIPS, membership)
        .outerjoin(_SUBSCRIBERS, _SUBSCRIBERS.c.id == _D.subscriber_id)
        .where(
            _D.issue_id == issue_id,
            _D.batch_no == batch_no,
            _D.status == DeliveryStatus.QUEUED.value,
        )
    )
    if session.get_bind().dialect.name == "sqlite":
        # One JSON value instead of 1000 rows: sqlite3 hands back the GIL on every row it
        # fetches, which made this read (done while the batch's claim holds the write
        # lock) ~20x slower with the worker threads running.
        columns = stmt.selected_columns
        packed = stmt.with_only_columns(func.json_group_array(func.json_array(*columns)))
        raw = _run(session, packed).scalar_one()
        return [
            (sid, email, name, first, bool(ok)) for sid, email, name, first, ok in orjson.loads(raw)
        ]
    return [
        (sid, email, name, first, bool(ok)) for sid, email, name, first, ok in _run(session, stmt)
    ]


def skip_deliveries(
    session: Session, issue_id: int, subscriber_ids: Collection[int], reason: str
) -> int:
    if not subscriber_ids:
        return 0
    stmt = (
        update(_DELIVERIES)
        .where(
            _D.issue_id == issue_id,
            _D.subscriber_id.in_(list(subscriber_ids)),
            _D.status == DeliveryStatus.QUEUED.value,
        )
        .values(status=DeliveryStatus.SKIPPED.value, skip_reason=reason)
    )
    return _rowcount(_run(session, stmt))


def _move_batch(
    session: Session,
    issue_id: int,
    batch_no: int,
    expected: BatchStatus,
    **values: Any,
) -> bool:
    stmt = (
        update(_BATCHES)
        .where(_B.issue_id == issue_id, _B.batch_no == batch_no, _B.status == expected.value)
        .values(updated_at=utcnow(), **values)
    )
    return _rowcount(_run(session, stmt)) == 1


def claim_batch(
    session: Session,
    issue_id: int,
    batch_no: int,
    *,
    newly_skipped: int,
    sg_batch_id: str | None = None,
    not_before: dt.datetime | None = None,
) -> bool:
    """pending -> sending, before the request goes out; True when this caller won.

    With ``sg_batch_id`` the batch's SendGrid batch id is stored in the same commit, and
    a ``send_at`` earlier than ``not_before`` moves to ``not_before``.
    """
    values: dict[str, Any] = {}
    if sg_batch_id is not None:
        values["sg_batch_id"] = sg_batch_id
        values["settle_step"] = None
    if not_before is not None:
        values["send_at"] = case(
            (_B.send_at.is_(None), not_before),
            (_B.send_at < not_before, not_before),
            else_=_B.send_at,
        )
    return _move_batch(
        session,
        issue_id,
        batch_no,
        BatchStatus.PENDING,
        status=BatchStatus.SENDING.value,
        attempts=_B.attempts + 1,
        skipped=_B.skipped + newly_skipped,
        request_started_at=None,
        **values,
    )


def set_request_started(
    session: Session, issue_id: int, batch_no: int, at: dt.datetime | None
) -> bool:
    """Mark (``at``) or clear (None) the start of a claimed batch's request.

    Compare-and-set on ``sending``: False means the batch is no longer ours, and a
    request about to start must not.
    """
    return _move_batch(session, issue_id, batch_no, BatchStatus.SENDING, request_started_at=at)


def batch_send_at(session: Session, issue_id: int, batch_no: int) -> dt.datetime | None:
    value: dt.datetime | None = session.scalar(
        select(SendBatch.send_at).where(
            SendBatch.issue_id == issue_id, SendBatch.batch_no == batch_no
        )
    )
    return value


def batch_outcome(
    session: Session, issue_id: int, batch_no: int
) -> tuple[BatchStatus, str | None] | None:
    """A batch's status and message id (None when there is no such batch)."""
    row = _run(
        session,
        select(_B.status, _B.message_id).where(_B.issue_id == issue_id, _B.batch_no == batch_no),
    ).first()
    return None if row is None else (BatchStatus(row[0]), row[1])


def set_settle(
    session: Session,
    issue_id: int,
    batch_no: int,
    *,
    expected: BatchStatus,
    step: str | None,
    note: str | None,
    to_status: BatchStatus | None = None,
    clear_batch_id: bool = False,
    rule: str | None = None,
) -> bool:
    """Record a settling step of one batch (compare-and-set on its status); ``rule``
    names the rule that settled it, when this step settles it."""
    values: dict[str, Any] = {"settle_step": step, "settle_note": note}
    if rule is not None:
        values["settle_rule"] = rule
    if to_status is not None:
        values["status"] = to_status.value
    if clear_batch_id:
        values["sg_batch_id"] = None
    return _move_batch(session, issue_id, batch_no, expected, **values)


def add_skipped(session: Session, issue_id: int, batch_no: int, count: int) -> None:
    stmt = (
        update(_BATCHES)
        .where(_B.issue_id == issue_id, _B.batch_no == batch_no)
        .values(skipped=_B.skipped + count)
    )
    _run(session, stmt)


def record_outcome(
    session: Session,
    issue_id: int,
    batch_no: int,
    status: BatchStatus,
    *,
    message_id: str | None = None,
    error: str | None = None,
    error_field: str | None = None,
    status_code: int | None = None,
) -> bool:
    """sending -> ``status`` after the request; True when it moved.

    Pending and failed mean SendGrid did not take the request, so its start time is
    cleared; accepted and unknown keep it (when the request that counts went out).
    """
    extra: dict[str, Any] = {}
    if status in (BatchStatus.PENDING, BatchStatus.FAILED):
        extra["request_started_at"] = None
    return _move_batch(
        session,
        issue_id,
        batch_no,
        BatchStatus.SENDING,
        **extra,
        status=status.value,
        message_id=message_id,
        error=error,
        error_field=error_field,
        status_code=status_code,
    )


def move_batches(
    session: Session,
    issue_id: int,
    *,
    from_status: BatchStatus,
    to_status: BatchStatus,
    error: str | None = None,
) -> list[int]:
    """Move every batch in ``from_status``; returns their numbers."""
    numbers = batch_numbers(session, issue_id, [from_status])
    _move_numbers(
        session, issue_id, numbers, from_status=from_status, to_status=to_status, error=error
    )
    return numbers


def _move_numbers(
    session: Session,
    issue_id: int,
    numbers: list[int],
    *,
    from_status: BatchStatus,
    to_status: BatchStatus,
    error: str | None,
) -> None:
    if not numbers:
        return
    values: dict[str, Any] = {"status": to_status.value, "updated_at": utcnow()}
    if error is not None:
        values["error"] = error
    stmt = (
        update(_BATCHES)
        .where(_B.issue_id == issue_id, _B.batch_no.in_(numbers), _B.status == from_status.value)
        .values(**values)
    )
    _run(session, stmt)


def recover_inflight(session: Session, issue_id: int, *, error: str) -> tuple[list[int], list[int]]:
    """Batches left ``sending`` by a dead process: (became unknown, back to pending).

    Only a batch whose request had started may have reached SendGrid; one still
    building its body or waiting out a backoff had sent nothing that was accepted.
    """
    stmt = select(_B.batch_no, _B.request_started_at.is_not(None)).where(
        _B.issue_id == issue_id, _B.status == BatchStatus.SENDING.value
    )
    rows = [(int(n), bool(started)) for n, started in _run(session, stmt)]
    unknown = sorted(n for n, started in rows if started)
    pending = sorted(n for n, started in rows if not started)
    sending = BatchStatus.SENDING
    _move_numbers(
        session, issue_id, unknown, from_status=sending, to_status=BatchStatus.UNKNOWN, error=error
    )
    _move_numbers(
        session, issue_id, pending, from_status=sending, to_status=BatchStatus.PENDING, error=None
    )
    return unknown, pending


def ledger_counts(session: Session, issue_id: int) -> LedgerCounts:
    stmt = (
        select(
            _B.status,
            func.count(),
            func.coalesce(func.sum(_B.recipients - _B.skipped), 0),
            func.coalesce(func.sum(_B.skipped), 0),
        )
        .where(_B.issue_id == issue_id)
        .group_by(_B.status)
    )
    batches: dict[BatchStatus, int] = {}
    recipients: dict[BatchStatus, int] = {}
    skipped = 0
    for status, count, people, skipped_here in _run(session, stmt):
        batches[BatchStatus(status)] = int(count)
        recipients[BatchStatus(status)] = int(people)
        skipped += int(skipped_here)
    return LedgerCounts(batches=batches, recipients=recipients, skipped=skipped)


def recipients_with_outcome(session: Session, issue_id: int, status: BatchStatus) -> set[int]:
    """For audits and tests: who was queued in a batch that ended in ``status``."""
    stmt = (
        select(_D.subscriber_id)
        .select_from(_DELIVERIES)
        .join(_BATCHES, and_(_B.issue_id == _D.issue_id, _B.batch_no == _D.batch_no))
        .where(
            _D.issue_id == issue_id,
            _D.status == DeliveryStatus.QUEUED.value,
            _B.status == status.value,
        )
    )
    return {int(sid) for (sid,) in _run(session, stmt)}


def skipped_recipients(session: Session, issue_id: int) -> set[int]:
    stmt = select(_D.subscriber_id).where(
        _D.issue_id == issue_id, _D.status == DeliveryStatus.SKIPPED.value
    )
    return {int(sid) for (sid,) in _run(session, stmt)}


def mark_unknown_accepted(
    session: Session,
    issue_id: int,
    batch_nos: Collection[int] | None,
    *,
    note: str,
    rule: str | None = None,
) -> list[int]:
    """unknown -> accepted for the given batches (all unknown ones when ``None``)."""
    unknown = batch_numbers(session, issue_id, [BatchStatus.UNKNOWN])
    chosen = unknown if batch_nos is None else [n for n in unknown if n in set(batch_nos)]
    values = {"settle_note": note, "settle_step": None, "settle_rule": rule}
    return [
        n
        for n in chosen
        if _move_batch(
            session, issue_id, n, BatchStatus.UNKNOWN, status=BatchStatus.ACCEPTED.value, **values
        )
    ]
