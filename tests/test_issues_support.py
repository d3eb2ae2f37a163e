"""Helpers shared by the issue, ledger and send tests (no tests of its own).

Lives beside the tests (pytest puts ``tests/`` on ``sys.path``) because it is only for
them; it seeds the audience through the storage repositories, never raw SQL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from newsletter.render.model import RenderedIssue
from newsletter.storage.db import transaction
from newsletter.storage.models import IssueStatus, MembershipStatus, utcnow
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import lists, memberships, subscribers

ISSUE_DATE = dt.date(2025, 3, 4)


@dataclass(frozen=True)
class Audience:
    list_id: int
    slug: str
    ids: list[int]
    emails: list[str]

    def email_of(self, subscriber_id: int) -> str:
        return self.emails[self.ids.index(subscriber_id)]


def email_for(slug: str, n: int) -> str:
    return f"reader{n:07d}@{slug}.example.org"


def seed_audience(
    factory: sessionmaker[Session], n: int, *, slug: str = "backcare", name: str = "Back care"
) -> Audience:
    """A list with ``n`` confirmed, subscribed members (every third has no first name)."""
    now = utcnow()
    with transaction(factory) as session:
        try:
            list_id = lists.get_by_slug(session, slug).id
        except Exception:
            list_id = lists.create(session, slug=slug, name=name).id
        emails = [email_for(slug, i) for i in range(n)]
        rows = [
            {
                "email": email,
                "email_key": email,
                "name": f"Reader {i}",
                "first_name": None if i % 3 == 0 else f"Ana{i}",
                "attributes": {},
                "created_at": now,
            }
            for i, email in enumerate(emails)
        ]
        for start in range(0, len(rows), 1000):
            subscribers.insert_many(session, rows[start : start + 1000])
        by_key = subscribers.profiles_by_key(session, emails)
        ids = [by_key[e].id for e in emails]
        members = [
            {
                "list_id": list_id,
                "subscriber_id": sid,
                "status": MembershipStatus.SUBSCRIBED.value,
                "created_at": now,
                "updated_at": now,
                "confirmed_at": now,
                "consent_source": "test",
            }
            for sid in ids
        ]
        for start in range(0, len(members), 1000):
            memberships.insert_many(session, members[start : start + 1000])
    return Audience(list_id, slug, ids, emails)


def rendered(tag: str = "") -> RenderedIssue:
    return RenderedIssue(
        subject=f"Your back this week{tag}",
        preheader="Three gentle stretches",
        html="<html><body><p>Hi -first_name-,</p>"
        '<a href="-unsubscribe_url-">Unsubscribe</a></body></html>',
        text="Hi -first_name-,\n\nUnsubscribe: -unsubscribe_url-\n",
    )


def make_issue(
    factory: sessionmaker[Session],
    list_id: int,
    *,
    approve: bool = True,
    issue_date: dt.date = ISSUE_DATE,
    tag: str = "",
) -> int:
    """Store a small rendered issue; approved unless told otherwise."""
    page = rendered(tag)
    with transaction(factory) as session:
        issue = issue_repo.create_issue(
            session,
            issue_repo.NewIssue(
                list_id=list_id,
                issue_date=issue_date,
                subject=page.subject,
                preheader=page.preheader,
                html=page.html,
                text=page.text,
                article_slugs=["heat-or-ice-for-back-pain"],
                tip_slugs=["tip-walk"],
                content_hash=page.content_hash,
            ),
        )
        issue_id = issue.id
        if approve:
            assert issue_repo.transition(
                session,
                issue_id,
                expected=IssueStatus.DRAFT,
                to=IssueStatus.APPROVED,
                approved_hash=page.content_hash,
                approved_at=utcnow(),
                approved_by="tests",
            )
    return issue_id
