"""Issue use cases shared by the CLI, the web app and the scheduler: build, approve, view.

Sending lives in ``issues_send``; this module stores and reads the issue snapshot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from newsletter.errors import ConflictError, ContentProblem, IssueStateError
from newsletter.settings import Settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import BatchStatus, Issue, IssueStatus, MailingList, utcnow
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as ledger_repo
from newsletter.storage.repositories import lists
from newsletter.storage.repositories.audience import count_sendable
from newsletter.storage.repositories.ledger import BatchInfo, LedgerCounts

if TYPE_CHECKING:
    # Content, assembly and rendering load in the functions that build, so that sending
    # or showing an issue (``issue send``, ``status``) does not load Jinja2 and MJML.
    from newsletter.content.models import IssueOverride
    from newsletter.render import RenderContext

REPLACEABLE = (IssueStatus.DRAFT, IssueStatus.APPROVED)


@dataclass(frozen=True)
class IssueView:
    """An issue as people and scripts see it, with its ledger counts once sending began."""

    id: int
    list_slug: str
    issue_date: dt.date
    status: IssueStatus
    subject: str
    preheader: str
    source: str
    article_slugs: tuple[str, ...]
    tip_slugs: tuple[str, ...]
    content_hash: str
    notes: tuple[str, ...]
    created_at: dt.datetime
    approved_at: dt.datetime | None
    approved_by: str | None
    send_started_at: dt.datetime | None
    sent_at: dt.datetime | None
    recipients: int
    counts: LedgerCounts | None = None
    problem_batches: tuple[BatchInfo, ...] = field(default=())
    intro: str = ""
    subject_chosen: bool = False
    preheader_chosen: bool = False

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "list": self.list_slug,
            "date": self.issue_date.isoformat(),
            "status": str(self.status),
            "subject": self.subject,
            "preheader": self.preheader,
            "source": self.source,
            "articles": list(self.article_slugs),
            "tips": list(self.tip_slugs),
            "content_hash": self.content_hash,
            "notes": list(self.notes),
            "created_at": _iso(self.created_at),
            "approved_at": _iso(self.approved_at),
            "approved_by": self.approved_by,
            "send_started_at": _iso(self.send_started_at),
            "sent_at": _iso(self.sent_at),
            "recipients": self.recipients,
        }
        if self.counts is not None:
            data["ledger"] = counts_dict(self.counts)
            data["problem_batches"] = [batch_dict(b) for b in self.problem_batches]
        return data


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def counts_dict(counts: LedgerCounts) -> dict[str, Any]:
    return {
        "batches": {str(s): counts.batches_in(s) for s in BatchStatus},
        "recipients": {str(s): counts.recipients_in(s) for s in BatchStatus},
        "skipped": counts.skipped,
        "total_recipients": counts.total_recipients,
    }


def batch_dict(batch: BatchInfo) -> dict[str, Any]:
    return {
        "batch": batch.batch_no,
        "status": str(batch.status),
        "recipients": batch.recipients - batch.skipped,
        "attempts": batch.attempts,
        "error": batch.error,
        "field": batch.error_field,
        "status_code": batch.status_code,
        "updated_at": batch.updated_at.isoformat(),
        "sg_batch_id": batch.sg_batch_id,
        "send_at": batch.send_at.isoformat() if batch.send_at else None,
        "settle_step": batch.settle_step,
        "settled_by": batch.settle_note,
        "settle_rule": batch.settle_rule,
        "events_seen": batch.events_seen,
    }


def view_of(
    issue: Issue,
    slug: str,
    counts: LedgerCounts | None = None,
    problems: tuple[BatchInfo, ...] = (),
) -> IssueView:
    return IssueView(
        id=issue.id,
        list_slug=slug,
        issue_date=issue.issue_date,
        status=IssueStatus(issue.status),
        subject=issue.subject,
        preheader=issue.preheader,
        source=issue.source,
        article_slugs=tuple(issue.article_slugs or ()),
        tip_slugs=tuple(issue.tip_slugs or ()),
        content_hash=issue.content_hash,
        notes=tuple(issue.notes or ()),
        created_at=issue.created_at,
        approved_at=issue.approved_at,
        approved_by=issue.approved_by,
        send_started_at=issue.send_started_at,
        sent_at=issue.sent_at,
        recipients=issue.recipients,
        counts=counts,
        problem_batches=problems,
        intro=issue.intro or "",
        subject_chosen=bool(issue.subject_chosen),
        preheader_chosen=bool(issue.preheader_chosen),
    )


def render_context(cfg: Settings, mailing_list: MailingList) -> RenderContext:
    """The list's own sender identity where it has one, else the settings'."""
    from newsletter.render import RenderContext

    return RenderContext(
        templates_dir=cfg.templates_dir,
        list_name=mailing_list.name,
        from_name=mailing_list.from_name or cfg.from_name,
        postal_address=cfg.postal_address,
        public_url=cfg.public_url,
        reply_to=mailing_list.reply_to or cfg.reply_to,
        archive=cfg.archive,
    )


def default_issue_date(cfg: Settings) -> dt.date:
    """Today in the clinic's time zone: "this week's issue" is the one built today."""
    return dt.datetime.now(cfg.zone).date()


