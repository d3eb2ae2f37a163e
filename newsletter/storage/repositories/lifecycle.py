"""Data lifecycle: raw webhook events past their retention, and erasing one person.

Both are deletes that must never touch what the results pages read: the per-issue and
per-delivery counts are maintained when an event is processed, so a processed raw event
is only an archive copy. Unprocessed events are never deleted here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from newsletter.storage.models import (
    Delivery,
    DeliveryOutcome,
    Issue,
    Membership,
    RateLimitHit,
    Subscriber,
    Suppression,
    SuppressionReason,
    WebhookEvent,
    utcnow,
)
from newsletter.storage.repositories.subscribers import insert_ignoring_conflicts

_EVENTS: Table = WebhookEvent.__table__  # type: ignore[assignment]
_SUPPRESSIONS: Table = Suppression.__table__  # type: ignore[assignment]
# Stored keys of erased addresses start with this (newsletter.audience.erasure.PREFIX).
ERASED_PREFIX = "erased:"
ERASED_PREFIX_END = "erased;"  # the next string after every "erased:..." one


def delete_processed_events_before(session: Session, cutoff: dt.datetime, limit: int) -> int:
    """Delete up to ``limit`` processed events received before ``cutoff``, oldest first."""
    oldest = (
        select(_EVENTS.c.id)
        .where(_EVENTS.c.received_at < cutoff, _EVENTS.c.processed.is_(True))
        .order_by(_EVENTS.c.received_at)
        .limit(limit)
        .scalar_subquery()
    )
    result = session.execute(
        delete(_EVENTS).where(_EVENTS.c.id.in_(oldest)).execution_options(preserve_rowcount=True)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def count_events_before(session: Session, cutoff: dt.datetime) -> int:
    query = select(func.count()).where(_EVENTS.c.received_at < cutoff)
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class Erased:
    subscriber: bool
    memberships: int
    deliveries: int
    outcomes: int
    events: int
    suppressions: int
    limit_hits: int


def limit_scopes(session: Session) -> list[str]:
    return list(session.scalars(select(RateLimitHit.scope).distinct()))


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def erase(
    session: Session,
    *,
    email_key: str,
    stored_key: str,
    stored_email: str,
    limit_subjects: Sequence[str],
) -> Erased:
    """Remove every trace of ``email_key`` and suppress it as ``stored_key`` instead."""
    person = session.scalars(select(Subscriber).where(Subscriber.email_key == email_key)).first()
    memberships = deliveries = 0
    if person is not None:
        sid = person.id
        issue_ids = list(session.scalars(select(Issue.id)))
        # The ledger keeps that someone was sent each issue, not who.
        for start in range(0, len(issue_ids), 500):
            part = issue_ids[start : start + 500]
            deliveries += _count(
                session.execute(
                    update(Delivery)
                    .where(Delivery.issue_id.in_(part), Delivery.subscriber_id == sid)
                    .values(email=stored_email, name=None, first_name=None)
                    .execution_options(preserve_rowcount=True)
                )
            )
        memberships = _count(
            session.execute(
                delete(Membership)
                .where(Membership.subscriber_id == sid)
                .execution_options(preserve_rowcount=True)
            )
        )
        session.execute(delete(Subscriber).where(Subscriber.id == sid))
    outcomes = _count(
        session.execute(
            delete(DeliveryOutcome)
            .where(DeliveryOutcome.email_key == email_key)
            .execution_options(preserve_rowcount=True)
        )
    )
    # Raw events carry the address as SendGrid sent it back; the key is its lower case.
    events = _count(
        session.execute(
            delete(WebhookEvent)
            .where(func.lower(WebhookEvent.email) == email_key)
            .execution_options(preserve_rowcount=True)
        )
    )
    suppressions = _count(
        session.execute(
            delete(Suppression)
            .where(Suppression.email_key == email_key)
            .execution_options(preserve_rowcount=True)
        )
    )
    limit_hits = 0
    if limit_subjects:
        limit_hits = _count(
            session.execute(
                delete(RateLimitHit)
                .where(RateLimitHit.subject.in_(list(limit_subjects)))
                .execution_options(preserve_rowcount=True)
            )
        )
    row = {
        "email": stored_email,
        "email_key": stored_key,
        "reason": SuppressionReason.MANUAL.value,
        "source": "erasure",
        "created_at": utcnow(),
    }
    insert_ignoring_conflicts(session, _SUPPRESSIONS, [row], ["email_key"])
    session.expire_all()
    return Erased(
        person is not None, memberships, deliveries, outcomes, events, suppressions, limit_hits
    )


def any_erasures(session: Session) -> bool:
    # A range on the unique email_key index: erased keys all start with the prefix.
    key = _SUPPRESSIONS.c.email_key
    query = select(key).where(key >= ERASED_PREFIX, key < ERASED_PREFIX_END).limit(1)
    return session.scalar(query) is not None
