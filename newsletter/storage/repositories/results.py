"""Reads behind an issue's results: maintained totals, hours, links, and unsubscribes.

Every read is a primary-key lookup or a short index range, so the results page costs
the same for an issue sent to fifty people as for one sent to a million.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from newsletter.storage.models import (
    Delivery,
    Issue,
    IssueEventCount,
    IssueEventHour,
    IssueLinkClick,
    IssueOutcomeTotals,
    Membership,
    MembershipStatus,
)

# Memberships ended by these sources are bounces, drops and complaints, not a choice
# to leave: they are counted under their own names, never as unsubscribes.
NOT_UNSUBSCRIBES = ("sendgrid:bounce", "sendgrid:dropped", "sendgrid:spamreport")


def outcome_totals(session: Session, issue_id: int) -> dict[str, int]:
    row = session.get(IssueOutcomeTotals, issue_id)
    names = ("delivered", "opened", "clicked", "bounced", "complained", "unsubscribed", "dropped")
    return {name: int(getattr(row, name)) if row is not None else 0 for name in names}


def event_hours(
    session: Session, issue_id: int, first_hour: int, hours: int
) -> list[tuple[int, str, int]]:
    """(hour, event, count) for ``hours`` clock hours from ``first_hour`` (Unix s // 3600)."""
    c = IssueEventHour
    query = (
        select(c.hour, c.event, c.count)
        .where(c.issue_id == issue_id, c.hour >= first_hour, c.hour < first_hour + hours)
        .order_by(c.hour, c.event)
    )
    return [(int(h), str(e), int(n)) for h, e, n in session.execute(query)]


def link_clicks(session: Session, issue_id: int, limit: int) -> list[tuple[str, int]]:
    c = IssueLinkClick
    query = (
        select(c.url, c.count)
        .where(c.issue_id == issue_id)
        .order_by(c.count.desc(), c.url)
        .limit(limit)
    )
    return [(str(url), int(count)) for url, count in session.execute(query)]


def next_send_start(session: Session, issue: Issue) -> dt.datetime | None:
    """When the list's next issue after ``issue`` started sending, if one has."""
    if issue.send_started_at is None:
        return None
    query = select(func.min(Issue.send_started_at)).where(
        Issue.list_id == issue.list_id, Issue.send_started_at > issue.send_started_at
    )
    value: dt.datetime | None = session.scalar(query)
    return value


def unsubscribed_between(
    session: Session, issue: Issue, since: dt.datetime, until: dt.datetime | None
) -> int:
    """Recipients of ``issue`` who left its list in [since, until) by their own choice.

    Walks the (list, unsubscribed_at) index over the window and checks each person
    against the issue's ledger by primary key: a short range, not a join of the ledger.
    """
    m = Membership
    window = [m.list_id == issue.list_id, m.unsubscribed_at >= since]
    if until is not None:
        window.append(m.unsubscribed_at < until)
    received = exists().where(
        Delivery.issue_id == issue.id, Delivery.subscriber_id == m.subscriber_id
    )
    query = (
        select(func.count())
        .select_from(m)
        .where(
            *window,
            m.status == MembershipStatus.UNSUBSCRIBED,
            m.unsubscribe_source.is_(None) | m.unsubscribe_source.not_in(NOT_UNSUBSCRIBES),
            received,
        )
    )
    return int(session.scalar(query) or 0)


def event_counts(session: Session, issue_id: int) -> dict[str, int]:
    """Events of each kind the issue received, repeats included."""
    query = select(IssueEventCount.event, IssueEventCount.count).where(
        IssueEventCount.issue_id == issue_id
    )
    return {event: int(count) for event, count in session.execute(query)}
