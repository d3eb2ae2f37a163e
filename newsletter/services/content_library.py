"""The content library as marketing sees it: every article and tip with its state.

States: ``fresh`` (never on an issue), ``scheduled`` (on a draft or approved issue),
``used`` (on an issue that went out), ``expired`` (an article past its ``expires``),
``upcoming`` (an article published later than today) and ``invalid`` (the file has
problems that ``content check`` reports; it is listed so it can be fixed here).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from newsletter.content.loader import ARTICLES_DIR, TIPS_DIR, check_library
from newsletter.content.models import SEASON_MONTHS, Article, Tip
from newsletter.errors import ContentProblem
from newsletter.storage.db import transaction
from newsletter.storage.models import IssueStatus
from newsletter.storage.repositories.content_usage import IssueUsage, live_issue_usage

Kind = Literal["article", "tip"]
State = Literal["fresh", "scheduled", "used", "expired", "upcoming", "invalid"]
KINDS: tuple[Kind, ...] = ("article", "tip")
STATES: tuple[State, ...] = ("fresh", "scheduled", "used", "expired", "upcoming", "invalid")
SEASONS = tuple(SEASON_MONTHS)
FOLDER_OF: dict[Kind, str] = {"article": ARTICLES_DIR, "tip": TIPS_DIR}
SENT_STATUSES = frozenset({IssueStatus.SENDING, IssueStatus.SENT, IssueStatus.FAILED})
# Front-matter keys that mark an item imported from a feed or page (blog import).
IMPORT_KEYS = ("source_url", "source_guid")


@dataclass(frozen=True)
class Use:
    """One issue an item is on."""

    issue_id: int
    list_slug: str
    issue_date: dt.date
    status: IssueStatus

    @property
    def went_out(self) -> bool:
        return self.status in SENT_STATUSES


@dataclass(frozen=True)
class LibraryItem:
    kind: Kind
    slug: str
    title: str
    category: str
    state: State
    seasons: tuple[str, ...]
    path: Path
    uses: tuple[Use, ...] = ()
    problems: tuple[ContentProblem, ...] = ()
    imported_from: str | None = None

    @property
    def scheduled_on(self) -> tuple[Use, ...]:
        return tuple(u for u in self.uses if not u.went_out)

    @property
    def used_on(self) -> tuple[Use, ...]:
        return tuple(u for u in self.uses if u.went_out)


@dataclass(frozen=True)
class LibraryFilter:
    query: str = ""
    kind: Kind | None = None
    category: str | None = None
    season: str | None = None
    state: State | None = None

    def matches(self, item: LibraryItem) -> bool:
        needle = self.query.strip().lower()
        if needle and needle not in f"{item.slug} {item.title}".lower():
            return False
        return (
            (self.kind is None or item.kind == self.kind)
            and (self.category is None or item.category == self.category)
            and (self.season is None or self.season in item.seasons)
            and (self.state is None or item.state == self.state)
        )


@dataclass(frozen=True)
class LibraryView:
    items: tuple[LibraryItem, ...]
    total: int
    categories: tuple[str, ...]
    problems: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def library_items(
    content_dir: Path, sessions: sessionmaker[Session], today: dt.date
) -> list[LibraryItem]:
    """Every article and tip file (valid or not), articles first, each by slug."""
    check = check_library(content_dir)
    with transaction(sessions) as session:
        usage = live_issue_usage(session)
    uses = _uses_by_item(usage)
    items: list[LibraryItem] = []
    for article in check.library.articles.values():
        items.append(
            _article_item(content_dir, article, uses.get(("article", article.slug), ()), today)
        )
    for tip in check.library.tips.values():
        items.append(_tip_item(content_dir, tip, uses.get(("tip", tip.slug), ())))
    items.extend(_invalid_items(content_dir, check.problems, uses))
    items.sort(key=lambda i: (KINDS.index(i.kind), i.slug))
    return items


def browse(
    content_dir: Path,
    sessions: sessionmaker[Session],
    today: dt.date,
    wanted: LibraryFilter,
) -> LibraryView:
    items = library_items(content_dir, sessions, today)
    counts: dict[str, int] = {state: 0 for state in STATES}
    for item in items:
        counts[item.state] += 1
    return LibraryView(
        items=tuple(i for i in items if wanted.matches(i)),
        total=len(items),
        categories=tuple(sorted({i.category for i in items if i.category})),
        problems=counts["invalid"],
        counts=counts,
    )


def _uses_by_item(usage: list[IssueUsage]) -> dict[tuple[Kind, str], tuple[Use, ...]]:
    found: dict[tuple[Kind, str], list[Use]] = {}
    for issue in usage:
        use = Use(issue.issue_id, issue.list_slug, issue.issue_date, issue.status)
        for slug in issue.article_slugs:
            found.setdefault(("article", slug), []).append(use)
        for slug in issue.tip_slugs:
            found.setdefault(("tip", slug), []).append(use)
    return {key: tuple(value) for key, value in found.items()}


def _state_from_uses(uses: tuple[Use, ...]) -> State:
    if any(not u.went_out for u in uses):
        return "scheduled"
    return "used" if uses else "fresh"


def _article_item(
    content_dir: Path, article: Article, uses: tuple[Use, ...], today: dt.date
) -> LibraryItem:
    state: State
    if article.expires is not None and article.expires <= today:
        state = "expired"
    elif article.published > today and not uses:
        state = "upcoming"
    else:
        state = _state_from_uses(uses)
    return LibraryItem(
        kind="article",
        slug=article.slug,
        title=article.title,
        category=article.category,
        state=state,
        seasons=SEASONS,
        path=content_dir / ARTICLES_DIR / f"{article.slug}.md",
        uses=uses,
        imported_from=_imported_from(article),
    )


def _tip_item(content_dir: Path, tip: Tip, uses: tuple[Use, ...]) -> LibraryItem:
    seasons = tuple(
        season
        for season, months in SEASON_MONTHS.items()
        if any(tip.fits_month(month) for month in months)
    )
    return LibraryItem(
        kind="tip",
        slug=tip.slug,
        title=tip.title,
        category=tip.category,
        state=_state_from_uses(uses),
        seasons=seasons,
        path=content_dir / TIPS_DIR / f"{tip.slug}.md",
        uses=uses,
        imported_from=_imported_from(tip),
    )


def _imported_from(item: Article | Tip) -> str | None:
    for key in IMPORT_KEYS:
        value = getattr(item, key, None)
        if isinstance(value, str) and value:
            return value
    return None


def _invalid_items(
    content_dir: Path,
    problems: tuple[ContentProblem, ...],
    uses: dict[tuple[Kind, str], tuple[Use, ...]],
) -> list[LibraryItem]:
    by_path: dict[Path, list[ContentProblem]] = {}
    for problem in problems:
        by_path.setdefault(problem.path, []).append(problem)
    items: list[LibraryItem] = []
    for kind, folder in FOLDER_OF.items():
        for path, found in sorted(by_path.items()):
            if path.parent != content_dir / folder or path.suffix != ".md":
                continue
            items.append(
                LibraryItem(
                    kind=kind,
                    slug=path.stem,
                    title=path.name,
                    category="",
                    state="invalid",
                    seasons=(),
                    path=path,
                    uses=uses.get((kind, path.stem), ()),
                    problems=tuple(found),
                )
            )
    return items
