"""Reads for the console's audience pages: address search and what one person received.

Both stay on primary-key or unique indexes whatever the audience size: the search is
a range over ``subscribers.email_key``; a person's issues are probes of the ledger's
and the outcomes' (issue_id, ...) keys, one per recent issue, never a scan by person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.storage.models import (
    Delivery,
    DeliveryOutcome,
    Issue,
    IssueStatus,
    MailingList,
    Subscriber,
)

SENT_STATUSES = (IssueStatus.SENDING, IssueStatus.SENT, IssueStatus.FAILED)


@dataclass(frozen=True)
class Found:
    subscriber_id: int
    email: str
    name: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class Received:
    """One issue a person was in the ledger of, and what its events said."""

    issue_id: int
    list_slug: str
    issue_date: dt.date
    subject: str
    skipped: bool
    status: str | None = None
    delivered_at: dt.datetime | None = None
    first_opened_at: dt.datetime | None = None
    first_clicked_at: dt.datetime | None = None
    bounced_at: dt.datetime | None = None
    dropped_at: dt.datetime | None = None
    complained_at: dt.datetime | None = None
    unsubscribed_at: dt.datetime | None = None
    opens: int = 0
    clicks: int = 0


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_by_prefix(session: Session, prefix: str, limit: int) -> list[Found]:
    """People whose address starts with ``prefix`` (lower-cased), in address order."""
    key = prefix.strip().lower()
    if not key:
        return []
    # The range lets the unique index find the start; LIKE keeps only true prefixes.
    last = min(ord(key[-1]) + 1, 0x10FFFF)
    query = (
        select(Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.created_at)
        .where(
            Subscriber.email_key >= key,
            Subscriber.email_key < key[:-1] + chr(last),
            Subscriber.email_key.like(_like_prefix(key), escape="\\"),
        )
        .order_by(Subscriber.email_key)
        .limit(limit)
    )
    return [Found(*row) for row in session.execute(query)]


def recent_sent_issues(session: Session, limit: int) -> list[tuple[int, str, dt.date, str]]:
    query = (
        select(Issue.id, MailingList.slug, Issue.issue_date, Issue.subject)
        .join(MailingList, MailingList.id == Issue.list_id)
        .where(Issue.status.in_(SENT_STATUSES))
        .order_by(Issue.issue_date.desc(), Issue.id.desc())
        .limit(limit)
    )
    return [(i, slug, day, subject) for i, slug, day, subject in session.execute(query)]


def received_by(
    session: Session,
    subscriber_id: int,
    email_key: str,
    issues: Sequence[tuple[int, str, dt.date, str]],
) -> list[Received]:
    """The issues among ``issues`` whose ledger holds this person, newest first."""
    ids = [issue[0] for issue in issues]
    if not ids:
        return []
    ledger = {
        issue_id: status
        for issue_id, status in session.execute(
            select(Delivery.issue_id, Delivery.status).where(
                Delivery.issue_id.in_(ids), Delivery.subscriber_id == subscriber_id
            )
        )
    }
    c = DeliveryOutcome
    outcomes = {
        row.issue_id: row
        for row in session.execute(
            select(
                c.issue_id,
                c.status,
                c.delivered_at,
                c.first_opened_at,
                c.first_clicked_at,
                c.bounced_at,
                c.dropped_at,
                c.complained_at,
                c.unsubscribed_at,
                c.opens,
                c.clicks,
            ).where(c.issue_id.in_(ids), c.email_key == email_key)
        )
    }
    found: list[Received] = []
    for issue_id, slug, day, subject in issues:
        if issue_id not in ledger:
            continue
        base = Received(issue_id, slug, day, subject, skipped=str(ledger[issue_id]) == "skipped")
        row = outcomes.get(issue_id)
        if row is not None:
            base = Received(
                issue_id,
                slug,
                day,
                subject,
                base.skipped,
                row.status,
                row.delivered_at,
                row.first_opened_at,
                row.first_clicked_at,
                row.bounced_at,
                row.dropped_at,
                row.complained_at,
                row.unsubscribed_at,
                int(row.opens),
                int(row.clicks),
            )
        found.append(base)
    return found
