"""The audit log: who approved, cancelled, rescheduled, tested, imported or edited what.

``record`` joins the caller's transaction, so an action and its audit entry are
committed together or not at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from newsletter.storage.db import transaction
from newsletter.storage.models import utcnow
from newsletter.storage.repositories import audit as repo

MAX_DETAIL = 2000


@dataclass(frozen=True)
class AuditView:
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    detail: str


def issue_target(issue_id: int) -> str:
    return f"issue:{issue_id}"


def record(
    session: Session,
    actor: str,
    action: str,
    target: str,
    detail: str = "",
    *,
    at: dt.datetime | None = None,
) -> None:
    """Add one entry in the caller's transaction (``action`` like ``issue.approve``)."""
    repo.add(
        session,
        actor=actor,
        action=action,
        target=target,
        detail=detail[:MAX_DETAIL],
        at=at or utcnow(),
    )


def record_now(
    sessions: sessionmaker[Session], actor: str, action: str, target: str, detail: str = ""
) -> None:
    """``record`` in a transaction of its own, for actions whose service commits itself."""
    with transaction(sessions) as session:
        record(session, actor, action, target, detail)


def entries(
    sessions: sessionmaker[Session],
    *,
    target: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditView]:
    """Newest first, optionally for one target, actor or action."""
    with transaction(sessions) as session:
        return [
            AuditView(e.id, e.at, e.actor, e.action, e.target, e.detail)
            for e in repo.recent(
                session,
                target=target,
                actor=actor,
                action=action,
                before_id=before_id,
                limit=limit,
            )
        ]
