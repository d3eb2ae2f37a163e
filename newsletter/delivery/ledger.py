"""The crash-safe send ledger for one issue: lease, audience snapshot, claim and record.

The rules that make a send safe under ``kill -9`` at any instant:

* a batch is claimed (pending -> sending, committed) *before* its request goes out, and
  its outcome is recorded (accepted / failed / unknown) *after*, in its own commit;
* just before a claimed batch's request is written, ``request_started_at`` is committed;
  it is cleared again when SendGrid answers with a refusal (429/5xx) before a retry;
* a batch found in ``sending`` when a send resumes belonged to a process that died: if
  its request had started it becomes ``unknown`` and is never resent unless a person
  says so; if not (still building its body, or waiting out a backoff) it is ``pending``;
* the writes around a request (claim, request start, outcome) are retried on a fresh
  connection for up to ``RECONNECT_SECONDS`` when the database connection drops;
* one process at a time holds the issue's lease; a lease whose holder died on this host
  is taken over at once, one held from another host only once it expires.

All writes go through the ``storage`` repositories; this module holds no SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from newsletter.delivery.journal import JournalEntry, OutcomeJournal
from newsletter.delivery.ledger_model import (
    ClaimedBatch,
    Outcome,
    QueuedRow,
    Recovery,
    StageGroup,
    lease_is_live,
    new_lease_owner,
    verify_approval,
)
from newsletter.errors import ConflictError, DatabaseUnavailableError, IssueStateError
from newsletter.storage.db import RECONNECT_SECONDS, retrying_transaction, transaction
from newsletter.storage.models import BatchStatus, Issue, IssueStatus, utcnow
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as repo
from newsletter.storage.repositories.ledger import LedgerCounts

__all__ = [
    "ClaimedBatch",
    "Ledger",
    "Outcome",
    "QueuedRow",
    "Recovery",
    "StageGroup",
    "lease_is_live",
    "new_lease_owner",
    "verify_approval",
]

T = TypeVar("T")

LEASE_SECONDS = 60.0
SNAPSHOT_CHUNK_ROWS = 50_000
SKIP_REASON = "not sendable at send time"


class Ledger:
    """The ledger of one issue, driven by one process that holds the issue's lease."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        issue_id: int,
        *,
        owner: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], dt.datetime] = utcnow,
        host: str | None = None,
        reconnect_seconds: float = RECONNECT_SECONDS,
        journal: OutcomeJournal | None = None,
    ) -> None:
        self.factory = factory
        self.reconnect_seconds = reconnect_seconds
        self.journal = journal
        self.issue_id = issue_id
        self.host = host
        self.owner = owner or new_lease_owner(host)
        self._lease = dt.timedelta(seconds=lease_seconds)
        self._clock = clock
        self._renewed_at = clock()
        self.list_id = 0

    # -- starting ---------------------------------------------------------------------

    def begin(self, *, resend_unknown: bool = False, settle_staged: bool = False) -> Issue:
        """Take the issue into ``sending`` under our lease (compare-and-set).

        ``settle_staged`` also takes a sent issue whose unknown batches were staged (they
        carry a SendGrid batch id), so that settling can cancel and resend them.
        """
        now = self._clock()
        with transaction(self.factory) as session:
            issue = issue_repo.get_issue(session, self.issue_id)
            status = issue.status
            extra: dict[str, object] = {}
            if status == IssueStatus.DRAFT:
                raise IssueStateError(
                    f"issue {issue.id} is a draft: approve it first "
                    f"(`newsletter issue approve {issue.id}`)"
                )
            if status == IssueStatus.CANCELLED:
                raise IssueStateError(f"issue {issue.id} is cancelled and cannot be sent")
            if status == IssueStatus.SENT:
                unknown = repo.batch_numbers(session, issue.id, [BatchStatus.UNKNOWN])
                if not unknown:
                    raise IssueStateError(f"issue {issue.id} was already sent; nothing is left")
                staged = settle_staged and any(
                    b.sg_batch_id is not None
                    for b in repo.batch_infos(session, issue.id, [BatchStatus.UNKNOWN])
                )
                if not resend_unknown and not staged:
                    raise IssueStateError(
                        f"issue {issue.id} was already sent; {len(unknown)} batch(es) have an "
                        f"unknown outcome (batches {', '.join(map(str, unknown[:20]))}) and "
                        "are left alone: --resend-unknown resends them, which may deliver "
                        "twice to their recipients"
                    )
            verify_approval(issue)
            if status == IssueStatus.APPROVED:
                extra["send_started_at"] = now
            elif lease_is_live(issue.lease_owner, issue.lease_until, now, host=self.host):
                raise ConflictError(
                    f"issue {issue.id} is being sent by {issue.lease_owner} "
                    f"(lease until {issue.lease_until:%Y-%m-%d %H:%M:%S} UTC)"
                )
            won = issue_repo.take_lease(
                session,
                issue.id,
                expected=[status],
                seen_owner=issue.lease_owner,
                owner=self.owner,
                until=now + self._lease,
                **extra,
            )
            if not won:
                raise ConflictError(
                    f"issue {issue.id} was started by another process at the same moment"
                )
            self._renewed_at = now
            self.list_id = issue.list_id
            return issue_repo.get_issue(session, issue.id)

    # -- the audience snapshot ----------------------------------------------------------

    def fix_plan(self, make: Callable[[], list[StageGroup]]) -> list[StageGroup]:
        """The stage plan stored for this issue, else ``make()``'s, stored now.

        Fixed once, when staging begins, so a resumed snapshot cuts the same groups.
        """
        with transaction(self.factory) as session:
            stored = issue_repo.get_issue(session, self.issue_id).stage_plan
        if stored:
            return [StageGroup.from_json(g) for g in stored]
        plan = make()
        with transaction(self.factory) as session:
            issue = issue_repo.get_issue(session, self.issue_id)
            if issue.stage_plan:  # another process fixed it meanwhile
                return [StageGroup.from_json(g) for g in issue.stage_plan]
            issue.stage_plan = [g.as_json() for g in plan]
            return plan

    def snapshot(
        self,
        *,
        batch_size: int,
        chunk_rows: int = SNAPSHOT_CHUNK_ROWS,
        groups: list[StageGroup] | None = None,
    ) -> int:
        """Write one delivery row per sendable member, in batches; resumable; the total.

        Each commit holds whole batches, so a crash mid-snapshot leaves no half batch,
        and a resumed snapshot continues after the last subscriber id written (the
        audience query is ordered by subscriber id). Once done, it is never re-queried.
        With ``groups`` (local-time delivery), the members of each group are written in
        turn, so that every batch holds people of one ``send_at`` only.
        """
        per_chunk = batch_size * max(1, chunk_rows // batch_size)
        plan: list[StageGroup | None] = list(groups) if groups else [None]
        for index, group in enumerate(plan):
            following = plan[index + 1] if index + 1 < len(plan) else None
            while True:
                with transaction(self.factory) as session:
                    issue = issue_repo.get_issue(session, self.issue_id)
                    if issue.snapshot_done:
                        return issue.recipients
                    if following is not None and repo.has_batches_at(
                        session, self.issue_id, following.send_at
                    ):
                        break  # this group was finished by an earlier run
                    send_at = group.send_at if group is not None else None
                    last_id, last_batch = repo.snapshot_position(session, self.issue_id, send_at)
                    copied = repo.snapshot_chunk(
                        session,
                        self.issue_id,
                        issue.list_id,
                        after=last_id or 0,
                        first_batch=last_batch + 1,
                        batch_size=batch_size,
                        limit=per_chunk,
                        send_at=send_at,
                        zones=group.zones if group is not None else None,
                    )
                    self._renew(session, force=True)
                    if copied == per_chunk:
                        continue
                    if following is None:
                        return self._finish_snapshot(session)
                    break
        raise AssertionError("unreachable: the last group finishes the snapshot")

    def _finish_snapshot(self, session: Session) -> int:
        total = repo.snapshot_recipients(session, self.issue_id)
        if total == 0:
            # Nobody to send to: give the issue back so it can be sent once people join.
            issue_repo.finish_send(
                session, self.issue_id, self.owner, to=IssueStatus.APPROVED, send_started_at=None
            )
            return 0
        _, last_batch = repo.snapshot_position(session, self.issue_id)
        issue_repo.set_snapshot_totals(session, self.issue_id, recipients=total, batches=last_batch)
        return total

    # -- resuming -----------------------------------------------------------------------

    def recover(self, *, resend_unknown: bool = False) -> Recovery:
        """Settle what earlier runs left: the journal's outcomes first, then in-flight ->
        unknown (or pending, if its request never started), failed -> pending."""
        journaled = self.journal.entries() if self.journal is not None else []
        with transaction(self.factory) as session:
            for entry in journaled:
                self._store(session, entry.as_outcome())
            inflight, not_started = repo.recover_inflight(
                session,
                self.issue_id,
                error=(
                    "its request had started when an earlier send process stopped; outcome unknown"
                ),
            )
            # A failed batch was refused, so nobody in it got the issue: safe to try again.
            failed = repo.move_batches(
                session,
                self.issue_id,
                from_status=BatchStatus.FAILED,
                to_status=BatchStatus.PENDING,
            )
            resent: list[int] = []
            if resend_unknown:
                resent = repo.move_batches(
                    session,
                    self.issue_id,
                    from_status=BatchStatus.UNKNOWN,
                    to_status=BatchStatus.PENDING,
                )
        if journaled and self.journal is not None:
            self.journal.clear()
        return Recovery(
            became_unknown=inflight,
            failed_retried=failed,
            unknown_resent=resent,
            back_to_pending=not_started,
        )

    def pending_batches(self) -> list[int]:
        with transaction(self.factory) as session:
            return repo.batch_numbers(session, self.issue_id, [BatchStatus.PENDING])

    # -- claim and record ------------------------------------------------------------------

    def claim(
        self,
        batch_no: int,
        *,
        sg_batch_id: str | None = None,
        not_before: dt.datetime | None = None,
    ) -> ClaimedBatch | None:
        """pending -> sending, dropping people no longer sendable; None if lost.

        The write comes first so the transaction holds the write lock from its first
        statement: a read-then-write transaction could fail on SQLite when another
        writer commits in between. A staged send stores the SendGrid batch id here, in
        the same commit, so it is in the ledger before the request can go out.
        """

        def work(session: Session, _attempt: int) -> ClaimedBatch | None:
            if not repo.claim_batch(
                session,
                self.issue_id,
                batch_no,
                newly_skipped=0,
                sg_batch_id=sg_batch_id,
                not_before=not_before,
            ):
                return None
            send_at: dt.datetime | None = None
            if sg_batch_id is not None:
                send_at = repo.batch_send_at(session, self.issue_id, batch_no)
            rows = repo.batch_recipients(session, self.issue_id, batch_no, self.list_id)
            keep = [row[:4] for row in rows if row[4]]
            dropped = [row[0] for row in rows if not row[4]]
            if dropped:
                repo.skip_deliveries(session, self.issue_id, dropped, SKIP_REASON)
                repo.add_skipped(session, self.issue_id, batch_no, len(dropped))
            if not keep:
                repo.record_outcome(
                    session,
                    self.issue_id,
                    batch_no,
                    BatchStatus.ACCEPTED,
                    error="every recipient was skipped; no request sent",
                )
            self._renew(session)
            return ClaimedBatch(batch_no, keep, len(dropped), sg_batch_id, send_at)

        return self._write(work)

    def request_starting(self, batch_no: int) -> bool:
        """Commit that the batch's request is about to be written; False: not ours now."""
        at = self._clock()
        return self._write(
            lambda session, _attempt: repo.set_request_started(session, self.issue_id, batch_no, at)
        )

    def request_refused(self, batch_no: int) -> bool:
        """SendGrid answered with a refusal: no request of this batch is out any more."""
        return self._write(
            lambda session, _attempt: repo.set_request_started(
                session, self.issue_id, batch_no, None
            )
        )

    def record(self, outcome: Outcome) -> bool:
        """sending -> outcome, in its own commit; False if the batch was taken from us.

        When the database stays unreachable, the outcome goes to the local journal and
        a ``DatabaseUnavailableError`` says that rerunning the send resumes.
        """

        def work(session: Session, attempt: int) -> bool:
            moved = self._store(session, outcome)
            if not moved and attempt > 1:
                # An earlier try may have committed just before its connection died.
                moved = repo.batch_outcome(session, self.issue_id, outcome.batch_no) == (
                    outcome.status,
                    outcome.message_id,
                )
            self._renew(session)
            return moved

        try:
            return self._write(work)
        except DatabaseUnavailableError as exc:
            if self.journal is not None:
                self.journal.add(JournalEntry.of(outcome, str(exc)))
            what = (
                f"SendGrid accepted it (message id {outcome.message_id})"
                if outcome.status == BatchStatus.ACCEPTED
                else f"its outcome was {outcome.status.value}"
            )
            raise DatabaseUnavailableError(
                f"issue {self.issue_id}: recording batch {outcome.batch_no} failed for "
                f"{self.reconnect_seconds:g} s ({what}): {exc}. The send stopped; once the "
                f"database is back, `newsletter issue send {self.issue_id}` resumes it"
            ) from exc

    def _store(self, session: Session, outcome: Outcome) -> bool:
        return repo.record_outcome(
            session,
            self.issue_id,
            outcome.batch_no,
            outcome.status,
            message_id=outcome.message_id,
            error=outcome.error,
            error_field=outcome.error_field,
            status_code=outcome.status_code,
        )

    def _write(self, work: Callable[[Session, int], T]) -> T:
        return retrying_transaction(self.factory, work, seconds=self.reconnect_seconds)

    def settle_step(
        self,
        batch_no: int,
        *,
        expected: BatchStatus,
        step: str | None,
        note: str | None,
        to_status: BatchStatus | None = None,
    ) -> bool:
        """Record one step of settling a batch, in its own commit (before and after)."""
        with transaction(self.factory) as session:
            moved = repo.set_settle(
                session,
                self.issue_id,
                batch_no,
                expected=expected,
                step=step,
                note=note,
                to_status=to_status,
            )
            self._renew(session)
        return moved

    def heartbeat(self) -> bool:
        """Extend our lease; False when another process has taken the issue over."""
        with transaction(self.factory) as session:
            return self._renew(session, force=True)

    def _renew(self, session: Session, *, force: bool = False) -> bool:
        now = self._clock()
        # Renew at a third of the lease: cheap, and a missed beat or two is harmless.
        if not force and now - self._renewed_at < self._lease / 3:
            return True
        self._renewed_at = now
        return issue_repo.renew_lease(session, self.issue_id, self.owner, now + self._lease)

    # -- finishing --------------------------------------------------------------------------

    def counts(self) -> LedgerCounts:
        with transaction(self.factory) as session:
            return repo.ledger_counts(session, self.issue_id)

    def unknown_batches(self) -> list[repo.BatchInfo]:
        return self.batches_in(BatchStatus.UNKNOWN)

    def batches_in(self, status: BatchStatus) -> list[repo.BatchInfo]:
        with transaction(self.factory) as session:
            return repo.batch_infos(session, self.issue_id, [status])

    def release(self) -> None:
        """Drop our lease without changing the status (the send stays resumable)."""
        with transaction(self.factory) as session:
            issue_repo.release_lease(session, self.issue_id, self.owner)

    def finish(self) -> IssueStatus:
        """sent when nothing is pending or in flight, failed if a batch failed; else stays."""
        with transaction(self.factory) as session:
            counts = repo.ledger_counts(session, self.issue_id)
            open_batches = counts.batches_in(BatchStatus.PENDING) + counts.batches_in(
                BatchStatus.SENDING
            )
            if open_batches:
                issue_repo.release_lease(session, self.issue_id, self.owner)
                return IssueStatus.SENDING
            if counts.batches_in(BatchStatus.FAILED):
                target = IssueStatus.FAILED
                values: dict[str, object] = {}
            else:
                target = IssueStatus.SENT
                values = {"sent_at": self._clock()}
            if not issue_repo.finish_send(session, self.issue_id, self.owner, to=target, **values):
                raise ConflictError(
                    f"issue {self.issue_id} was taken over by another process before it finished"
                )
            return target
