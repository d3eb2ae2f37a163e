"""The append-only audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.storage.models import AuditEntry


def add(
    session: Session, *, actor: str, action: str, target: str, detail: str, at: dt.datetime
) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, target=target, detail=detail, at=at)
    session.add(entry)
    session.flush()
    return entry


def recent(
    session: Session,
    *,
    target: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first; ``before_id`` pages back through older entries."""
    stmt = select(AuditEntry)
    if target is not None:
        stmt = stmt.where(AuditEntry.target == target)
    if actor is not None:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit)))
