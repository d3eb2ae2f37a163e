"""The console home: each list's coming send slots, what exists for each, what to do next.

Problems come first: a draft still waiting for approval close to its send time, a slot
with nothing in it, an approved issue whose content changed since approval, failed or
unknown batches, and content files with problems (left out of issues until fixed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Engine

from newsletter.content.loader import check_library
from newsletter.services import timing
from newsletter.settings import Settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import IssueStatus
from newsletter.storage.repositories import calendar as repo
from newsletter.storage.repositories import lists as lists_repo
from newsletter.storage.repositories import overview

WEEKS_AHEAD = 4
DAYS_BACK = 14
# A draft not approved this close to its send time is a problem, not just a to-do.
APPROVAL_WARNING = dt.timedelta(hours=48)


@dataclass(frozen=True)
class Slot:
    """One list's send on one date, and the one thing to do about it."""

    list_slug: str
    list_name: str
    issue_date: dt.date
    send_at: dt.datetime
    state: str  # nothing yet | draft | approved | sending | sent | missed | failed
    issue_id: int | None
    subject: str
    action: str
    action_href: str
    problem: str | None = None


@dataclass(frozen=True)
class Calendar:
    now: dt.datetime
    slots: tuple[Slot, ...]
    content_problems: tuple[str, ...] = field(default=())

    @property
    def problems(self) -> tuple[Slot, ...]:
        return tuple(s for s in self.slots if s.problem)

    @property
    def upcoming(self) -> tuple[Slot, ...]:
        return tuple(s for s in self.slots if not s.problem and s.send_at >= self.now)

    @property
    def past(self) -> tuple[Slot, ...]:
        return tuple(s for s in self.slots if not s.problem and s.send_at < self.now)


def _send_dates(cfg: Settings, first: dt.date, last: dt.date) -> list[dt.date]:
    dates: list[dt.date] = []
    day: dt.date | None = first
    while day is not None and day <= last:
        day = timing.next_send_date(cfg, day)
        if day is None or day > last:
            break
        dates.append(day)
        day += dt.timedelta(days=1)
    return dates


def home_calendar(cfg: Settings, engine: Engine, *, now: dt.datetime | None = None) -> Calendar:
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(cfg.zone).date()
    first, last = today - dt.timedelta(days=DAYS_BACK), today + dt.timedelta(weeks=WEEKS_AHEAD)
    with transaction(session_factory(engine)) as session:
        lists = [(m.slug, m.name) for m in lists_repo.all_lists(session)]
        rows = repo.live_issues_between(session, first, last)
        totals = overview.batch_totals(
            session,
            [r.id for r in rows if r.status in (IssueStatus.SENDING, *overview.SEND_STATES)],
        )
    by_key = {(r.list_slug, r.issue_date): r for r in rows}
    dates = set(_send_dates(cfg, first, last))
    # Off-schedule issues queued on purpose are slots too.
    dates |= {r.issue_date for r in rows}
    slots = []
    for day in sorted(dates):
        for mailing_list in lists:
            row = by_key.get((mailing_list[0], day))
            batches = totals.get(row.id, {}) if row else {}
            slots.append(_slot(cfg, now, mailing_list, day, row=row, batches=batches))
    # A past slot with nothing in it before any issue existed is no news; keep the recent.
    slots = [s for s in slots if s.issue_id is not None or s.send_at >= now or s.problem]
    slots.sort(key=lambda s: (s.problem is None, s.send_at, s.list_slug))
    library = check_library(cfg.content_dir)
    content = tuple(str(p) for p in library.problems)
    return Calendar(now=now, slots=tuple(slots), content_problems=content)


@dataclass(frozen=True)
class _Verdict:
    state: str
    action: str
    href: str
    problem: str | None = None


def _slot(
    cfg: Settings,
    now: dt.datetime,
    mailing_list: tuple[str, str],
    day: dt.date,
    *,
    row: repo.IssueRow | None,
    batches: dict[str, int],
) -> Slot:
    slug, name = mailing_list
    send_at = timing.due_time(cfg, day)
    verdict = (
        _empty(cfg, now, send_at, slug, day)
        if row is None
        else _judge(cfg, now, send_at, row, batches)
    )
    return Slot(
        list_slug=slug,
        list_name=name,
        issue_date=day,
        send_at=send_at,
        state=verdict.state,
        issue_id=row.id if row else None,
        subject=row.subject if row else "",
        action=verdict.action,
        action_href=verdict.href,
        problem=verdict.problem,
    )


def _late(cfg: Settings, now: dt.datetime, send_at: dt.datetime) -> bool:
    return send_at + dt.timedelta(seconds=cfg.misfire_grace_time) < now


def _soon(cfg: Settings, now: dt.datetime, send_at: dt.datetime) -> bool:
    return cfg.require_approval and send_at - now < APPROVAL_WARNING


def _empty(
    cfg: Settings, now: dt.datetime, send_at: dt.datetime, slug: str, day: dt.date
) -> _Verdict:
    compose = f"/admin/issues/new?list={slug}&date={day.isoformat()}"
    if _late(cfg, now, send_at):
        return _Verdict("missed", "Nothing was sent", compose)
    problem = "Nothing is ready and it is due soon" if _soon(cfg, now, send_at) else None
    return _Verdict("nothing yet", "Compose this issue", compose, problem)


def _judge(
    cfg: Settings,
    now: dt.datetime,
    send_at: dt.datetime,
    row: repo.IssueRow,
    batches: dict[str, int],
) -> _Verdict:
    href = f"/admin/issues/{row.id}"
    unknown, failed = batches.get("unknown", 0), batches.get("failed", 0)
    if unknown or failed:
        state = "failed" if row.status == IssueStatus.FAILED else str(row.status)
        problem = f"{unknown} recipients in unknown batches, {failed} in failed batches"
        return _Verdict(state, "See what went wrong", href, problem)
    if row.status == IssueStatus.DRAFT:
        if _late(cfg, now, send_at):
            return _Verdict("missed", "Open the issue", href, "Never approved, so never sent")
        soon = "Waiting for approval and due soon" if _soon(cfg, now, send_at) else None
        return _Verdict("draft", "Review and approve", href, soon)
    if row.status == IssueStatus.APPROVED:
        if row.approved_hash != row.content_hash:
            return _Verdict("approved", "Review and approve again", href, "Changed since approval")
        if _late(cfg, now, send_at):
            return _Verdict(
                "missed", "Open the issue", href, "Approved but not sent: is the scheduler running?"
            )
        return _Verdict("approved", "Preview", href)
    if row.status == IssueStatus.SENDING:
        return _Verdict("sending", "Watch the send", href)
    if row.status == IssueStatus.FAILED:
        return _Verdict("failed", "See what went wrong", href, "The send failed")
    return _Verdict("sent", "See the results", f"{href}/results")
