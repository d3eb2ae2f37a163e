"""Which issues use which articles and tips: the content library's "used on" column."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.storage.models import Issue, IssueStatus, MailingList


@dataclass(frozen=True)
class IssueUsage:
    issue_id: int
    list_slug: str
    issue_date: dt.date
    status: IssueStatus
    article_slugs: tuple[str, ...]
    tip_slugs: tuple[str, ...]


def live_issue_usage(session: Session) -> list[IssueUsage]:
    """Every issue that is not cancelled, newest first, without its rendered parts."""
    query = (
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
        .order_by(Issue.issue_date.desc(), Issue.id.desc())
    )
    return [
        IssueUsage(i, slug, day, IssueStatus(status), tuple(a or ()), tuple(t or ()))
        for i, slug, day, status, a, t in session.execute(query)
    ]
