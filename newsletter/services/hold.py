"""Stopping a staged issue before SendGrid delivers it: cancel, pause, resume.

A staged issue's batches sit at SendGrid until their ``send_at``. ``hold_issue`` sets a
cancel or pause on each batch id (``POST /v3/user/scheduled_sends``) while that is still
guaranteed (10 minutes or more before ``send_at``), and ``resume`` removes a pause.
SendGrid keeps at most 10 batches paused or cancelled at once: batches beyond the free
places are reported as not stopped, with the reason, and a rerun tries them again.
Each batch's hold is written to the ledger after SendGrid confirmed it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine

from newsletter.delivery.senders import Sender
from newsletter.delivery.senders.base import CANCEL_DEADLINE_SECONDS, MAX_PAUSED_OR_CANCELLED
from newsletter.errors import DeliveryError, IssueStateError
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import BatchStatus, IssueStatus, utcnow
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as ledger_repo

Action = Literal["cancel", "pause", "resume"]


@dataclass
class HoldReport:
    issue_id: int
    action: Action
    done: list[int] = field(default_factory=list)
    not_done: dict[int, str] = field(default_factory=dict)
    """Batch number -> why it could not be held (too late, no free place, API error)."""

    @property
    def ok(self) -> bool:
        return not self.not_done

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.issue_id,
            "action": self.action,
            "ok": self.ok,
            "done": self.done,
            "not_done": {str(k): v for k, v in self.not_done.items()},
        }


def hold_issue(
    engine: Engine,
    issue_id: int,
    action: Action,
    *,
    sender: Sender,
    clock: Callable[[], dt.datetime] = utcnow,
) -> HoldReport:
    """Cancel, pause or resume every staged batch of a sent issue not yet delivered."""
    factory = session_factory(engine)
    with transaction(factory) as session:
        issue = issue_repo.get_issue(session, issue_id)
        if issue.status not in (IssueStatus.SENT, IssueStatus.SENDING) or not issue.stage_plan:
            raise IssueStateError(
                f"issue {issue_id} is {issue.status} and has no staged batches at SendGrid; "
                "only a staged issue can be paused, resumed or cancelled this way"
            )
        batches = [
            b
            for b in ledger_repo.batch_infos(session, issue_id, [BatchStatus.ACCEPTED])
            if b.sg_batch_id is not None
        ]
    report = HoldReport(issue_id, action)
    now = clock()
    try:
        held = len(sender.batch_states())
    except DeliveryError as exc:
        raise IssueStateError(f"issue {issue_id}: SendGrid's batch API failed: {exc}") from exc
    for batch in batches:
        assert batch.sg_batch_id is not None
        if action == "resume":
            if batch.settle_step == "pause":
                _apply(
                    factory,
                    report,
                    batch.batch_no,
                    batch_id=batch.sg_batch_id,
                    state=None,
                    sender=sender,
                )
            continue
        if batch.settle_step == action:
            continue
        left = (batch.send_at - now).total_seconds() if batch.send_at else 0.0
        if left < CANCEL_DEADLINE_SECONDS:
            report.not_done[batch.batch_no] = "under 10 minutes to send_at: SendGrid delivers it"
            continue
        if batch.settle_step is None and held >= MAX_PAUSED_OR_CANCELLED:
            report.not_done[batch.batch_no] = (
                f"SendGrid already holds {MAX_PAUSED_OR_CANCELLED} paused or cancelled batches"
            )
            continue
        if _apply(
            factory, report, batch.batch_no, batch_id=batch.sg_batch_id, state=action, sender=sender
        ):
            held += batch.settle_step is None
    with transaction(factory) as session:
        issue = issue_repo.get_issue(session, issue_id)
        issue.stage_hold = None if action == "resume" else action
    return report


def _apply(
    factory: Any,
    report: HoldReport,
    batch_no: int,
    *,
    batch_id: str,
    state: Literal["cancel", "pause"] | None,
    sender: Sender,
) -> bool:
    try:
        if state is None:
            sender.clear_batch_state(batch_id)
        else:
            sender.set_batch_state(batch_id, state)
        confirmed = sender.batch_state(batch_id)
    except DeliveryError as exc:
        report.not_done[batch_no] = f"SendGrid batch {batch_id}: {exc}"
        return False
    if confirmed != state:
        report.not_done[batch_no] = f"SendGrid shows batch {batch_id} as {confirmed or 'active'}"
        return False
    words = {"cancel": "cancelled", "pause": "paused", None: "resumed"}
    with transaction(factory) as session:
        ledger_repo.set_settle(
            session,
            report.issue_id,
            batch_no,
            expected=BatchStatus.ACCEPTED,
            step=state,
            note=f"{words[state]} at SendGrid by an operator (issue {report.action}), confirmed",
        )
    report.done.append(batch_no)
    return True
