"""The preference centre's writes: a person's pause, and the record of every change."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.storage.models import PreferenceChange, Subscriber, utcnow


def set_pause(session: Session, subscriber_id: int, until: dt.datetime | None) -> None:
    """Pause everything until ``until`` (None resumes now)."""
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(paused_until=until)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()


def record(
    session: Session,
    *,
    subscriber_id: int,
    list_id: int | None,
    action: str,
    detail: str = "",
    source: str,
    ip: str | None,
    user_agent: str | None,
    now: dt.datetime | None = None,
) -> None:
    session.add(
        PreferenceChange(
            subscriber_id=subscriber_id,
            list_id=list_id,
            action=action,
            detail=detail,
            source=source,
            ip=ip,
            user_agent=user_agent,
            created_at=now or utcnow(),
        )
    )
    session.flush()


def changes(session: Session, subscriber_id: int) -> list[PreferenceChange]:
    """A person's recorded changes, oldest first."""
    stmt = (
        select(PreferenceChange)
        .where(PreferenceChange.subscriber_id == subscriber_id)
        .order_by(PreferenceChange.created_at, PreferenceChange.id)
    )
    return list(session.scalars(stmt))
