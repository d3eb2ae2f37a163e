"""What a person should know before a send starts, and the refusal of an early unstaged send."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from newsletter.errors import NotDueError
from newsletter.services import timing
from newsletter.services.issues import IssueView, send_preview, show_issue
from newsletter.settings import Settings
from newsletter.storage.models import BatchStatus, IssueStatus


@dataclass(frozen=True)
class SendCheck:
    """What a person should know before a send starts (the CLI's prompt, the console)."""

    view: IssueView
    members: int
    """Sendable members of the list right now."""
    due: dt.datetime
    now: dt.datetime
    nothing_left: bool
    """Already sent to everyone, with no unknown batch: a send has nothing to do."""

    @property
    def early(self) -> bool:
        """Not yet due, and not started: sending now would reach inboxes before its time."""
        return self.view.status == IssueStatus.APPROVED and self.now < self.due


def check_send(
    cfg: Settings, engine: Engine, issue_id: int, *, now: dt.datetime | None = None
) -> SendCheck:
    view, members = send_preview(engine, issue_id)
    unknown = 0
    if view.status in (IssueStatus.SENDING, IssueStatus.SENT, IssueStatus.FAILED):
        view = show_issue(engine, issue_id)  # with its ledger counts
        unknown = view.counts.batches_in(BatchStatus.UNKNOWN) if view.counts else 0
    return SendCheck(
        view=view,
        members=members,
        due=timing.due_time(cfg, view.issue_date),
        now=now or dt.datetime.now(dt.UTC),
        nothing_left=view.status == IssueStatus.SENT and unknown == 0,
    )


def refuse_early(
    cfg: Settings, engine: Engine, issue_id: int, *, now: dt.datetime, send_now: bool
) -> None:
    # Staged sending replaces this refusal: hand the batches to SendGrid now with a
    # ``send_at`` at the delivery time, so nobody receives the issue early either way.
    check = check_send(cfg, engine, issue_id, now=now)
    if send_now or not check.early:
        return
    raise NotDueError(
        f"issue {issue_id} is dated {timing.describe_date(check.view.issue_date)} and is due "
        f"{timing.describe_time(check.due, cfg.zone)}; nothing was sent. The scheduler's send "
        f"job sends it then; `newsletter issue send {issue_id} --now` sends it immediately."
    )
