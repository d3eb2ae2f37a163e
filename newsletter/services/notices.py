"""Emails to the reviewers (``NEWSLETTER_REVIEW_EMAILS``): review, failure, NOT SENT and
failed sends.

Each notice says what happened in its subject and heading, names every issue by id,
and gives the exact command to run next, so the person reading it on a phone knows
what to do without opening a terminal first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from newsletter.delivery.payload import MessageTemplate, Recipient, encode_batch
from newsletter.delivery.senders import make_sender
from newsletter.errors import NewsletterError
from newsletter.logs import log_event
from newsletter.render import RenderContext, render_email
from newsletter.render.model import substitutions
from newsletter.services import timing
from newsletter.services.send_retry import FailedSend
from newsletter.settings import Settings

log = logging.getLogger("newsletter.scheduler.queue")


@dataclass(frozen=True)
class IssueSummary:
    id: int
    list_slug: str
    issue_date: dt.date
    status: str
    subject: str
    articles: tuple[str, ...]
    tips: tuple[str, ...]
    approved_by: str | None = None


@dataclass(frozen=True)
class FreshArticle:
    """An article the assemble job just imported from a feed (named in the notice)."""

    slug: str
    title: str
    source: str


@dataclass(frozen=True)
class Blocked:
    """A list whose issue the send job could not send; ``issue_id`` when one exists."""

    list_slug: str
    issue_id: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.list_slug}: {self.reason}"

    def next_step(self, day: dt.date) -> str:
        if self.issue_id is None:
            return (
                f"{self.list_slug}: {self.reason}. Build one with `newsletter issue build "
                f"--list {self.list_slug} --date {day.isoformat()}`, approve it, then send it."
            )
        return (
            f"{self}. Approve it with "
            f"`newsletter issue approve {self.issue_id}`, then send it with "
            f"`newsletter issue send {self.issue_id}`."
        )


def notify_review(
    cfg: Settings,
    day: dt.date,
    issues: Sequence[IssueSummary],
    problems: Sequence[str],
    *,
    fresh: Sequence[FreshArticle] = (),
) -> int:
    """Email the issues of ``day`` to the reviewers; returns how many were notified.

    With problems and no issue at all this is a failure notice, and says so in its
    subject and heading. ``fresh`` articles came from the blog feeds in this run: the
    notice lists them and marks them in each issue, so a reviewer reads imported text
    before approving it.
    """
    date_text = timing.describe_date(day)
    if problems and not issues:
        subject = f"FAILED: no newsletter issue for {day.isoformat()}"
        heading = f"Failed: no issue could be built for {date_text}"
        intro = (
            "The assemble job built no issue, so nothing will go out on that date until "
            "the problems below are fixed and an issue is built (`newsletter issue build "
            f"--list SLUG --date {day.isoformat()}`) and approved."
        )
    else:
        waiting = sum(1 for i in issues if i.status == "draft")
        gate = (
            "Nothing is sent until each issue is approved."
            if cfg.require_approval
            else "Autopilot is on: drafts that nobody approves are approved and sent as they are."
        )
        flagged = f" ({len(problems)} problem(s) need attention)" if problems else ""
        subject = f"Review{flagged}: newsletter for {day.isoformat()}"
        heading = f"Review the newsletter for {date_text}"
        intro = f"{len(issues)} issue(s) for that date, {waiting} waiting for approval. {gate}"
    values = {
        "heading": heading,
        "intro": intro,
        "problems": list(problems),
        "note": "Sent by the newsletter scheduler's assemble job.",
        "fresh": [dataclasses.asdict(f) for f in fresh],
        "fresh_slugs": sorted({f.slug for f in fresh}),
    }
    return _send_notice(cfg, subject, values, issues)


def notify_blocked(cfg: Settings, day: dt.date, blocked: Sequence[Blocked]) -> int:
    """Say loudly that today's send did not happen for want of an approved issue."""
    log_event(
        log,
        "send.blocked",
        f"NOT SENT for {day}: " + "; ".join(str(b) for b in blocked),
        level=logging.ERROR,
        date=day.isoformat(),
        lists=len(blocked),
    )
    ids = [f"issue {b.issue_id}" for b in blocked if b.issue_id is not None]
    named = f" ({', '.join(ids)})" if ids else ""
    values = {
        "heading": f"Not sent: the newsletter for {timing.describe_date(day)}{named}",
        "intro": "The send job found no approved issue for these lists, so nothing went out.",
        "problems": [b.next_step(day) for b in blocked],
        "note": "Sent by the newsletter scheduler's send job.",
    }
    return _send_notice(cfg, f"NOT SENT: newsletter for {day.isoformat()}{named}", values, ())


