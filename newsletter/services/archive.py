"""The public archive: a list's sent issues and each one's web version.

Only issues in ``sent`` are public, and only their stored snapshot is read: the page
is exactly what went out, minus the personal parts (see ``render.web_version``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import NotFoundError
from newsletter.render.web_version import public_copy
from newsletter.settings import Settings
from newsletter.storage.db import transaction
from newsletter.storage.repositories import archive as archive_repo
from newsletter.storage.repositories.archive import ArchivedIssue


@dataclass(frozen=True)
class ArchiveIndex:
    list_slug: str
    list_name: str
    issues: tuple[ArchivedIssue, ...]
    signup_url: str


def signup_url(cfg: Settings, list_slug: str) -> str:
    return f"{cfg.public_url}/signup?list={quote(list_slug)}"


def issue_url(cfg: Settings, list_slug: str, issue_date: dt.date) -> str:
    return f"{cfg.public_url}/archive/{quote(list_slug)}/{issue_date.isoformat()}"


def _require_on(cfg: Settings) -> None:
    if not cfg.archive:
        raise NotFoundError("the archive is turned off (NEWSLETTER_ARCHIVE=off)")


def archive_index(cfg: Settings, sessions: sessionmaker[Session], list_slug: str) -> ArchiveIndex:
    """The list's sent issues, newest first; ``NotFoundError`` for an unknown list."""
    _require_on(cfg)
    with transaction(sessions) as session:
        name = archive_repo.list_name(session, list_slug)
        if name is None:
            raise NotFoundError(f"no list {list_slug!r}")
        issues = archive_repo.sent_issues(session, list_slug)
    return ArchiveIndex(list_slug, name, tuple(issues), signup_url(cfg, list_slug))


def latest_issue_url(cfg: Settings, session: Session, list_slug: str) -> str | None:
    """The web version of the list's newest sent issue (None: archive off or nothing sent)."""
    if not cfg.archive:
        return None
    issues = archive_repo.sent_issues(session, list_slug, limit=1)
    return issue_url(cfg, list_slug, issues[0].issue_date) if issues else None


def web_version(
    cfg: Settings, sessions: sessionmaker[Session], list_slug: str, issue_date: dt.date
) -> str:
    """The public HTML of the list's issue sent for ``issue_date``."""
    _require_on(cfg)
    with transaction(sessions) as session:
        issue = archive_repo.sent_issue(session, list_slug, issue_date)
    if issue is None:
        raise NotFoundError(f"no issue of {list_slug!r} was sent for {issue_date}")
    return public_copy(issue.html, list_name=issue.list_name, signup_url=signup_url(cfg, list_slug))
