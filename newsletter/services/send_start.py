"""Starting a real send from the console: what it will do, and the run itself.

``plan_send`` answers the confirmation page's questions (how many people, which list,
when it reaches inboxes) and refuses what ``issues_send.send_issue`` would refuse, so
a refusal is shown to the person instead of failing after the page has answered.
``run_send`` is ``issues_send.send_issue`` (the CLI's ``issue send``) with its outcome
written to the audit log, for running after the response.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from newsletter.delivery.ledger import verify_approval
from newsletter.delivery.senders import Sender
from newsletter.errors import IssueStateError, NewsletterError, NotDueError
from newsletter.logs import log_event
from newsletter.services import audit, issues_send, staging, timing
from newsletter.services.send_check import check_send
from newsletter.settings import Settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import BatchStatus, IssueStatus, MailingList
from newsletter.storage.repositories import issues as issue_repo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendPlan:
    issue_id: int
    subject: str
    list_slug: str
    members: int
    """Sendable members of the list right now (the snapshot is taken when the send starts)."""
    staged: bool
    """Handed to SendGrid now with a ``send_at`` (NEWSLETTER_STAGE_SENDS)."""
    deliver_now: bool
    reaches_at: dt.datetime
    """When it reaches inboxes: the ``send_at`` of a staged send, else now."""
    local_time: bool
    """The list delivers at a local time in each member's zone; ``reaches_at`` is the first."""

    @property
    def undo(self) -> str:
        """Whether and how the send can still be stopped once started."""
        if not self.staged:
            return "This cannot be undone."
        return (
            "Until 10 minutes before delivery it can still be stopped from a terminal "
            f"(newsletter issue cancel {self.issue_id}, or pause); the console has no "
            "button for that yet."
        )

    def describe(self, zone: ZoneInfo) -> str:
        """What happens, in one or two sentences, for the confirmation page."""
        who = f"{self.members:,} sendable members of list {self.list_slug}"
        when = timing.describe_time(self.reaches_at, zone)
        if not self.staged:
            return f"It is sent to {who} now and reaches inboxes within minutes ({when})."
        local = ", then at that local time in each member's zone" if self.local_time else ""
        asked = "as soon as possible, from " if self.deliver_now else ""
        return f"Staged now for {who}; SendGrid delivers it {asked}{when}{local}."


def plan_send(
    cfg: Settings,
    engine: Engine,
    issue_id: int,
    *,
    deliver_now: bool,
    now: dt.datetime | None = None,
) -> SendPlan:
    """What sending ``issue_id`` now would do; ``IssueStateError``/``NotDueError`` if refused."""
    check = check_send(cfg, engine, issue_id, now=now)
    view = check.view
    if view.status != IssueStatus.APPROVED:
        hint = " approve it first;" if view.status == IssueStatus.DRAFT else ""
        raise IssueStateError(
            f"issue {issue_id} is {view.status}:{hint} only an approved issue can be sent"
        )
    factory = session_factory(engine)
    with transaction(factory) as session:
        issue = issue_repo.get_issue(session, issue_id)
        verify_approval(issue)
        mailing_list = session.scalars(
            select(MailingList).where(MailingList.id == issue.list_id)
        ).one()
        local_time = bool(mailing_list.local_time)
        if cfg.stage_sends:
            groups = staging.plan_groups(
                cfg, session, issue, mailing_list, now=check.now, deliver_now=deliver_now
            )
            reaches_at = min(g.send_at for g in groups) if groups else check.now
    if not cfg.stage_sends:
        if check.early and not deliver_now:
            raise NotDueError(
                f"issue {issue_id} is due {timing.describe_time(check.due, cfg.zone)}: sending "
                "it now would reach inboxes early, so nothing was sent. The scheduler sends it "
                "then; choose “deliver now” to send it at once."
            )
        reaches_at = check.now
    return SendPlan(
        issue_id=issue_id,
        subject=view.subject,
        list_slug=view.list_slug,
        members=check.members,
        staged=cfg.stage_sends,
        deliver_now=deliver_now,
        reaches_at=reaches_at,
        local_time=local_time and not deliver_now,
    )


def run_send(
    cfg: Settings,
    engine: Engine,
    issue_id: int,
    *,
    actor: str,
    deliver_now: bool,
    now: dt.datetime,
    sender: Sender | None = None,
) -> None:
    """Send (stage) the issue as ``issue send`` does; the outcome goes to the audit log.

    Meant to run after the response: nothing is raised, every failure is logged and
    recorded on the issue's history, where its page shows it.
    """
    sessions = session_factory(engine)
    target = audit.issue_target(issue_id)
    try:
        report = issues_send.send_issue(
            cfg, engine, issue_id, send_now=deliver_now, now=now, sender=sender
        )
    except NewsletterError as exc:
        log_event(log, "console.send.failed", str(exc), level=logging.ERROR, issue=issue_id)
        audit.record_now(sessions, actor, "issue.send.failed", target, str(exc)[:400])
        return
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        log_event(
            log, "console.send.failed", detail, level=logging.ERROR, exc_info=True, issue=issue_id
        )
        audit.record_now(sessions, actor, "issue.send.failed", target, detail[:400])
        return
    accepted = report.counts.recipients_in(BatchStatus.ACCEPTED)
    detail = (
        f"{report.status}: {accepted:,} recipients accepted, "
        f"{len(report.failed)} batch(es) failed, {len(report.unknown)} unknown"
    )
    action = "issue.send.done" if report.ok else "issue.send.incomplete"
    audit.record_now(sessions, actor, action, target, detail)