def notify_failed_sends(cfg: Settings, failures: Sequence[FailedSend]) -> int:
    """Say that issues ended with failed batches: ids, who is unsent, the exact command.

    Titled as a failure, not as a review: nothing here needs approving, something needs
    watching or doing.
    """
    if not failures:
        return 0
    ids = ", ".join(f"issue {f.issue_id}" for f in failures)
    unsent = sum(f.recipients for f in failures)
    given_up = all(f.next_try is None for f in failures)
    log_event(
        log,
        "send.failed_batches",
        "; ".join(f.describe(cfg.zone) for f in failures),
        level=logging.ERROR,
        issues=ids,
        recipients=unsent,
    )
    if given_up:
        intro = (
            "The send window has closed and the scheduler has stopped retrying. These people "
            "have not been sent the issue; resume by hand with the command below (people "
            "already sent are skipped, nobody gets it twice)."
        )
    else:
        intro = (
            "Some batches were refused after their retries. The scheduler retries them with "
            "a growing pause until the send window closes; you can also resume at once with "
            "the command below (people already sent are skipped, nobody gets it twice)."
        )
    values = {
        "heading": f"Failed: {ids} not sent to {unsent} recipient(s)",
        "intro": intro,
        "problems": [f.describe(cfg.zone) for f in failures],
        "note": "Sent by the newsletter scheduler.",
    }
    subject = f"FAILED: newsletter {ids}: {unsent} recipient(s) not sent"
    return _send_notice(cfg, subject, values, ())


def _action(cfg: Settings, issue: IssueSummary, now: dt.datetime) -> str:
    if issue.status == "draft":
        return f"To approve: newsletter issue approve {issue.id}"
    if issue.status == "approved":
        by = f" by {issue.approved_by}" if issue.approved_by else ""
        return f"Approved{by}. " + timing.delivery_note(cfg, issue.id, issue.issue_date, now)
    return f"Status {issue.status}: `newsletter issue show {issue.id}` has the details."


def _send_notice(
    cfg: Settings, subject: str, values: dict[str, Any], issues: Sequence[IssueSummary]
) -> int:
    if not cfg.review_emails:
        log_event(log, "notice.skipped", "NEWSLETTER_REVIEW_EMAILS is empty; no notice sent")
        return 0
    values.setdefault("fresh", [])
    values.setdefault("fresh_slugs", [])
    now = dt.datetime.now(dt.UTC)
    values["issues"] = [
        dataclasses.asdict(i)
        | {
            "preview_url": f"{cfg.public_url}/issues/{i.id}/preview",
            "action": _action(cfg, i, now),
        }
        for i in issues
    ]
    context = RenderContext.from_settings(cfg, "Newsletter review")
    try:
        html, text = render_email("review_notice", values, context=context, subject=subject)
        template = MessageTemplate(
            subject=subject,
            html=html,
            text=text,
            from_email=cfg.from_email,
            from_name=cfg.from_name,
            categories=("review-notice",),
        )
        url = cfg.public_url
        people = [Recipient(a, None, substitutions(None, url), url) for a in cfg.review_emails]
        stamp = now.strftime("%Y%m%dT%H%M%S%f")
        make_sender(cfg).send(encode_batch(template, people, batch=0), batch_key=f"review-{stamp}")
    except NewsletterError as exc:
        # A notice that cannot go out must not hide the job's own result; it is logged loudly.
        log_event(log, "notice.failed", f"review notice not sent: {exc}", level=logging.ERROR)
        return 0
    log_event(log, "notice.sent", subject, recipients=len(people))
    return len(people)