def build_issue(
    cfg: Settings,
    engine: Engine,
    list_slug: str,
    issue_date: dt.date | None = None,
    *,
    replace: bool = False,
    override: IssueOverride | None = None,
) -> IssueView:
    """Assemble, render and store a draft for a list and date (history = what went out).

    ``override`` is marketing's queued choice for that list and date; it wins over an
    override file for that date (which still gives what it leaves out), and the issue's
    source says "queued".
    """
    from newsletter.assembly import ContentHistory, SentIssue, assemble
    from newsletter.content.loader import library_for_issue
    from newsletter.render import render_issue

    day = issue_date or cfg.today()
    factory = session_factory(engine)
    with transaction(factory) as session:
        mailing_list = lists.get_by_slug(session, list_slug)
        existing = issue_repo.find_live_issue(session, mailing_list.id, day)
        if existing is not None:
            _check_replaceable(existing, list_slug, replace=replace)
        history = ContentHistory(
            tuple(
                SentIssue(h.issue_date, h.article_slugs, h.tip_slugs)
                for h in issue_repo.delivered_history(session, mailing_list.id, exclude_date=day)
            )
        )
        ctx = render_context(cfg, mailing_list)
        list_id = mailing_list.id
    wanted = () if override is None else (*override.articles, *override.tips)
    library, left_out = library_for_issue(cfg.content_dir, list_slug, day, wanted=wanted)
    plan = assemble(
        library,
        list_slug,
        day,
        history,
        articles_per_issue=cfg.articles_per_issue,
        tips_per_issue=cfg.tips_per_issue,
        queued=override,
    )
    if left_out:
        plan = dataclasses.replace(plan, notes=(*plan.notes, left_out_note(left_out)))
    page = render_issue(plan, ctx)
    with transaction(factory) as session:
        if existing is not None and not issue_repo.transition(
            session, existing.id, expected=REPLACEABLE, to=IssueStatus.CANCELLED
        ):
            raise ConflictError(
                f"issue {existing.id} changed while the new one was built; try again"
            )
        issue = issue_repo.create_issue(
            session,
            issue_repo.NewIssue(
                list_id=list_id,
                issue_date=day,
                subject=page.subject,
                preheader=page.preheader,
                html=page.html,
                text=page.text,
                article_slugs=plan.article_slugs,
                tip_slugs=plan.tip_slugs,
                content_hash=page.content_hash,
                source=plan.source,
                notes=plan.notes,
                intro=plan.intro,
                subject_chosen=override is not None and override.subject is not None,
                preheader_chosen=override is not None and override.preheader is not None,
            ),
        )
        return view_of(issue, list_slug)


def left_out_note(problems: Sequence[ContentProblem]) -> str:
    """One line for an issue's notes: which broken files the issue was built without."""
    files = sorted({str(p.path) for p in problems})
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return (
        f"built without {len(files)} content file(s) that have problems ({shown}); "
        "`newsletter content check` lists them"
    )


def _check_replaceable(existing: Issue, slug: str, *, replace: bool) -> None:
    if not replace:
        raise ConflictError(
            f"list {slug!r} already has issue {existing.id} for {existing.issue_date} "
            f"(status {existing.status}); `newsletter issue show {existing.id}` shows it, "
            "--replace cancels it and builds a new one"
        )
    if existing.status not in REPLACEABLE:
        raise IssueStateError(
            f"issue {existing.id} for {existing.issue_date} is {existing.status}: "
            "an issue that has started sending cannot be replaced"
        )


def approve_issue(engine: Engine, issue_id: int, *, by: str) -> IssueView:
    """draft -> approved, freezing the content hash that sending will insist on."""
    factory = session_factory(engine)
    with transaction(factory) as session:
        issue = issue_repo.get_issue(session, issue_id)
        if issue.status != IssueStatus.DRAFT:
            raise IssueStateError(
                f"issue {issue_id} is {issue.status}; only a draft can be approved"
            )
        won = issue_repo.transition(
            session,
            issue_id,
            expected=IssueStatus.DRAFT,
            to=IssueStatus.APPROVED,
            approved_hash=issue.content_hash,
            approved_at=utcnow(),
            approved_by=by,
        )
        if not won:
            raise ConflictError(f"issue {issue_id} changed while it was being approved")
        issue = issue_repo.get_issue(session, issue_id)
        return view_of(issue, issue_repo.list_slug(session, issue.list_id))


def show_issue(engine: Engine, issue_id: int) -> IssueView:
    """One issue with its ledger counts and the batches that need a person's attention."""
    factory = session_factory(engine)
    with transaction(factory) as session:
        issue = issue_repo.get_issue(session, issue_id)
        slug = issue_repo.list_slug(session, issue.list_id)
        if issue.send_started_at is None:
            return view_of(issue, slug)
        counts = ledger_repo.ledger_counts(session, issue_id)
        attention = {BatchStatus.FAILED, BatchStatus.UNKNOWN, BatchStatus.SENDING}
        # Also every batch that settling touched, so the rule that settled it shows.
        problems = [
            b
            for b in ledger_repo.batch_infos(session, issue_id)
            if b.status in attention or b.settle_note
        ]
        return view_of(issue, slug, counts, tuple(problems))


def list_issues(
    engine: Engine, *, list_slug: str | None = None, limit: int = 50
) -> list[IssueView]:
    factory = session_factory(engine)
    with transaction(factory) as session:
        list_id = lists.get_by_slug(session, list_slug).id if list_slug else None
        return [
            view_of(i, s) for i, s in issue_repo.list_issues(session, list_id=list_id, limit=limit)
        ]


def send_preview(engine: Engine, issue_id: int) -> tuple[IssueView, int]:
    """The issue and how many members its list could be sent to right now (for a prompt)."""
    factory = session_factory(engine)
    with transaction(factory) as session:
        issue = issue_repo.get_issue(session, issue_id)
        slug = issue_repo.list_slug(session, issue.list_id)
        return view_of(issue, slug), count_sendable(session, issue.list_id)
