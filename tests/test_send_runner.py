"""send_issue with the in-memory sender: batches, retries, resume, skips, stop."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import make_issue, seed_audience

from newsletter.audience.tokens import TokenSigner
from newsletter.delivery.retry import RetryPolicy
from newsletter.delivery.runner import BatchEvent
from newsletter.delivery.senders import MemorySender
from newsletter.errors import (
    DeliveryError,
    IssueStateError,
    SendAuthError,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendRetryableError,
)
from newsletter.render.model import FIRST_NAME_FALLBACK, FIRST_NAME_TAG, UNSUBSCRIBE_URL_TAG
from newsletter.services.issues_send import SendReport, SendStart, send_issue
from newsletter.services.unknown import unknown_batches
from newsletter.settings import Settings, load_settings
from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus, IssueStatus, SuppressionReason
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as ledger_repo
from newsletter.storage.repositories import memberships, suppressions

FAST = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, jitter=0.0, poll_interval=0.01)


def _cfg(db_url: str, **overrides: Any) -> Settings:
    return load_settings(database_url=db_url, **overrides)


def _send(
    cfg: Settings, engine: Engine, issue_id: int, sender: MemorySender, **kwargs: Any
) -> SendReport:
    return send_issue(cfg, engine, issue_id, sender=sender, policy=FAST, **kwargs)


def _issue_status(sessions: sessionmaker[Session], issue_id: int) -> IssueStatus:
    with transaction(sessions) as session:
        return issue_repo.get_issue(session, issue_id).status


@pytest.mark.parametrize("members", [1, 999, 1000, 1001, 2500])
def test_every_member_once_in_requests_of_at_most_the_batch_size(
    db_url: str, engine: Engine, sessions: sessionmaker[Session], members: int
) -> None:
    audience = seed_audience(sessions, members)
    issue_id = make_issue(sessions, audience.list_id)
    sender = MemorySender()
    cfg = _cfg(db_url)
    report = _send(cfg, engine, issue_id, sender)
    assert report.ok and report.status == IssueStatus.SENT
    assert report.counts.recipients_in(BatchStatus.ACCEPTED) == members
    assert sender.accepted_recipients() == Counter({e: 1 for e in audience.emails})
    requests = sender.sent
    assert len(requests) == math.ceil(members / 1000)
    signer = TokenSigner.from_settings(cfg)
    by_email = dict(zip(audience.emails, audience.ids, strict=True))
    batches = set()
    for request in requests:
        body = request.decoded()
        assert 1 <= len(body["personalizations"]) <= 1000
        assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
        assert body["subject"] == "Your back this week"
        assert body["categories"] == ["newsletter", "backcare"]
        assert body["custom_args"]["issue_id"] == str(issue_id)
        batches.add(body["custom_args"]["batch"])
        assert body["from"]["email"] == cfg.from_email
        for p in body["personalizations"][:50]:
            email = p["to"][0]["email"]
            url = p["substitutions"][UNSUBSCRIBE_URL_TAG]
            assert url.startswith(f"{cfg.public_url}/u/")
            assert signer.verify_unsubscribe(url.rsplit("/", 1)[1]) == (
                by_email[email],
                audience.list_id,
            )
            assert p["headers"] == {
                "List-Unsubscribe": f"<{url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
            first = p["substitutions"][FIRST_NAME_TAG]
            assert first == FIRST_NAME_FALLBACK or first.startswith("Ana")
    assert len(batches) == len(requests)


def test_send_to_nobody_is_a_clear_message(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 0)
    issue_id = make_issue(sessions, audience.list_id)
    with pytest.raises(DeliveryError, match="'backcare' has no sendable members"):
        _send(_cfg(db_url), engine, issue_id, MemorySender())
    assert _issue_status(sessions, issue_id) == IssueStatus.APPROVED
    # Once people join, the same issue sends normally.
    seed_audience(sessions, 3)
    assert _send(_cfg(db_url), engine, issue_id, MemorySender()).ok


def test_small_batch_size_and_rate_limit_retry(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 25)
    issue_id = make_issue(sessions, audience.list_id)
    sender = MemorySender()
    sender.fail_next(SendRetryableError("429 too many requests", retry_after=0.0), times=2)
    sender.fail_next(SendRetryableError("503 service unavailable"))
    report = _send(_cfg(db_url, batch_size=10, send_concurrency=2), engine, issue_id, sender)
    assert report.ok
    assert sorted(len(r.recipients()) for r in sender.sent) == [5, 10, 10]
    assert sender.attempts == 6
    assert sender.accepted_recipients() == Counter({e: 1 for e in audience.emails})


def test_retryable_errors_that_persist_fail_the_batch_and_a_rerun_retries_it(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 30)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = _cfg(db_url, batch_size=10, send_concurrency=1)
    sender = MemorySender()
    sender.fail_batch(f"{issue_id}-2", SendRetryableError("502 bad gateway"), times=4)
    report = _send(cfg, engine, issue_id, sender)
    assert report.status == IssueStatus.FAILED and not report.ok
    assert [b.batch_no for b in report.failed] == [2]
    assert "502 bad gateway" in (report.failed[0].error or "")
    again = _send(cfg, engine, issue_id, sender)
    assert again.ok and again.recovery.failed_retried == [2]
    assert sender.accepted_recipients() == Counter({e: 1 for e in audience.emails})


def test_rejected_batch_fails_with_the_api_message_and_field(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 20)
    issue_id = make_issue(sessions, audience.list_id)
    sender = MemorySender()
    sender.fail_batch(
        f"{issue_id}-1",
        SendRejectedError(
            "The from address does not match a verified Sender Identity.", status=403, field="from"
        ),
    )
    report = _send(_cfg(db_url, batch_size=10), engine, issue_id, sender)
    assert report.status == IssueStatus.FAILED
    (failed,) = report.failed
    assert (failed.batch_no, failed.status_code, failed.error_field) == (1, 403, "from")
    assert "verified Sender Identity" in (failed.error or "")
    assert report.counts.recipients_in(BatchStatus.ACCEPTED) == 10
    assert report.as_dict()["failed"] == 10


def test_auth_error_stops_the_whole_send_and_a_rerun_finishes(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 50)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = _cfg(db_url, batch_size=10, send_concurrency=1)
    sender = MemorySender()
    sender.fail_batch(
        f"{issue_id}-2", SendAuthError("401: The provided authorization grant is invalid")
    )
    report = _send(cfg, engine, issue_id, sender)
    assert report.run.auth_error is not None and not report.ok
    assert report.status == IssueStatus.SENDING
    assert report.counts.batches_in(BatchStatus.PENDING) == 4  # batch 2 went back to pending
    assert len(sender.sent) == 1
    again = _send(cfg, engine, issue_id, sender)
    assert again.ok
    assert sender.accepted_recipients() == Counter({e: 1 for e in audience.emails})


def test_unknown_outcome_is_reported_and_never_resent_unless_asked(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 30)
    issue_id = make_issue(sessions, audience.list_id)
    # Unstaged: a staged send settles this itself (tests/test_staging.py).
    cfg = _cfg(db_url, batch_size=10, stage_sends=False)
    sender = MemorySender()
    sender.fail_batch(f"{issue_id}-3", SendOutcomeUnknownError("read timed out"), accepted=True)
    report = _send(cfg, engine, issue_id, sender)
    assert report.status == IssueStatus.SENT and not report.ok
    assert [b.batch_no for b in report.unknown] == [3]
    assert report.as_dict()["unknown"] == 10
    with pytest.raises(IssueStateError, match=r"unknown outcome \(batches 3\)"):
        _send(cfg, engine, issue_id, sender)
    assert sender.accepted_recipients() == Counter({e: 1 for e in audience.emails})
    # Asked explicitly: batch 3 goes again (SendGrid had it, so its people get two copies).
    again = _send(cfg, engine, issue_id, sender, resend_unknown=True)
    assert again.ok and again.recovery.unknown_resent == [3]
    twice = {e for e, n in sender.accepted_recipients().items() if n == 2}
    assert twice == set(audience.emails[20:30])


def test_suppressed_and_unsubscribed_members_are_skipped(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 30)
    issue_id = make_issue(sessions, audience.list_id)
    suppressed, early, late = audience.emails[0], audience.emails[1], audience.emails[25]
    with transaction(sessions) as session:
        suppressions.add_many(session, [(suppressed, suppressed, SuppressionReason.BOUNCE, "test")])
        memberships.unsubscribe(session, audience.ids[1], audience.list_id, source="test")

    def leave_after_snapshot(info: SendStart) -> None:
        assert info.recipients == 28  # the suppressed and the early leaver were never queued
        with transaction(sessions) as session:
            memberships.unsubscribe(session, audience.ids[25], audience.list_id, source="test")

    sender = MemorySender()
    report = _send(
        _cfg(db_url, batch_size=10, send_concurrency=1),
        engine,
        issue_id,
        sender,
        on_start=leave_after_snapshot,
    )
    assert report.ok
    received = sender.accepted_recipients()
    assert suppressed not in received and early not in received and late not in received
    assert sum(received.values()) == 27
    assert report.counts.skipped == 1


def test_stop_request_finishes_in_flight_and_resumes_later(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 60)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = _cfg(db_url, batch_size=10, send_concurrency=2)
    events: list[BatchEvent] = []
    sender = MemorySender(latency=0.01)
    report = _send(
        cfg, engine, issue_id, sender, on_batch=events.append, should_stop=lambda: len(events) >= 2
    )
    assert report.run.stopped and report.status == IssueStatus.SENDING
    done = report.counts.batches_in(BatchStatus.ACCEPTED)
    assert 2 <= done < 6
    assert report.counts.batches_in(BatchStatus.SENDING) == 0  # in-flight ones were recorded
    again = _send(cfg, engine, issue_id, sender)
    assert again.ok
    assert sender.accepted_recipients() == Counter({e: 1 for e in audience.emails})


def test_an_unknown_batch_keeps_the_time_its_request_started(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 20)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = _cfg(db_url, batch_size=10, stage_sends=False)
    sender = MemorySender()
    sender.fail_batch(f"{issue_id}-2", SendOutcomeUnknownError("read timed out"), accepted=True)
    before = dt.datetime.now(dt.UTC)
    report = _send(cfg, engine, issue_id, sender)
    (unknown,) = report.unknown
    assert unknown.request_started_at is not None
    assert before <= unknown.request_started_at <= dt.datetime.now(dt.UTC)
    (listed,) = unknown_batches(engine, issue_id)
    assert listed.request_started_at == unknown.request_started_at
    # Accepted batches keep theirs too; nothing is left claimed without a request.
    accepted = [b for b in report_batches(sessions, issue_id) if b.batch_no == 1]
    assert accepted[0].request_started_at is not None


def report_batches(sessions: sessionmaker[Session], issue_id: int) -> list[ledger_repo.BatchInfo]:
    with transaction(sessions) as session:
        return ledger_repo.batch_infos(session, issue_id)
