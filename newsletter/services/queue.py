"""Marketing's issue queue: queue, cancel and reschedule an issue.

A queued issue is built exactly like an override file would build it, from the
articles and tips marketing chose; it is stored as a draft and goes through the same
approval as any other issue.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from newsletter.errors import (
    FieldError,
    FieldProblem,
    IssueStateError,
    NotFoundError,
)
from newsletter.settings import Settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import IssueStatus
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import lists as lists_repo
from newsletter.storage.repositories import queue as queue_repo
from newsletter.storage.repositories.overview import EDITABLE

if TYPE_CHECKING:
    # Content, rendering and issue building are imported by the functions that use them.
    from newsletter.content.models import Library
    from newsletter.services.issues import IssueView

log = logging.getLogger("newsletter.scheduler.queue")


def _slug_problems(
    library: Library, articles: Sequence[str], tips: Sequence[str], where: str
) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for field, noun, slugs, known in (
        ("articles", "article", articles, library.articles),
        ("tips", "tip", tips, library.tips),
    ):
        unknown = [repr(s) for s in dict.fromkeys(slugs) if s not in known]
        if unknown:
            problems.append(
                FieldProblem(field, f"unknown {noun} {', '.join(unknown)} (not in {where})")
            )
        twice = [repr(s) for s, n in Counter(slugs).items() if n > 1]
        if twice:
            problems.append(FieldProblem(field, f"{noun} {', '.join(twice)} chosen more than once"))
    return problems


def _date_problems(
    cfg: Settings, issue_date: dt.date, today: dt.date | None, *, off_schedule: bool
) -> list[FieldProblem]:
    today = today or dt.datetime.now(cfg.zone).date()
    if issue_date < today:
        return [FieldProblem("date", f"{issue_date} is in the past (today is {today})")]
    from newsletter.services import timing

    if off_schedule or timing.scheduled_time(cfg, issue_date) is not None:
        return []
    following = timing.next_send_date(cfg, issue_date)
    nearest = f"; the next send day is {timing.describe_date(following)}" if following else ""
    return [
        FieldProblem(
            "date",
            f"the send schedule ({cfg.send_schedule!r}, NEWSLETTER_SEND_SCHEDULE) never sends "
            f"on {timing.describe_date(issue_date)}{nearest}. Confirm the off-schedule date "
            "(--off-schedule) to queue it anyway; the scheduler will not send it, "
            "`newsletter issue send ID` will on that day",
        )
    ]


def _raise_if(problems: list[FieldProblem]) -> None:
    if problems:
        raise FieldError(problems)


def queue_issue(
    cfg: Settings,
    engine: Engine,
    list_slug: str,
    issue_date: dt.date,
    *,
    articles: Sequence[str] = (),
    tips: Sequence[str] = (),
    subject: str | None = None,
    preheader: str | None = None,
    intro: str = "",
    replace: bool = False,
    off_schedule: bool = False,
    today: dt.date | None = None,
) -> IssueView:
    """Store a draft for ``list_slug`` on ``issue_date`` built from marketing's choices.

    Slots left empty (no articles, one article of three, no tips) are filled the usual
    way; an override file for that date gives what the queue leaves out. Invalid input
    raises ``FieldError`` naming each field (``list``, ``date``, ``articles``, ``tips``);
    a date the send schedule never sends on needs ``off_schedule``. ``ConflictError``
    when the list already has a live issue that day, unless ``replace`` cancels it.
    """
    from newsletter.content.loader import library_for_issue
    from newsletter.content.models import IssueOverride
    from newsletter.services.issues import build_issue

    problems = _date_problems(cfg, issue_date, today, off_schedule=off_schedule)
    with transaction(session_factory(engine)) as session:
        try:
            lists_repo.get_by_slug(session, list_slug)
        except NotFoundError as exc:
            problems.append(FieldProblem("list", str(exc)))
    library, _ = library_for_issue(
        cfg.content_dir, list_slug, issue_date, wanted=(*articles, *tips)
    )
    problems += _slug_problems(library, articles, tips, str(cfg.content_dir))
    _raise_if(problems)
    override = IssueOverride(
        list_slug=list_slug,
        issue_date=issue_date,
        subject=subject,
        preheader=preheader,
        articles=tuple(articles),
        tips=tuple(tips),
        intro=intro,
    )
    return build_issue(cfg, engine, list_slug, issue_date, override=override, replace=replace)


def cancel_issue(engine: Engine, issue_id: int) -> IssueView:
    """draft/approved -> cancelled; an issue that started sending cannot be cancelled."""
    from newsletter.services.issues import view_of

    factory = session_factory(engine)
    with transaction(factory) as session:
        issue = issue_repo.get_issue(session, issue_id)
        if not issue_repo.transition(
            session, issue_id, expected=EDITABLE, to=IssueStatus.CANCELLED
        ):
            raise IssueStateError(
                f"issue {issue_id} is {issue.status}; only a draft or approved issue can be "
                "cancelled"
            )
        issue = issue_repo.get_issue(session, issue_id)
        return view_of(issue, issue_repo.list_slug(session, issue.list_id))


def reschedule_issue(
    cfg: Settings,
    engine: Engine,
    issue_id: int,
    new_date: dt.date,
    *,
    off_schedule: bool = False,
    today: dt.date | None = None,
) -> IssueView:
    """Move a draft or approved issue to ``new_date``, re-rendered; it needs approval again.

    The date is checked like ``queue_issue``'s (``FieldError`` on ``date``).
    """
    from newsletter.content.loader import library_for_issue
    from newsletter.services.issues import view_of
    from newsletter.services.review import render_picks

    _raise_if(_date_problems(cfg, new_date, today, off_schedule=off_schedule))
    factory = session_factory(engine)
    with transaction(factory) as session:
        issue = issue_repo.get_issue(session, issue_id)
        if issue.status not in EDITABLE:
            raise IssueStateError(
                f"issue {issue_id} is {issue.status}; only a draft or approved issue can move"
            )
        slug = lists_repo.get(session, issue.list_id).slug
        before = view_of(issue, slug)
    library, _ = library_for_issue(
        cfg.content_dir, slug, new_date, wanted=(*before.article_slugs, *before.tip_slugs)
    )
    _raise_if(_slug_problems(library, before.article_slugs, before.tip_slugs, str(cfg.content_dir)))
    # The date is printed in the issue, so the content (and its hash) change with it.
    page = render_picks(cfg, engine, before, new_date)
    with transaction(factory) as session:
        moved = queue_repo.reschedule(
            session,
            issue_id,
            new_date,
            html=page.html,
            text=page.text,
            content_hash=page.content_hash,
        )
        if not moved:
            raise IssueStateError(f"issue {issue_id} started sending meanwhile; not moved")
        issue = issue_repo.get_issue(session, issue_id)
        return view_of(issue, slug)
