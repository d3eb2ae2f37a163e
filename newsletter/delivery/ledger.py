"""The crash-safe send ledger for one issue: lease, audience snapshot, claim and record.

The rules that make a send safe under ``kill -9`` at any instant:

* a batch is claimed (pending -> sending, committed) *before* its request goes out, and
  its outcome is recorded (accepted / failed / unknown) *after*, in its own commit;
* a batch found in ``sending`` when a send resumes was in flight when its process died:
  it becomes ``unknown`` and is never resent unless a person says so;
* one process at a time holds the issue's lease; a lease whose holder died on this host
  is taken over at once, one held from another host only once it expires.

All writes go through the ``storage`` repositories; this module holds no SQL.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import ConflictError, IssueStateError
from newsletter.render.model import RenderedIssue
from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus, Issue, IssueStatus, utcnow
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as repo
from newsletter.storage.repositories.ledger import LedgerCounts

LEASE_SECONDS = 60.0
SNAPSHOT_CHUNK_ROWS = 50_000
SKIP_REASON = "not sendable at send time"

# (subscriber_id, email, name, first_name): one recipient of a claimed batch.
QueuedRow = tuple[int, str, str | None, str | None]


@dataclass(frozen=True)
class ClaimedBatch:
    """A batch this process now owns (status ``sending``), with who is still in it."""

    batch_no: int
    recipients: list[QueuedRow]
    newly_skipped: int
    sg_batch_id: str | None = None
    send_at: dt.datetime | None = None
    """When SendGrid is to deliver it (None: at once, an unstaged send)."""


@dataclass(frozen=True)
class StageGroup:
    """Members who share one ``send_at``; ``zones`` None means everyone on the list."""

    send_at: dt.datetime
    wanted: dt.datetime
    zones: tuple[str, ...] | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "send_at": self.send_at.isoformat(),
            "wanted": self.wanted.isoformat(),
            "zones": None if self.zones is None else list(self.zones),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> StageGroup:
        zones = data.get("zones")
        return cls(
            dt.datetime.fromisoformat(str(data["send_at"])),
            dt.datetime.fromisoformat(str(data["wanted"])),
            None if zones is None else tuple(str(z) for z in zones),  # type: ignore[attr-defined]
        )


@dataclass(frozen=True)
class Recovery:
    """What ``recover`` found from earlier runs."""

    became_unknown: list[int]
    failed_retried: list[int]
    unknown_resent: list[int]


@dataclass(frozen=True)
class Outcome:
    """How one claimed batch ended, as the runner reports it to the ledger."""

    batch_no: int
    status: BatchStatus
    message_id: str | None = None
    error: str | None = None
    error_field: str | None = None
    status_code: int | None = None


def new_lease_owner(host: str | None = None) -> str:
    """``host:pid:random``; ``host`` is ``NEWSLETTER_HOST_NAME`` (default: the host name)."""
    return f"{host or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_is_live(
    owner: str | None, until: dt.datetime | None, now: dt.datetime, *, host: str | None = None
) -> bool:
    """Whether another sender may still be working under this lease.

    On this host (``host``, default the host name) a dead holder's process is seen at
    once; a holder on another host is trusted until its lease expires.
    """
    if owner is None or until is None or until <= now:
        return False
    holder_host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if holder_host != (host or socket.gethostname()) or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def verify_approval(issue: Issue) -> None:
    """The stored snapshot must be exactly what was approved."""
    current = RenderedIssue(issue.subject, issue.preheader, issue.html, issue.text).content_hash
    if issue.approved_hash is None:
        raise IssueStateError(
            f"issue {issue.id} is not approved: run `newsletter issue approve {issue.id}`"
        )
    if issue.approved_hash != current or issue.content_hash != current:
        raise IssueStateError(
            f"issue {issue.id}: the stored content no longer matches what was approved "
            f"(approved {issue.approved_hash[:12]}, now {current[:12]}); approve it again"
        )


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
    ) -> None:
        self.factory = factory
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
        """Settle what earlier runs left: in-flight -> unknown, failed -> pending."""
        with transaction(self.factory) as session:
            inflight = repo.move_batches(
                session,
                self.issue_id,
                from_status=BatchStatus.SENDING,
                to_status=BatchStatus.UNKNOWN,
                error="in flight when an earlier send process stopped; outcome unknown",
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
        return Recovery(became_unknown=inflight, failed_retried=failed, unknown_resent=resent)

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
        send_at: dt.datetime | None = None
        with transaction(self.factory) as session:
            if not repo.claim_batch(
                session,
                self.issue_id,
                batch_no,
                newly_skipped=0,
                sg_batch_id=sg_batch_id,
                not_before=not_before,
            ):
                return None
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

    def record(self, outcome: Outcome) -> bool:
        """sending -> outcome, in its own commit; False if the batch was taken from us."""
        with transaction(self.factory) as session:
            moved = repo.record_outcome(
                session,
                self.issue_id,
                outcome.batch_no,
                outcome.status,
                message_id=outcome.message_id,
                error=outcome.error,
                error_field=outcome.error_field,
                status_code=outcome.status_code,
            )
            self._renew(session)
        return moved

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
