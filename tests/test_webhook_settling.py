"""Batches that could not be cancelled, settled by signed webhook events (both databases).

A staged batch whose outcome is unknown falls back to the webhook when cancelling is not
possible (here: the batch API fails). ``processed``/``delivered`` events for it accept
it; no event ``NEWSLETTER_UNKNOWN_GRACE_MINUTES`` after its ``send_at`` while later batches
have events makes it resendable, and the next resume sends it once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import Audience, make_issue, seed_audience
from test_web_support import Web, new_keypair, open_web
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.delivery.retry import RetryPolicy
from newsletter.delivery.senders import MemorySender, SendGridSender
from newsletter.services import issues as issue_service
from newsletter.services.issues_send import SendReport, send_issue
from newsletter.services.resume import resume_sends
from newsletter.services.schedule import JobEnv
from newsletter.settings import Settings, load_settings
from newsletter.storage.db import transaction
from newsletter.storage.models import BatchStatus, IssueStatus, SendBatch
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import ledger as ledger_repo
from newsletter.storage.repositories.ledger import BatchInfo
from newsletter.testing.fake_faults import Fault, FaultKind
from newsletter.testing.fake_sendgrid import FakeSendGrid

QUICK = RetryPolicy(
    max_attempts=3, base_delay=0.01, max_delay=0.05, jitter=0.05, poll_interval=0.05
)
runner = CliRunner()
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as opened:
        yield opened


def _settings(web: Web, **overrides: Any) -> Settings:
    return web.settings.model_copy(update={"batch_size": 10, "send_concurrency": 1, **overrides})


def _fake_clock(fake: FakeSendGrid) -> dt.datetime:
    return dt.datetime.fromtimestamp(fake.now(), dt.UTC)


def _send_with_batch_one_unknown(
    web: Web, engine: Engine, fake: FakeSendGrid, fault: FaultKind
) -> tuple[int, Audience, SendReport]:
    """30 people in 3 batches; batch 1's answer is lost and cancelling it fails."""
    audience = seed_audience(web.sessions, 30)
    issue_id = make_issue(web.sessions, audience.list_id)
    sender = SendGridSender(fake.api_key, base_url=fake.url, timeout=0.4)
    fake.add_faults(Fault(fault, 1.0))
    ids = iter([fake.create_batch() for _ in range(3)])
    sender.create_batch = lambda: next(ids)  # type: ignore[method-assign]
    fake.batch_faults.set_random({"503": 1.0})
    report = send_issue(_settings(web), engine, issue_id, sender=sender, policy=QUICK)
    fake.batch_faults.clear()
    assert [b.batch_no for b in report.unknown] == [1]
    assert report.unknown[0].settle_step == "fallback"
    return issue_id, audience, report


def _events_for_delivered(fake: FakeSendGrid, kind: str = "delivered") -> list[dict[str, Any]]:
    """What SendGrid would post for each delivered recipient: custom_args at the top."""
    delivered = fake.delivered_recipients()
    events = []
    for n, request in enumerate(fake.requests):
        for email in request.recipients:
            if delivered[email]:
                events.append(
                    {
                        "email": email,
                        "event": kind,
                        "timestamp": int(fake.now()),
                        "sg_event_id": f"{kind}-{n}-{email}",
                        "sg_message_id": f"{request.message_id}.filter-{email}",
                        **request.custom_args,
                    }
                )
    return events


def _batch(web: Web, issue_id: int, batch_no: int) -> BatchInfo:
    with transaction(web.sessions) as session:
        (info,) = [b for b in ledger_repo.batch_infos(session, issue_id) if b.batch_no == batch_no]
    return info


def test_delivered_events_accept_a_batch_that_could_not_be_cancelled(
    web: Web, engine: Engine, fake: FakeSendGrid
) -> None:
    issue_id, audience, _ = _send_with_batch_one_unknown(web, engine, fake, "hang")
    fake.advance_clock(3600)  # past send_at: SendGrid delivered all three requests
    events = _events_for_delivered(fake)
    assert {e["batch"] for e in events} == {"1", "2", "3"}
    assert all(e["sg_batch"] for e in events)  # the request's own batch id is echoed
    assert web.post_events(events).status_code == 200
    settled = _batch(web, issue_id, 1)
    assert settled.status == BatchStatus.ACCEPTED and settled.settle_rule == "webhook"
    assert "processed/delivered webhook events" in (settled.settle_note or "")
    assert settled.events_seen == 10
    view = issue_service.show_issue(engine, issue_id)
    assert view.counts is not None and view.counts.batches_in(BatchStatus.UNKNOWN) == 0
    # Nobody twice, nobody lost, and nothing left to resend.
    assert fake.delivered_recipients() == Counter({e: 1 for e in audience.emails})


def test_events_of_another_request_of_the_batch_settle_nothing(
    web: Web, engine: Engine, fake: FakeSendGrid
) -> None:
    issue_id, _, _ = _send_with_batch_one_unknown(web, engine, fake, "hang")
    fake.advance_clock(3600)
    events = [e for e in _events_for_delivered(fake) if e["batch"] == "1"]
    for e in events:
        e["sg_batch"] = "an-earlier-cancelled-request"
    assert web.post_events(events).status_code == 200
    kept = _batch(web, issue_id, 1)
    assert kept.status == BatchStatus.UNKNOWN and kept.events_seen == 0


