"""The ledger on both backends: snapshot, resume from every state, claim, record, lease."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import Audience, make_issue, seed_audience

from newsletter.delivery.ledger import Ledger, Outcome, lease_is_live
from newsletter.errors import ConflictError, IssueStateError
from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus, IssueStatus, utcnow
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as repo
from newsletter.storage.repositories import memberships


def _started(
    sessions: sessionmaker[Session], n: int, *, batch_size: int = 1000
) -> tuple[Audience, Ledger]:
    audience = seed_audience(sessions, n)
    issue_id = make_issue(sessions, audience.list_id)
    ledger = Ledger(sessions, issue_id)
    ledger.begin()
    ledger.snapshot(batch_size=batch_size)
    return audience, ledger


def _statuses(ledger: Ledger) -> dict[int, BatchStatus]:
    with transaction(ledger.factory) as session:
        return {b.batch_no: b.status for b in repo.batch_infos(session, ledger.issue_id)}


@pytest.mark.parametrize(
    ("members", "sizes"),
    [
        (1, [1]),
        (999, [999]),
        (1000, [1000]),
        (1001, [1000, 1]),
        (2500, [1000, 1000, 500]),
    ],
)
def test_snapshot_cuts_batches_at_the_batch_size(
    sessions: sessionmaker[Session], members: int, sizes: list[int]
) -> None:
    audience, ledger = _started(sessions, members)
    with transaction(sessions) as session:
        infos = repo.batch_infos(session, ledger.issue_id)
        assert [b.recipients for b in infos] == sizes
        assert [b.batch_no for b in infos] == list(range(1, len(sizes) + 1))
        assert all(b.status == BatchStatus.PENDING for b in infos)
        issue = issue_repo.get_issue(session, ledger.issue_id)
        assert issue.snapshot_done
        assert (issue.recipients, issue.batch_count) == (members, len(sizes))
        queued = repo.recipients_with_outcome(session, ledger.issue_id, BatchStatus.PENDING)
        assert queued == set(audience.ids)


def test_snapshot_of_nobody_gives_the_issue_back(
    sessions: sessionmaker[Session],
) -> None:
    audience, ledger = _started(sessions, 0)
    with transaction(sessions) as session:
        issue = issue_repo.get_issue(session, ledger.issue_id)
        assert issue.status == IssueStatus.APPROVED
        assert not issue.snapshot_done
        assert issue.lease_owner is None
        assert repo.batch_infos(session, ledger.issue_id) == []
    assert audience.ids == []


def test_snapshot_resumes_after_a_crash_without_duplicates(
    sessions: sessionmaker[Session],
) -> None:
    audience = seed_audience(sessions, 230)
    issue_id = make_issue(sessions, audience.list_id)
    ledger = Ledger(sessions, issue_id)
    ledger.begin()
    # A process that died after committing two chunks of 60 (three batches of 20 each).
    for first_batch, after in [(1, 0), (4, audience.ids[59])]:
        with transaction(sessions) as session:
            copied = ledger_repo_chunk(session, issue_id, audience.list_id, after, first_batch)
            assert copied == 60
    total = ledger.snapshot(batch_size=20, chunk_rows=40)
    assert total == 230
    with transaction(sessions) as session:
        infos = repo.batch_infos(session, issue_id)
        assert [b.recipients for b in infos] == [20] * 11 + [10]
        assert [b.batch_no for b in infos] == list(range(1, 13))
        queued = repo.recipients_with_outcome(session, issue_id, BatchStatus.PENDING)
        assert queued == set(audience.ids)


def ledger_repo_chunk(
    session: Session, issue_id: int, list_id: int, after: int, first_batch: int
) -> int:
    return repo.snapshot_chunk(
        session, issue_id, list_id, after=after, first_batch=first_batch, batch_size=20, limit=60
    )


def test_resumed_snapshot_is_not_requeried(sessions: sessionmaker[Session]) -> None:
    audience, ledger = _started(sessions, 5)
    seed_audience(sessions, 8)  # three people join after the snapshot
    assert ledger.snapshot(batch_size=1000) == 5
    with transaction(sessions) as session:
        assert repo.recipients_with_outcome(session, ledger.issue_id, BatchStatus.PENDING) == set(
            audience.ids
        )


def test_claim_then_record_each_outcome(sessions: sessionmaker[Session]) -> None:
    _, ledger = _started(sessions, 4, batch_size=1)
    outcomes = {
        1: Outcome(1, BatchStatus.ACCEPTED, message_id="m-1", status_code=202),
        2: Outcome(2, BatchStatus.FAILED, error="bad from", error_field="from", status_code=400),
        3: Outcome(3, BatchStatus.UNKNOWN, error="read timed out"),
        4: Outcome(4, BatchStatus.PENDING, error="401", status_code=401),
    }
    for batch_no, outcome in outcomes.items():
        claimed = ledger.claim(batch_no)
        assert claimed is not None and len(claimed.recipients) == 1
        # A second claim of the same batch loses.
        assert ledger.claim(batch_no) is None
        assert _statuses(ledger)[batch_no] == BatchStatus.SENDING
        assert ledger.record(outcome)
        # Recording twice is refused: the batch is no longer in flight.
        assert not ledger.record(outcome)
    assert _statuses(ledger) == {
        1: BatchStatus.ACCEPTED,
        2: BatchStatus.FAILED,
        3: BatchStatus.UNKNOWN,
        4: BatchStatus.PENDING,
    }
    with transaction(sessions) as session:
        info = {b.batch_no: b for b in repo.batch_infos(session, ledger.issue_id)}
        assert info[1].message_id == "m-1"
        assert (info[2].error, info[2].error_field, info[2].status_code) == (
            "bad from",
            "from",
            400,
        )
        assert info[4].attempts == 1
        for status in (BatchStatus.ACCEPTED, BatchStatus.FAILED, BatchStatus.UNKNOWN):
            assert len(repo.recipients_with_outcome(session, ledger.issue_id, status)) == 1


def test_resume_from_every_batch_state(sessions: sessionmaker[Session]) -> None:
    """pending stays, sending -> unknown once its request started (else pending),
    accepted stays, failed -> pending, unknown stays."""
    _, ledger = _started(sessions, 7, batch_size=1)
    for batch_no, status in [
        (2, BatchStatus.SENDING),
        (3, BatchStatus.ACCEPTED),
        (4, BatchStatus.FAILED),
        (5, BatchStatus.UNKNOWN),
        (6, BatchStatus.SENDING),
        (7, BatchStatus.SENDING),
    ]:
        assert ledger.claim(batch_no) is not None
        if status != BatchStatus.SENDING:
            assert ledger.record(Outcome(batch_no, status))
    assert ledger.request_starting(2)  # its request may have left
    # 6 is still building its body; 7 was refused (429) and waits out its backoff.
    assert ledger.request_starting(7) and ledger.request_refused(7)
    with transaction(sessions) as session:
        started = {
            b.batch_no: b.request_started_at for b in repo.batch_infos(session, ledger.issue_id)
        }
    assert started[2] is not None and started[6] is None and started[7] is None
    # The process dies here; a new one resumes once the old lease has gone.
    with transaction(sessions) as session:
        issue_repo.release_lease(session, ledger.issue_id, ledger.owner)
    second = Ledger(sessions, ledger.issue_id)
    second.begin()
    recovery = second.recover()
    assert recovery.became_unknown == [2]
    assert recovery.back_to_pending == [6, 7]
    assert recovery.failed_retried == [4]
    assert recovery.unknown_resent == []
    assert second.pending_batches() == [1, 4, 6, 7]
    assert _statuses(second) == {
        1: BatchStatus.PENDING,
        2: BatchStatus.UNKNOWN,
        3: BatchStatus.ACCEPTED,
        4: BatchStatus.PENDING,
        5: BatchStatus.UNKNOWN,
        6: BatchStatus.PENDING,
        7: BatchStatus.PENDING,
    }
    with transaction(sessions) as session:
        unknown = repo.recipients_with_outcome(session, ledger.issue_id, BatchStatus.UNKNOWN)
        assert len(unknown) == 2
        infos = {b.batch_no: b for b in repo.batch_infos(session, ledger.issue_id)}
    # The unknown batch keeps the time its request started, and says why it is unknown.
    assert infos[2].request_started_at == started[2]
    assert "request had started" in (infos[2].error or "")
    # Only when asked are unknown batches sent again.
    assert second.recover(resend_unknown=True).unknown_resent == [2, 5]
    assert second.pending_batches() == [1, 2, 4, 5, 6, 7]


def test_a_request_start_is_refused_once_the_batch_is_not_ours(
    sessions: sessionmaker[Session],
) -> None:
    _, ledger = _started(sessions, 2, batch_size=1)
    assert ledger.request_starting(1) is False  # never claimed: no request may start
    assert ledger.claim(1) is not None
    with transaction(sessions) as session:
        issue_repo.release_lease(session, ledger.issue_id, ledger.owner)
    other = Ledger(sessions, ledger.issue_id)
    other.begin()
    other.recover()  # the batch went back to pending under the new owner
    assert ledger.request_starting(1) is False


def test_finish_decides_sent_failed_or_still_sending(
    sessions: sessionmaker[Session],
) -> None:
    _, ledger = _started(sessions, 3, batch_size=1)
    assert ledger.claim(1) is not None and ledger.record(Outcome(1, BatchStatus.ACCEPTED))
    assert ledger.finish() == IssueStatus.SENDING  # batches 2 and 3 still pending
    ledger.begin()
    assert ledger.claim(2) is not None and ledger.record(Outcome(2, BatchStatus.UNKNOWN))
    assert ledger.claim(3) is not None and ledger.record(Outcome(3, BatchStatus.FAILED))
    assert ledger.finish() == IssueStatus.FAILED
    ledger.begin()
    ledger.recover()
    assert ledger.claim(3) is not None and ledger.record(Outcome(3, BatchStatus.ACCEPTED))
    assert ledger.finish() == IssueStatus.SENT  # the unknown batch is reported, not pending
    with transaction(sessions) as session:
        issue = issue_repo.get_issue(session, ledger.issue_id)
        assert issue.sent_at is not None and issue.lease_owner is None
    counts = ledger.counts()
    assert counts.recipients_in(BatchStatus.ACCEPTED) == 2
    assert counts.recipients_in(BatchStatus.UNKNOWN) == 1
    with pytest.raises(IssueStateError, match="already sent"):
        ledger.begin()
    # --resend-unknown may reopen a sent issue that has unknown batches.
    ledger.begin(resend_unknown=True)
    assert ledger.recover(resend_unknown=True).unknown_resent == [2]


def test_people_who_leave_after_the_snapshot_are_skipped(
    sessions: sessionmaker[Session],
) -> None:
    audience, ledger = _started(sessions, 6, batch_size=3)
    gone = audience.ids[1]
    with transaction(sessions) as session:
        assert memberships.unsubscribe(session, gone, audience.list_id, source="test") == 1
    claimed = ledger.claim(1)
    assert claimed is not None
    assert [row[0] for row in claimed.recipients] == [audience.ids[0], audience.ids[2]]
    assert claimed.newly_skipped == 1
    # A whole batch of leavers needs no request at all.
    with transaction(sessions) as session:
        for sid in audience.ids[3:]:
            memberships.unsubscribe(session, sid, audience.list_id, source="test")
    empty = ledger.claim(2)
    assert empty is not None and empty.recipients == [] and empty.newly_skipped == 3
    assert _statuses(ledger)[2] == BatchStatus.ACCEPTED
    with transaction(sessions) as session:
        skipped = repo.skipped_recipients(session, ledger.issue_id)
        assert skipped == {gone, *audience.ids[3:]}
    assert ledger.counts().skipped == 4


def test_send_refuses_drafts_and_changed_content(sessions: sessionmaker[Session]) -> None:
    audience = seed_audience(sessions, 1)
    draft = make_issue(sessions, audience.list_id, approve=False)
    with pytest.raises(IssueStateError, match="draft: approve it first"):
        Ledger(sessions, draft).begin()
    approved = make_issue(sessions, audience.list_id, issue_date=dt.date(2025, 4, 1), tag="x")
    with transaction(sessions) as session:
        issue_repo.get_issue(session, approved).html += "<p>edited after approval</p>"
    with pytest.raises(IssueStateError, match="no longer matches what was approved"):
        Ledger(sessions, approved).begin()


def test_live_lease_blocks_and_dead_or_expired_lease_is_taken_over(
    sessions: sessionmaker[Session],
) -> None:
    audience = seed_audience(sessions, 1)
    issue_id = make_issue(sessions, audience.list_id)
    first = Ledger(sessions, issue_id)
    first.begin()
    with pytest.raises(ConflictError, match="is being sent by"):
        Ledger(sessions, issue_id).begin()
    # A holder on this host whose process is gone: taken over at once.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_owner = first.owner.split(":")[0] + f":{dead.stdout.strip()}:dead"
    with transaction(sessions) as session:
        issue_repo.get_issue(session, issue_id).lease_owner = dead_owner
    Ledger(sessions, issue_id).begin()
    # A holder on another host: waits for the lease to expire.
    with transaction(sessions) as session:
        issue = issue_repo.get_issue(session, issue_id)
        issue.lease_owner = "other-host:1:abc"
        issue.lease_until = utcnow() + dt.timedelta(seconds=30)
    with pytest.raises(ConflictError):
        Ledger(sessions, issue_id).begin()
    with transaction(sessions) as session:
        issue_repo.get_issue(session, issue_id).lease_until = utcnow() - dt.timedelta(seconds=1)
    Ledger(sessions, issue_id).begin()


def test_lease_liveness_rules() -> None:
    now = utcnow()
    later = now + dt.timedelta(seconds=10)
    assert not lease_is_live(None, later, now)
    assert not lease_is_live("h:1:x", now - dt.timedelta(seconds=1), now)
    assert lease_is_live("some-other-host:1:x", later, now)
