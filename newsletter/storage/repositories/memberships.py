"""Memberships: one person on one list, with its status and consent record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from newsletter.storage.models import MailingList, Membership, MembershipStatus, utcnow
from newsletter.storage.repositories import member_counts
from newsletter.storage.repositories.subscribers import (
    IN_CHUNK,
    bulk_insert_ignoring_conflicts,
    insert_ignoring_conflicts,
    rows_where_in,
)

MEMBERSHIPS: Table = Membership.__table__  # type: ignore[assignment]


def get(session: Session, list_id: int, subscriber_id: int) -> Membership | None:
    stmt = select(Membership).where(
        Membership.list_id == list_id, Membership.subscriber_id == subscriber_id
    )
    return session.scalars(stmt).first()


def ensure(
    session: Session,
    *,
    list_id: int,
    subscriber_id: int,
    status: MembershipStatus,
    consent_source: str | None = None,
    consent_ip: str | None = None,
    consent_user_agent: str | None = None,
    confirmed_at: dt.datetime | None = None,
) -> tuple[Membership, bool]:
    """The membership, created with these values if absent; (row, created)."""
    now = utcnow()
    row = {
        "list_id": list_id,
        "subscriber_id": subscriber_id,
        "status": status,
        "created_at": now,
        "updated_at": now,
        "consent_source": consent_source,
        "consent_ip": consent_ip,
        "consent_user_agent": consent_user_agent,
        "confirmed_at": confirmed_at,
    }
    created = (
        insert_ignoring_conflicts(session, MEMBERSHIPS, [row], ["list_id", "subscriber_id"]) == 1
    )
    found = get(session, list_id, subscriber_id)
    assert found is not None  # the insert, or the one it lost to, made it exist
    if created:
        # The Core insert bypassed the identity map; make sure we see the stored row.
        session.refresh(found)
    return found, created


def statuses(
    session: Session, list_id: int, subscriber_ids: Sequence[int]
) -> dict[int, MembershipStatus]:
    """Status on ``list_id`` of each of these subscribers that is a member."""
    sql = (
        "SELECT subscriber_id, status FROM memberships"
        " WHERE list_id = {p} AND subscriber_id IN ({values})"
    )
    rows = rows_where_in(session, sql, subscriber_ids, before=(list_id,))
    return {int(sid): MembershipStatus(status) for sid, status in rows}


def insert_many(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert memberships (every column but id); existing pairs are left alone."""
    bulk_insert_ignoring_conflicts(session, MEMBERSHIPS, rows, ["list_id", "subscriber_id"])


def confirm_pending(
    session: Session,
    list_id: int,
    subscriber_ids: Sequence[int],
    *,
    source: str,
    now: dt.datetime | None = None,
) -> None:
    """Pending -> subscribed with consent given elsewhere (``source`` says where)."""
    when = now or utcnow()
    for start in range(0, len(subscriber_ids), IN_CHUNK):
        part = subscriber_ids[start : start + IN_CHUNK]
        session.connection().execute(
            update(MEMBERSHIPS)
            .where(
                MEMBERSHIPS.c.list_id == list_id,
                MEMBERSHIPS.c.subscriber_id.in_(part),
                MEMBERSHIPS.c.status == MembershipStatus.PENDING.value,
            )
            .values(
                status=MembershipStatus.SUBSCRIBED.value,
                confirmed_at=when,
                consent_source=source,
                updated_at=when,
            )
        )


def confirm(
    session: Session,
    membership: Membership,
    *,
    source: str,
    ip: str | None,
    user_agent: str | None,
    now: dt.datetime | None = None,
) -> None:
    """Record a confirmation: the act that proves consent replaces the consent record."""
    when = now or utcnow()
    membership.status = MembershipStatus.SUBSCRIBED
    membership.confirmed_at = when
    membership.consent_source = source
    membership.consent_ip = ip
    membership.consent_user_agent = user_agent
    membership.unsubscribed_at = None
    membership.unsubscribe_source = None
    membership.updated_at = when
    session.flush()


def unsubscribe(
    session: Session,
    subscriber_id: int,
    list_id: int | None,
    *,
    source: str,
    now: dt.datetime | None = None,
) -> int:
    """Unsubscribe from one list or (``None``) all; returns how many memberships changed."""
    when = now or utcnow()
    stmt = (
        update(MEMBERSHIPS)
        .where(
            MEMBERSHIPS.c.subscriber_id == subscriber_id,
            MEMBERSHIPS.c.status != MembershipStatus.UNSUBSCRIBED.value,
        )
        .values(
            status=MembershipStatus.UNSUBSCRIBED.value,
            unsubscribed_at=when,
            unsubscribe_source=source,
            updated_at=when,
        )
    )
    if list_id is not None:
        stmt = stmt.where(MEMBERSHIPS.c.list_id == list_id)
    changed = session.connection().execute(stmt).rowcount
    # Core updates bypass the identity map; objects loaded earlier must not look stale.
    session.expire_all()
    return changed


def for_subscriber(session: Session, subscriber_id: int) -> list[tuple[Membership, MailingList]]:
    stmt = (
        select(Membership, MailingList)
        .join(MailingList, MailingList.id == Membership.list_id)
        .where(Membership.subscriber_id == subscriber_id)
        .order_by(MailingList.slug)
    )
    return [(m, ml) for m, ml in session.execute(stmt)]


def counts_by_status(session: Session) -> dict[int, dict[MembershipStatus, int]]:
    """Per list id: how many memberships in each status (absent statuses are 0).

    From the trigger-kept ``list_member_counts``, not a scan of the memberships.
    """
    return member_counts.by_status(session)


def claim_welcome(
    session: Session, list_id: int, subscriber_id: int, *, now: dt.datetime | None = None
) -> bool:
    """Mark the membership welcomed, once: True only for the caller that set it.

    A compare-and-set, so two confirmations racing (a double click, two workers) cannot
    both win, and committed before the email goes out, so a crash after it never leads
    to a second welcome.
    """
    stmt = (
        update(MEMBERSHIPS)
        .where(
            MEMBERSHIPS.c.list_id == list_id,
            MEMBERSHIPS.c.subscriber_id == subscriber_id,
            MEMBERSHIPS.c.status == MembershipStatus.SUBSCRIBED.value,
            MEMBERSHIPS.c.welcomed_at.is_(None),
        )
        .values(welcomed_at=now or utcnow())
    )
    claimed = session.connection().execute(stmt).rowcount == 1
    session.expire_all()
    return claimed
