"""What the console's compose form offers: lists, send dates, and the library with usage.

Queueing itself is ``services.queue.queue_issue``, the same as ``newsletter issue queue``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from newsletter.content.loader import check_library
from newsletter.services import timing
from newsletter.settings import Settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.repositories import calendar as calendar_repo
from newsletter.storage.repositories import lists as lists_repo
from newsletter.storage.repositories.calendar import Usage

SEND_DATES_OFFERED = 8


@dataclass(frozen=True)
class Pick:
    slug: str
    title: str
    category: str
    detail: str  # a summary or the season, whatever helps choosing
    used_on: tuple[Usage, ...]
    live: bool  # published and not expired on the chosen date (articles)


@dataclass(frozen=True)
class SendDate:
    day: dt.date
    send_at: dt.datetime


@dataclass(frozen=True)
class ComposeOptions:
    lists: tuple[tuple[str, str], ...]
    dates: tuple[SendDate, ...]
    articles: tuple[Pick, ...]
    tips: tuple[Pick, ...]
    content_problems: int


def send_dates(cfg: Settings, today: dt.date, count: int = SEND_DATES_OFFERED) -> list[SendDate]:
    """The next ``count`` dates the send schedule sends on, from ``today``."""
    found: list[SendDate] = []
    day: dt.date | None = today
    while day is not None and len(found) < count:
        day = timing.next_send_date(cfg, day)
        if day is None:
            break
        found.append(SendDate(day, timing.due_time(cfg, day)))
        day += dt.timedelta(days=1)
    return found


def compose_options(
    cfg: Settings, engine: Engine, *, on: dt.date | None = None, today: dt.date | None = None
) -> ComposeOptions:
    today = today or cfg.today()
    with transaction(session_factory(engine)) as session:
        lists = tuple((m.slug, m.name) for m in lists_repo.all_lists(session))
        article_use, tip_use = calendar_repo.content_usage(session)
    checked = check_library(cfg.content_dir)
    library = checked.library
    when = on or today
    articles = tuple(
        Pick(
            slug=a.slug,
            title=a.title,
            category=a.category,
            detail=a.summary,
            used_on=tuple(article_use.get(a.slug, ())),
            live=a.is_live(when),
        )
        for a in sorted(library.articles.values(), key=lambda a: a.published, reverse=True)
    )
    tips = tuple(
        Pick(
            slug=t.slug,
            title=t.title,
            category=t.category,
            detail=str(t.season) if t.season else "",
            used_on=tuple(tip_use.get(t.slug, ())),
            live=t.fits_month(when.month),
        )
        for t in sorted(library.tips.values(), key=lambda t: t.title)
    )
    return ComposeOptions(
        lists=lists,
        dates=tuple(send_dates(cfg, today)),
        articles=articles,
        tips=tips,
        content_problems=len(checked.problems),
    )
