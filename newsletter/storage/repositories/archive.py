"""The public archive's read side: a list's sent issues, newest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from newsletter.storage.models import Issue, IssueStatus, MailingList


@dataclass(frozen=True)
class ArchivedIssue:
    """One sent issue as the archive shows it; no per-recipient data is read."""

    list_slug: str
    list_name: str
    issue_date: dt.date
    subject: str
    preheader: str
    html: str


def _sent(list_slug: str) -> Select[dt.date, str, str, str, str]:
    return (
        select(Issue.issue_date, Issue.subject, Issue.preheader, Issue.html, MailingList.name)
        .join(MailingList, MailingList.id == Issue.list_id)
        .where(MailingList.slug == list_slug, Issue.status == IssueStatus.SENT)
    )


def sent_issues(session: Session, list_slug: str, *, limit: int = 200) -> list[ArchivedIssue]:
    """The list's sent issues, newest first (an empty list for an unknown list)."""
    rows = session.execute(_sent(list_slug).order_by(Issue.issue_date.desc()).limit(limit))
    return [ArchivedIssue(list_slug, name, day, subj, pre, "") for day, subj, pre, _, name in rows]


def sent_issue(session: Session, list_slug: str, issue_date: dt.date) -> ArchivedIssue | None:
    """The list's issue sent for ``issue_date``, with its stored HTML."""
    row = session.execute(_sent(list_slug).where(Issue.issue_date == issue_date)).first()
    if row is None:
        return None
    day, subject, preheader, html, name = row
    return ArchivedIssue(list_slug, name, day, subject, preheader, html)


def list_name(session: Session, list_slug: str) -> str | None:
    return session.scalars(select(MailingList.name).where(MailingList.slug == list_slug)).first()
