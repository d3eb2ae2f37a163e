"""The console calendar's read side: live issues in a date range, without their HTML."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.storage.models import Issue, IssueStatus, MailingList


@dataclass(frozen=True)
class IssueRow:
    id: int
    list_slug: str
    issue_date: dt.date
    status: IssueStatus
    subject: str
    content_hash: str
    approved_hash: str | None


def live_issues_between(session: Session, first: dt.date, last: dt.date) -> list[IssueRow]:
    """Issues dated ``first``..``last`` (inclusive) that were not cancelled."""
    stmt = (
        select(
            Issue.id,
            MailingList.slug,
            Issue.issue_date,
            Issue.status,
            Issue.subject,
            Issue.content_hash,
            Issue.approved_hash,
        )
        .join(MailingList, MailingList.id == Issue.list_id)
        .where(
            Issue.issue_date >= first,
            Issue.issue_date <= last,
            Issue.status != IssueStatus.CANCELLED,
        )
        .order_by(Issue.issue_date, MailingList.slug)
    )
    return [
        IssueRow(i, slug, day, IssueStatus(status), subject, content_hash, approved)
        for i, slug, day, status, subject, content_hash, approved in session.execute(stmt).all()
    ]


@dataclass(frozen=True)
class Usage:
    issue_id: int
    list_slug: str
    issue_date: dt.date
    status: IssueStatus


def content_usage(session: Session) -> tuple[dict[str, list[Usage]], dict[str, list[Usage]]]:
    """Which live issues use each article and each tip: ``(articles, tips)`` by slug."""
    stmt = (
        select(
            Issue.id,
            MailingList.slug,
            Issue.issue_date,
            Issue.status,
            Issue.article_slugs,
            Issue.tip_slugs,
        )
        .join(MailingList, MailingList.id == Issue.list_id)
        .where(Issue.status != IssueStatus.CANCELLED)
        .order_by(Issue.issue_date.desc())
    )
    articles: dict[str, list[Usage]] = {}
    tips: dict[str, list[Usage]] = {}
    for issue_id, slug, day, status, article_slugs, tip_slugs in session.execute(stmt).all():
        used = Usage(issue_id, slug, day, IssueStatus(status))
        for item in article_slugs or ():
            articles.setdefault(item, []).append(used)
        for item in tip_slugs or ():
            tips.setdefault(item, []).append(used)
    return articles, tips
