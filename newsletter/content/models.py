"""Validated content: articles, tips and marketing's issue overrides.

The models forbid unknown keys, because a typo in front matter (``sumary:``)
must be an error, never a silently missing field.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=120)]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Season = Literal["winter", "spring", "summer", "autumn"]

SEASON_MONTHS: dict[str, frozenset[int]] = {
    # Northern-hemisphere meteorological seasons; the clinic's audience is in the US.
    "winter": frozenset({12, 1, 2}),
    "spring": frozenset({3, 4, 5}),
    "summer": frozenset({6, 7, 8}),
    "autumn": frozenset({9, 10, 11}),
}


def _https(value: str) -> str:
    if not value.startswith("https://") or len(value) <= len("https://"):
        raise ValueError("must be an absolute https:// URL")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Image(_Strict):
    src: str
    alt: NonEmpty

    @field_validator("src")
    @classmethod
    def _src_https(cls, value: str) -> str:
        return _https(value)


class Article(_Strict):
    """A snippet that links to a full article on the clinic's site."""

    slug: Slug
    title: NonEmpty
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    url: str
    image: Image | None = None
    category: NonEmpty
    tags: tuple[NonEmpty, ...] = ()
    published: dt.date
    author: NonEmpty
    evergreen: bool = False
    expires: dt.date | None = None
    # Set by `newsletter content import-feed|import-page`: where the article came from
    # (the feed or page URL) and the post's identity in it (its guid, else its link),
    # which is what stops a second import of the same post.
    source_url: str | None = None
    source_guid: NonEmpty | None = None

    @field_validator("url")
    @classmethod
    def _url_https(cls, value: str) -> str:
        return _https(value)

    @field_validator("source_url")
    @classmethod
    def _source_web(cls, value: str | None) -> str | None:
        # A feed may be served over plain http; it is never linked from an email.
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @property
    def imported(self) -> bool:
        """Whether the article was written by a feed or page import."""
        return self.source_guid is not None

    def is_live(self, on: dt.date) -> bool:
        """Published on or before ``on`` and not yet expired."""
        return self.published <= on and (self.expires is None or on < self.expires)


class Tip(_Strict):
    """A short, self-contained tip; ``body`` is Markdown, ``body_html`` its safe HTML."""

    slug: Slug
    title: NonEmpty
    body: NonEmpty
    body_html: str = ""
    category: NonEmpty
    tags: tuple[NonEmpty, ...] = ()
    months: tuple[Annotated[int, Field(ge=1, le=12)], ...] | None = None
    season: Season | None = None
    caution: NonEmpty | None = None

    def fits_month(self, month: int) -> bool:
        """Whether the tip suits ``month``; a tip with neither months nor season always fits."""
        if self.months is not None and month not in self.months:
            return False
        return not (self.season is not None and month not in SEASON_MONTHS[self.season])


class IssueOverride(_Strict):
    """Marketing's hand-picked issue: ``content/issues/YYYY-MM-DD-<list>.md``."""

    list_slug: Slug
    issue_date: dt.date
    subject: NonEmpty | None = None
    preheader: NonEmpty | None = None
    articles: tuple[Slug, ...] = ()
    tips: tuple[Slug, ...] = ()
    intro: str = ""
    intro_html: str = ""


class Library(_Strict):
    """Everything under ``content/``, validated and cross-checked."""

    articles: dict[str, Article] = Field(default_factory=dict)
    tips: dict[str, Tip] = Field(default_factory=dict)
    overrides: dict[tuple[str, dt.date], IssueOverride] = Field(default_factory=dict)
