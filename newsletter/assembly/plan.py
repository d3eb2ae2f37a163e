"""What assembly produces and what it reads: the plan of one issue and a list's history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from newsletter.content.models import Article, Tip


@dataclass(frozen=True)
class SentIssue:
    """One issue a list has already received (from the ledger of sent issues)."""

    issue_date: dt.date
    articles: tuple[str, ...]
    tips: tuple[str, ...]


@dataclass(frozen=True)
class ContentHistory:
    """What a list has received, oldest first. Empty for a new list."""

    sent: tuple[SentIssue, ...] = ()

    @property
    def article_slugs(self) -> frozenset[str]:
        return frozenset(slug for issue in self.sent for slug in issue.articles)

    def tip_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for issue in self.sent:
            for slug in issue.tips:
                counts[slug] = counts.get(slug, 0) + 1
        return counts


@dataclass(frozen=True)
class IssuePlan:
    """The content chosen for one list on one date, before rendering."""

    list_slug: str
    issue_date: dt.date
    subject: str
    preheader: str
    articles: tuple[Article, ...]
    tips: tuple[Tip, ...]
    # The Markdown the intro was written in, kept so the issue can be rebuilt as it was.
    intro: str = ""
    intro_html: str = ""
    intro_text: str = ""
    source: Literal["auto", "override", "queued"] = "auto"
    notes: tuple[str, ...] = field(default=())

    @property
    def article_slugs(self) -> tuple[str, ...]:
        return tuple(a.slug for a in self.articles)

    @property
    def tip_slugs(self) -> tuple[str, ...]:
        return tuple(t.slug for t in self.tips)
