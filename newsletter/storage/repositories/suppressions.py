"""Global suppressions: addresses that must never be mailed, whatever the list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from newsletter.storage.models import Suppression, SuppressionReason, utcnow
from newsletter.storage.repositories.subscribers import insert_ignoring_conflicts, rows_where_in

SUPPRESSIONS: Table = Suppression.__table__  # type: ignore[assignment]


def get(session: Session, email_key: str) -> Suppression | None:
    return session.scalars(select(Suppression).where(Suppression.email_key == email_key)).first()


def add(
    session: Session, *, email: str, email_key: str, reason: SuppressionReason, source: str
) -> tuple[Suppression, bool]:
    """Suppress an address; an existing suppression is kept as it is. (row, created)."""
    created = add_many(session, [(email, email_key, reason, source)]) == 1
    found = get(session, email_key)
    assert found is not None  # just inserted, or already there
    return found, created


def add_many(session: Session, entries: Sequence[tuple[str, str, SuppressionReason, str]]) -> int:
    """Suppress many (email, email_key, reason, source); returns the driver's row count."""
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {"email": e, "email_key": k, "reason": r.value, "source": s, "created_at": now}
        for e, k, r, s in entries
    ]
    return insert_ignoring_conflicts(session, SUPPRESSIONS, rows, ["email_key"])


def remove(session: Session, email_key: str) -> bool:
    result = session.connection().execute(
        delete(SUPPRESSIONS).where(SUPPRESSIONS.c.email_key == email_key)
    )
    session.expire_all()
    return result.rowcount > 0


def list_all(
    session: Session, *, reason: SuppressionReason | None = None, limit: int | None = None
) -> list[Suppression]:
    """Newest first."""
    stmt = select(Suppression).order_by(Suppression.created_at.desc(), Suppression.id.desc())
    if reason is not None:
        stmt = stmt.where(Suppression.reason == reason)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SUPPRESSIONS)) or 0)


def suppressed_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these keys are suppressed."""
    sql = "SELECT email_key FROM suppressions WHERE email_key IN ({values})"
    return {key for (key,) in rows_where_in(session, sql, keys)}
