"""Stopping a staged issue before SendGrid delivers it: cancel, pause, resume.

A staged issue's batches sit at SendGrid until their ``send_at``. ``hold_issue`` sets a
cancel or pause on each batch id (``POST /v3/user/scheduled_sends``) while that is still
guaranteed (10 minutes or more before ``send_at``), confirms it with a read, and writes
it to the batch's ledger row; ``resume`` removes a pause.

SendGrid keeps at most 10 batches paused *or* cancelled at once, for the whole account:
a pause takes a place just as a cancel does, so pausing cannot get around the limit.
What is possible, and done here:

* batches not yet at SendGrid (pending, failed, unknown) are simply not sent while the
  issue is held: ``send_issue`` refuses a held issue and the resume job skips it;
* staged batches are held up to the free places, earliest ``send_at`` first;
* the rest are reported by number, people and delivery time as *still to be delivered*,
  and ``continue_holds`` (the scheduler's resume job, or the same command again) holds
  more as places free up (a cancel frees its place once its ``send_at`` has passed, a
  pause when it is removed), until 10 minutes before their ``send_at``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import DeliveryError, IssueStateError
from newsletter.services.batch_settle import number_ranges
from newsletter.services.timing import describe_time
from newsletter.settings import Settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import BatchStatus, IssueStatus, utcnow
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as ledger_repo
from newsletter.storage.repositories import overview
from newsletter.storage.repositories.ledger import BatchInfo

if TYPE_CHECKING:
    from newsletter.delivery.senders import Sender

Action = Literal["cancel", "pause", "resume"]
WORDS: dict[str, str] = {"cancel": "cancelled", "pause": "paused", "resume": "resumed"}


def _limits() -> tuple[dt.timedelta, int]:
    """SendGrid's 10-minute rule and 10-hold limit (imported late: ``status`` needs no
    delivery code)."""
    from newsletter.delivery.senders.base import CANCEL_DEADLINE_SECONDS, MAX_PAUSED_OR_CANCELLED

    return dt.timedelta(seconds=CANCEL_DEADLINE_SECONDS), MAX_PAUSED_OR_CANCELLED


@dataclass(frozen=True)
class StillDelivered:
    """A staged batch SendGrid will deliver at ``send_at``, and why it was not held."""

    batch_no: int
    people: int
    send_at: dt.datetime | None
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_no,
            "people": self.people,
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "why": self.why,
        }


@dataclass
class HoldReport:
    issue_id: int
    action: Action
    dry_run: bool = False
    done: list[int] = field(default_factory=list)
    """Batches held (or, resuming, released) by this call, or that would be (dry run)."""
    done_people: int = 0
    already: list[int] = field(default_factory=list)
    """Batches that already had this hold."""
    not_done: dict[int, str] = field(default_factory=dict)
    """Batch number -> why it could not be held (too late, no free place, API error)."""
    still: list[StillDelivered] = field(default_factory=list)
    unsent: list[int] = field(default_factory=list)
    """Batches not at SendGrid yet: not sent while the issue is held."""
    unsent_people: int = 0
    free_places: int = 0

    @property
    def ok(self) -> bool:
        return not self.not_done

    @property
    def still_people(self) -> int:
        return sum(s.people for s in self.still)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.issue_id,
            "action": self.action,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "done": self.done,
            "done_people": self.done_people,
            "already": self.already,
            "not_done": {str(k): v for k, v in self.not_done.items()},
            "still_delivered": [s.as_dict() for s in self.still],
            "still_delivered_people": self.still_people,
            "not_sent_while_held": self.unsent,
            "not_sent_while_held_people": self.unsent_people,
            "free_places": self.free_places,
        }


def _people(batch: BatchInfo) -> int:
    return batch.recipients - batch.skipped


def _load(session: Session, issue_id: int) -> tuple[list[BatchInfo], list[BatchInfo]]:
    """(staged accepted batches earliest send_at first, batches not yet at SendGrid)."""
    issue = issue_repo.get_issue(session, issue_id)
    if issue.status not in (IssueStatus.SENT, IssueStatus.SENDING) or not issue.stage_plan:
        raise IssueStateError(
            f"issue {issue_id} is {issue.status} and has no staged batches at SendGrid; "
            "only a staged issue can be paused, resumed or cancelled this way"
        )
    infos = ledger_repo.batch_infos(session, issue_id)
    staged = [b for b in infos if b.status == BatchStatus.ACCEPTED and b.sg_batch_id]
    staged.sort(key=lambda b: (b.send_at or dt.datetime.max.replace(tzinfo=dt.UTC), b.batch_no))
    unsent = [b for b in infos if b.status != BatchStatus.ACCEPTED]
    return staged, unsent


def hold_issue(
    engine: Engine,
    issue_id: int,
    action: Action,
    *,
    sender: Sender,
    clock: Callable[[], dt.datetime] = utcnow,
    dry_run: bool = False,
) -> HoldReport:
    """Cancel, pause or resume every staged batch of an issue not yet delivered.

    ``dry_run`` reads SendGrid's holds and says what would happen, changing nothing.
    """
    factory = session_factory(engine)
    with transaction(factory) as session:
        staged, unsent = _load(session, issue_id)
        if action == "resume" and issue_repo.get_issue(session, issue_id).stage_hold == "cancel":
            raise IssueStateError(
                f"issue {issue_id} was cancelled, not paused: a cancelled issue is not resumed "
                "(build a new issue to send it)"
            )
    report = HoldReport(issue_id, action, dry_run=dry_run)
    if action != "resume":
        report.unsent = [b.batch_no for b in unsent]
        report.unsent_people = sum(_people(b) for b in unsent)
    now = clock()
    try:
        held = len(sender.batch_states())
    except DeliveryError as exc:
        raise IssueStateError(f"issue {issue_id}: SendGrid's batch API failed: {exc}") from exc
    report.free_places = max(0, _limits()[1] - held)
    for batch in staged:
        assert batch.sg_batch_id is not None
        if action == "resume":
            if batch.settle_step == "pause" and (
                dry_run or _apply(factory, report, batch, state=None, sender=sender)
            ):
                _count(report, batch)
            continue
        if batch.settle_step == action:
            report.already.append(batch.batch_no)
            continue
        why = _cannot_hold(batch, now, held)
        if why is None and (dry_run or _apply(factory, report, batch, state=action, sender=sender)):
            held += batch.settle_step is None
            _count(report, batch)
            continue
        why = why or report.not_done.get(batch.batch_no, "SendGrid refused the hold")
        report.not_done[batch.batch_no] = why
        report.still.append(StillDelivered(batch.batch_no, _people(batch), batch.send_at, why))
    if not dry_run:
        with transaction(factory) as session:
            issue_repo.get_issue(session, issue_id).stage_hold = (
                None if action == "resume" else action
            )
    return report


def _count(report: HoldReport, batch: BatchInfo) -> None:
    report.done.append(batch.batch_no)
    report.done_people += _people(batch)


def _cannot_hold(batch: BatchInfo, now: dt.datetime, held: int) -> str | None:
    deadline, most = _limits()
    left = (batch.send_at - now) if batch.send_at else dt.timedelta(0)
    if left < deadline:
        return "under 10 minutes to send_at: SendGrid delivers it"
    if batch.settle_step is None and held >= most:
        return (
            f"SendGrid already holds {most} paused or cancelled batches "
            "(its limit for the account; a pause counts too)"
        )
    return None


def _apply(
    factory: sessionmaker[Session],
    report: HoldReport,
    batch: BatchInfo,
    *,
    state: Literal["cancel", "pause"] | None,
    sender: Sender,
) -> bool:
    batch_id = batch.sg_batch_id
    assert batch_id is not None
    try:
        if state is None:
            sender.clear_batch_state(batch_id)
        else:
            sender.set_batch_state(batch_id, state)
        confirmed = sender.batch_state(batch_id)
    except DeliveryError as exc:
        report.not_done[batch.batch_no] = f"SendGrid batch {batch_id}: {exc}"
        return False
    if confirmed != state:
        report.not_done[batch.batch_no] = (
            f"SendGrid shows batch {batch_id} as {confirmed or 'active'}"
        )
        return False
    with transaction(factory) as session:
        ledger_repo.set_settle(
            session,
            report.issue_id,
            batch.batch_no,
            expected=BatchStatus.ACCEPTED,
            step=state,
            note=f"{WORDS[state or 'resume']} at SendGrid by an operator "
            f"(issue {report.action}), confirmed",
        )
    return True


# -- what a held issue means for sending -------------------------------------------------


def refuse_if_held(engine: Engine, issue_id: int) -> None:
    """``IssueStateError`` when an operator cancelled or paused the issue: nothing is sent."""
    with transaction(session_factory(engine)) as session:
        hold = issue_repo.get_issue(session, issue_id).stage_hold
    if hold == "cancel":
        raise IssueStateError(
            f"issue {issue_id} was cancelled at SendGrid by an operator (`newsletter issue "
            f"cancel {issue_id}`); nothing was sent and its batches not yet at SendGrid "
            "will not be"
        )
    if hold == "pause":
        raise IssueStateError(
            f"issue {issue_id} is paused by an operator; nothing was sent. "
            f"`newsletter issue resume {issue_id}` removes the pause, then sending resumes"
        )


def held_issue_ids(engine: Engine) -> dict[int, Action]:
    """Every issue an operator cancelled or paused at SendGrid, with its hold."""
    with transaction(session_factory(engine)) as session:
        return {i: cast(Action, h) for i, h in overview.held_issues(session)}


def continue_holds(
    engine: Engine,
    *,
    make_sender: Callable[[], Sender],
    clock: Callable[[], dt.datetime] = utcnow,
) -> dict[int, HoldReport]:
    """Hold the batches of held issues that found no free place before, where still
    possible (at least 10 minutes before their ``send_at``); for the resume job."""
    now = clock()
    deadline = _limits()[0]
    reports: dict[int, HoldReport] = {}
    sender: Sender | None = None
    for issue_id, action in held_issue_ids(engine).items():
        with transaction(session_factory(engine)) as session:
            staged, _ = _load(session, issue_id)
        waiting = [
            b
            for b in staged
            if b.settle_step != action and b.send_at is not None and b.send_at - now >= deadline
        ]
        if not waiting:
            continue
        sender = sender or make_sender()
        reports[issue_id] = hold_issue(engine, issue_id, action, sender=sender, clock=clock)
    return reports


# -- what ``issue show`` and ``status`` say ------------------------------------------------


@dataclass(frozen=True)
class HoldSummary:
    action: str
    held: list[int]
    held_people: int
    still: list[StillDelivered]
    unsent: list[int]
    unsent_people: int

    def sentence(self, describe_time: Callable[[dt.datetime], str]) -> str:
        word = WORDS.get(self.action, self.action)
        parts = [
            f"{word} by an operator: {len(self.held)} staged batch(es) ({self.held_people:,} "
            f"people) {word} at SendGrid"
        ]
        if self.unsent:
            parts.append(
                f"batch(es) {number_ranges(self.unsent)} ({self.unsent_people:,} people) "
                "not at SendGrid are not sent"
            )
        if self.still:
            times = sorted({s.send_at for s in self.still if s.send_at})
            when = describe_time(times[0]) if times else "at once"
            people = sum(s.people for s in self.still)
            parts.append(
                f"STILL TO BE DELIVERED: batch(es) {number_ranges(s.batch_no for s in self.still)} "
                f"({people:,} people) from {when}; more are held as SendGrid's 10 places free "
                "up, until 10 minutes before"
            )
        return "; ".join(parts) + "."

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "held": self.held,
            "held_people": self.held_people,
            "still_delivered": [s.as_dict() for s in self.still],
            "not_sent_while_held": self.unsent,
            "not_sent_while_held_people": self.unsent_people,
        }


def hold_summary(engine: Engine, issue_id: int) -> HoldSummary | None:
    """The operator's hold on an issue and what SendGrid will still deliver; None if none."""
    with transaction(session_factory(engine)) as session:
        issue = issue_repo.get_issue(session, issue_id)
        action = issue.stage_hold
        if action is None:
            return None
        staged, unsent = _load(session, issue_id)
    held = [b for b in staged if b.settle_step == action]
    still = [
        StillDelivered(b.batch_no, _people(b), b.send_at, "not held")
        for b in staged
        if b.settle_step != action
    ]
    return HoldSummary(
        action=action,
        held=[b.batch_no for b in held],
        held_people=sum(_people(b) for b in held),
        still=still,
        unsent=[b.batch_no for b in unsent],
        unsent_people=sum(_people(b) for b in unsent),
    )


def held_status(cfg: Settings, engine: Engine) -> list[dict[str, Any]]:
    """Every held issue with what SendGrid still delivers, for ``newsletter status``."""
    found = []
    for issue_id in sorted(held_issue_ids(engine)):
        summary = hold_summary(engine, issue_id)
        if summary is not None:
            text = summary.sentence(lambda at: describe_time(at, cfg.zone))
            found.append({"id": issue_id, "text": text, **summary.as_dict()})
    return found