def test_no_event_after_the_grace_period_makes_the_batch_resendable_and_resume_sends_it(
    web: Web, engine: Engine, fake: FakeSendGrid
) -> None:
    issue_id, audience, report = _send_with_batch_one_unknown(web, engine, fake, "reset")
    send_at = report.groups[0].send_at
    fake.advance_clock(2 * 3600)  # batches 2 and 3 delivered; batch 1 never reached SendGrid
    events = _events_for_delivered(fake, "processed")
    assert {e["batch"] for e in events} == {"2", "3"}
    assert web.post_events(events).status_code == 200
    sender = SendGridSender(fake.api_key, base_url=fake.url, timeout=5)
    cfg = _settings(web)
    # 30 min after send_at: still inside the 60-minute grace, so batch 1 stays unknown.
    early = send_at + dt.timedelta(minutes=30)
    waiting = send_issue(cfg, engine, issue_id, sender=sender, clock=lambda: early)
    assert [b.batch_no for b in waiting.unknown] == [1]
    # Past the grace: resendable, and this resume sends it under a new batch id.
    now = _fake_clock(fake)
    assert now > send_at + dt.timedelta(minutes=60)
    resumed = send_issue(cfg, engine, issue_id, sender=sender, policy=QUICK, clock=lambda: now)
    assert resumed.ok and resumed.status == IssueStatus.SENT, resumed.as_dict()
    again = _batch(web, issue_id, 1)
    assert again.status == BatchStatus.ACCEPTED and again.settle_rule == "grace"
    assert again.settle_note is not None
    assert "no event 60 min after its send_at while batch(es) 2–3 have events" in again.settle_note
    fake.advance_clock(3600)
    assert fake.delivered_recipients() == Counter({e: 1 for e in audience.emails})


def test_without_a_webhook_the_grace_rule_never_resends(
    web: Web, engine: Engine, fake: FakeSendGrid
) -> None:
    issue_id, _, report = _send_with_batch_one_unknown(web, engine, fake, "reset")
    fake.advance_clock(3 * 3600)
    later = _fake_clock(fake)
    cfg = _settings(web, sendgrid_webhook_public_key=None)
    sender = SendGridSender(fake.api_key, base_url=fake.url, timeout=5)
    kept = send_issue(cfg, engine, issue_id, sender=sender, clock=lambda: later)
    assert [b.batch_no for b in kept.unknown] == [1]
    assert report.groups


def test_issue_show_says_which_rule_settled_each_batch(
    web: Web, engine: Engine, db_url: str, fake: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    issue_id, _, _ = _send_with_batch_one_unknown(web, engine, fake, "hang")
    fake.advance_clock(3600)
    assert web.post_events(_events_for_delivered(fake)).status_code == 200
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    shown = runner.invoke(app, ["issue", "show", str(issue_id)])
    assert shown.exit_code == 0, shown.output
    assert "batch 1 (accepted, rule webhook): accepted: processed/delivered webhook" in shown.stdout
    data = json.loads(runner.invoke(app, ["issue", "show", str(issue_id), "--json"]).stdout)
    (first,) = [b for b in data["problem_batches"] if b["batch"] == 1]
    assert first["settle_rule"] == "webhook" and first["events_seen"] == 10


def test_the_scheduler_resume_job_resends_a_batch_with_no_event_after_the_grace(
    db_url: str, engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    audience = seed_audience(sessions, 3)
    day = dt.date(2026, 11, 24)  # a Tuesday: delivered 09:00 New York, 14:00 UTC
    due = dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.UTC)
    issue_id = make_issue(sessions, audience.list_id, issue_date=day)
    values: dict[str, Any] = {
        "database_url": db_url,
        "batch_size": 1,
        "outbox_dir": tmp_path / "outbox",
        "sendgrid_webhook_public_key": new_keypair()[1],
    }
    cfg = load_settings(**values)
    staged = send_issue(cfg, engine, issue_id, sender=MemorySender(), clock=lambda: due - HOUR)
    assert staged.ok and [g.send_at for g in staged.groups] == [due]
    # As the webhook left it: batch 1's request never arrived, batches 2 and 3 have events.
    with transaction(sessions) as session:
        session.execute(
            update(SendBatch)
            .where(SendBatch.issue_id == issue_id, SendBatch.batch_no == 1)
            .values(status=BatchStatus.UNKNOWN, settle_step="fallback")
        )
        session.execute(
            update(SendBatch)
            .where(SendBatch.issue_id == issue_id, SendBatch.batch_no > 1)
            .values(events_seen=1)
        )
    inside = resume_sends(JobEnv(cfg, sessions, now=lambda: due + HOUR / 2))
    assert inside["resumed"] == 0
    resumed = resume_sends(JobEnv(cfg, sessions, now=lambda: due + HOUR + MINUTE))
    assert resumed["resumed"] == 1, resumed
    with transaction(sessions) as session:
        first = ledger_repo.batch_infos(session, issue_id)[0]
        status = issue_repo.get_issue(session, issue_id).status
    assert (first.status, first.settle_rule, status) == (
        BatchStatus.ACCEPTED,
        "grace",
        IssueStatus.SENT,
    )
    bodies = [json.loads(p.read_text()) for p in (tmp_path / "outbox").glob("*.json")]
    assert [b["personalizations"][0]["to"][0]["email"] for b in bodies] == [audience.emails[0]]
