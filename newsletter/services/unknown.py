"""Unknown batches as a person handles them: list them, pick some by number, settle them.

A batch is ``unknown`` when its request may have reached SendGrid but no answer came
back. ``docs/operations.md`` gives the order that never sends anyone the issue twice:
settle the batches SendGrid did accept first (``mark-accepted --batch N``), then resend
only the others by number (``issue send ID --resend-unknown --batch N``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from newsletter.errors import IssueStateError
from newsletter.services.batch_settle import number_ranges
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import BatchStatus
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as ledger_repo
from newsletter.storage.repositories.ledger import BatchInfo

OPERATOR_RULE = "operator"


@dataclass(frozen=True)
class UnknownBatch:
    """One unknown batch with what a person needs to look it up at SendGrid."""

    batch_no: int
    recipients: int
    """People in it who were still sendable when it was claimed."""
    request_started_at: dt.datetime | None
    """When its request began to be written (None: this ledger did not record it)."""
    message_id: str | None
    sg_batch_id: str | None
    send_at: dt.datetime | None
    reason: str | None
    settle_step: str | None
    settle_note: str | None

    @classmethod
    def of(cls, info: BatchInfo) -> UnknownBatch:
        return cls(
            batch_no=info.batch_no,
            recipients=info.recipients - info.skipped,
            request_started_at=info.request_started_at,
            message_id=info.message_id,
            sg_batch_id=info.sg_batch_id,
            send_at=info.send_at,
            reason=info.error,
            settle_step=info.settle_step,
            settle_note=info.settle_note,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_no,
            "recipients": self.recipients,
            "request_started_at": _iso(self.request_started_at),
            "message_id": self.message_id,
            "sg_batch_id": self.sg_batch_id,
            "send_at": _iso(self.send_at),
            "reason": self.reason,
            "settle_step": self.settle_step,
            "settle_note": self.settle_note,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def describe(batches: Sequence[UnknownBatch]) -> str:
    """``batches 2, 5–6 (2,980 people)``, ``batch 3 (1 person)``."""
    people = sum(b.recipients for b in batches)
    word = "batch" if len(batches) == 1 else "batches"
    who = "1 person" if people == 1 else f"{people:,} people"
    return f"{word} {number_ranges(b.batch_no for b in batches)} ({who})"


def unknown_batches(engine: Engine, issue_id: int) -> list[UnknownBatch]:
    """The issue's unknown batches in number order (``NotFoundError`` for no such issue)."""
    with transaction(session_factory(engine)) as session:
        issue_repo.get_issue(session, issue_id)
        infos = ledger_repo.batch_infos(session, issue_id, [BatchStatus.UNKNOWN])
    return [UnknownBatch.of(info) for info in infos]


def choose_unknown(
    engine: Engine, issue_id: int, batch_nos: Sequence[int] | None, *, action: str
) -> list[UnknownBatch]:
    """The unknown batches ``batch_nos`` names (all of them for None).

    A number that is not an unknown batch of the issue is refused by name, before
    anything changes, so a typo cannot rewrite a real outcome. ``action`` completes
    the message ("marked accepted", "resent").
    """
    found = unknown_batches(engine, issue_id)
    if batch_nos is None:
        return found
    by_number = {b.batch_no: b for b in found}
    wrong = sorted(set(batch_nos) - set(by_number))
    if wrong:
        known = number_ranges(by_number) if by_number else "none"
        raise IssueStateError(
            f"issue {issue_id}: batch(es) {', '.join(map(str, wrong))} are not unknown "
            f"(its unknown batches: {known}); only unknown batches can be {action}; "
            "nothing was changed"
        )
    return [by_number[n] for n in sorted(set(batch_nos))]


def mark_unknown_accepted(
    engine: Engine, issue_id: int, batch_nos: Sequence[int] | None, *, by: str
) -> list[int]:
    """Record that SendGrid did accept these unknown batches (a person checked its activity).

    All or nothing: a batch that is not unknown refuses the whole request.
    """
    chosen = choose_unknown(engine, issue_id, batch_nos, action="marked accepted")
    note = f"accepted: marked by {by} after checking SendGrid's activity"
    with transaction(session_factory(engine)) as session:
        return ledger_repo.mark_unknown_accepted(
            session, issue_id, [b.batch_no for b in chosen], note=note, rule=OPERATOR_RULE
        )
