"""Sliding-window counts of rate-limit hits, shared by every process on one database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.orm import Session

from newsletter.storage.models import RateLimitHit

HITS: Table = RateLimitHit.__table__  # type: ignore[assignment]


def lock_subject(session: Session, scope: str, subject: str) -> None:
    """Serialize concurrent checks of one subject until the transaction ends.

    On PostgreSQL a transaction-scoped advisory lock; SQLite needs none, because the
    insert that follows takes its single write lock before anyone can count.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"{scope}|{subject}"},
        )


def add_hit(session: Session, scope: str, subject: str, at: dt.datetime) -> int:
    result = session.execute(
        insert(HITS).values(scope=scope, subject=subject, at=at).returning(HITS.c.id)
    )
    return int(result.scalar_one())


def remove_hit(session: Session, hit_id: int) -> None:
    session.execute(delete(HITS).where(HITS.c.id == hit_id))


def hits_since(
    session: Session, scope: str, subject: str, since: dt.datetime, *, exclude: int
) -> list[dt.datetime]:
    """Times of the subject's hits after ``since``, oldest first, leaving out one hit id."""
    rows = session.execute(
        select(HITS.c.at)
        .where(
            HITS.c.scope == scope,
            HITS.c.subject == subject,
            HITS.c.at > since,
            HITS.c.id != exclude,
        )
        .order_by(HITS.c.at)
    )
    return [at for (at,) in rows]


def forget_subject_before(session: Session, scope: str, subject: str, before: dt.datetime) -> None:
    session.execute(
        delete(HITS).where(HITS.c.scope == scope, HITS.c.subject == subject, HITS.c.at <= before)
    )


def prune(session: Session, before: dt.datetime) -> int:
    """Drop every hit older than ``before`` (no window looks back that far)."""
    result = session.connection().execute(delete(HITS).where(HITS.c.at <= before))
    return int(result.rowcount or 0)


def clear(session: Session, scope: str, subject: str) -> None:
    session.execute(delete(HITS).where(HITS.c.scope == scope, HITS.c.subject == subject))


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(HITS)) or 0)
