"""What marketing looks at before approving: the issue as sent, its checks, its size.

``review_issue`` also says whether the content an issue was built from has changed since
(re-rendering the same picks today gives a different email), and ``rebuild_for_approval``
turns that into a fresh draft that must be approved again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from newsletter.assembly import ContentHistory, assemble
from newsletter.content.loader import library_for_issue
from newsletter.content.models import IssueOverride
from newsletter.errors import ContentError, IssueStateError, NewsletterError, RenderError
from newsletter.render import RenderedIssue, render_issue
from newsletter.render.checks import MAX_HTML_BYTES
from newsletter.render.renderer import check_issue
from newsletter.services import timing
from newsletter.services.issues import IssueView, build_issue, render_context, show_issue
from newsletter.services.preview import sample_values
from newsletter.settings import Settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import IssueStatus
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import lists as lists_repo

CHECKS_RUN = (
    "subject present and short enough",
    f"HTML under {MAX_HTML_BYTES // 1000} KB (Gmail clips larger messages)",
    "every link is https or a mailto/unsubscribe tag",
    "every image has alt text",
    "no MJML or template leftovers in either part",
    "the postal address in both parts",
    "a visible unsubscribe link in the HTML and its URL in the text",
)
REBUILDABLE = (IssueStatus.DRAFT, IssueStatus.APPROVED)


@dataclass(frozen=True)
class Review:
    issue: IssueView
    sample: RenderedIssue  # the stored email with sample values filled in
    html_bytes: int
    text_bytes: int
    check_problem: str | None
    send_at: dt.datetime
    approved_hash: str | None
    # Why re-rendering today differs from what is stored (None: it does not, or n/a).
    content_changed: str | None

    @property
    def approval_current(self) -> bool:
        return self.issue.status != IssueStatus.APPROVED or (
            self.approved_hash == self.issue.content_hash
        )

    @property
    def max_html_bytes(self) -> int:
        return MAX_HTML_BYTES


def stored_sample(cfg: Settings, engine: Engine, issue_id: int) -> RenderedIssue:
    """The stored email with sample values, without the checks (for the preview frames)."""
    with transaction(session_factory(engine)) as session:
        issue = issue_repo.get_issue(session, issue_id)
        stored = RenderedIssue(issue.subject, issue.preheader, issue.html, issue.text)
    return stored.filled(sample_values(cfg))


def review_issue(cfg: Settings, engine: Engine, issue_id: int) -> Review:
    view = show_issue(engine, issue_id)
    with transaction(session_factory(engine)) as session:
        issue = issue_repo.get_issue(session, issue_id)
        stored = RenderedIssue(issue.subject, issue.preheader, issue.html, issue.text)
        approved_hash = issue.approved_hash
    problem = None
    try:
        check_issue(stored.subject, stored.html, stored.text, postal_address=cfg.postal_address)
    except RenderError as exc:
        problem = str(exc)
    changed = _content_changed(cfg, engine, view) if view.status in REBUILDABLE else None
    return Review(
        issue=view,
        sample=stored.filled(sample_values(cfg)),
        html_bytes=len(stored.html.encode()),
        text_bytes=len(stored.text.encode()),
        check_problem=problem,
        send_at=timing.due_time(cfg, view.issue_date),
        approved_hash=approved_hash,
        content_changed=changed,
    )


def render_picks(
    cfg: Settings, engine: Engine, view: IssueView, issue_date: dt.date | None = None
) -> RenderedIssue:
    """The issue's own picks (articles, tips, subject, preheader, intro) rendered today.

    Exactly what is stored, nothing filled in, on ``issue_date`` (default: its own date);
    a reschedule and the "content changed since approval" check both use this.
    """
    day = issue_date or view.issue_date
    with transaction(session_factory(engine)) as session:
        ctx = render_context(cfg, lists_repo.get_by_slug(session, view.list_slug))
    library, _ = library_for_issue(
        cfg.content_dir, view.list_slug, day, wanted=(*view.article_slugs, *view.tip_slugs)
    )
    override = IssueOverride(
        list_slug=view.list_slug,
        issue_date=day,
        subject=view.subject,
        preheader=view.preheader or None,
        articles=view.article_slugs,
        tips=view.tip_slugs,
        intro=view.intro,
    )
    plan = assemble(
        library.model_copy(update={"overrides": {(view.list_slug, day): override}}),
        view.list_slug,
        day,
        ContentHistory(),
        articles_per_issue=max(1, len(view.article_slugs)),
        tips_per_issue=max(1, len(view.tip_slugs)),
    )
    return render_issue(dataclasses.replace(plan, source="queued"), ctx)


def _content_changed(cfg: Settings, engine: Engine, view: IssueView) -> str | None:
    try:
        fresh = render_picks(cfg, engine, view)
    except ContentError as exc:
        return f"the content it uses has problems now: {exc.problems[0]}"
    except NewsletterError as exc:
        return f"it cannot be rebuilt from today's content: {exc}"
    if fresh.content_hash == view.content_hash:
        return None
    return "an article or tip it uses was edited after this issue was built"


def rebuild_for_approval(cfg: Settings, engine: Engine, issue_id: int) -> IssueView:
    """Rebuild a draft or approved issue from today's content as a new draft.

    The old issue is cancelled in the same step (``build_issue(replace=True)``), so the
    list never has two live issues for the date; the new one needs approval again.
    """
    view = show_issue(engine, issue_id)
    if view.status not in REBUILDABLE:
        raise IssueStateError(
            f"issue {issue_id} is {view.status}; only a draft or approved issue can be rebuilt"
        )
    # A subject that came from the lead article follows its new title; one a person
    # typed stays.
    override = IssueOverride(
        list_slug=view.list_slug,
        issue_date=view.issue_date,
        subject=view.subject if view.subject_chosen else None,
        preheader=(view.preheader or None) if view.preheader_chosen else None,
        articles=view.article_slugs,
        tips=view.tip_slugs,
        intro=view.intro,
    )
    return build_issue(
        cfg, engine, view.list_slug, view.issue_date, replace=True, override=override
    )
