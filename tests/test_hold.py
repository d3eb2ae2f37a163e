"""Stopping a staged issue: cancel/pause/resume within SendGrid's 10 holds (both databases).

SendGrid holds at most 10 batches paused or cancelled at once, and a pause takes a place
just as a cancel does. The honest behaviour tested here: hold what fits, say exactly which
batches (people, delivery time) SendGrid still delivers, never send what is not at
SendGrid yet, and hold the rest as places free up.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import make_issue, seed_audience
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.delivery.retry import RetryPolicy
from newsletter.delivery.senders import SendGridSender
from newsletter.errors import IssueStateError
from newsletter.services import hold
from newsletter.services.issues_send import send_issue
from newsletter.services.timing import due_time
from newsletter.settings import Settings, load_settings
from newsletter.storage.models import IssueStatus
from newsletter.testing.fake_sendgrid import FakeSendGrid

QUICK = RetryPolicy(
    max_attempts=3, base_delay=0.01, max_delay=0.05, jitter=0.05, poll_interval=0.05
)
runner = CliRunner()


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def _cfg(db_url: str) -> Settings:
    return load_settings(database_url=db_url, batch_size=2, send_concurrency=1)


def _sender(fake: FakeSendGrid) -> SendGridSender:
    return SendGridSender(fake.api_key, base_url=fake.url, timeout=5)


def _cli_env(monkeypatch: pytest.MonkeyPatch, db_url: str, fake: FakeSendGrid) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSLETTER_SENDER", "sendgrid")
    monkeypatch.setenv("SENDGRID_API_KEY", fake.api_key)
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_URL", fake.url)


def _staged(
    sessions: sessionmaker[Session],
    engine: Engine,
    fake: FakeSendGrid,
    cfg: Settings,
    people: int,
    *,
    day: dt.date = dt.date(2025, 3, 4),
    slug: str = "backcare",
) -> tuple[int, list[str]]:
    audience = seed_audience(sessions, people, slug=slug)
    issue_id = make_issue(sessions, audience.list_id, issue_date=day, tag=slug)
    report = send_issue(cfg, engine, issue_id, sender=_sender(fake), policy=QUICK)
    assert report.ok
    return issue_id, audience.emails


def test_cancel_beyond_ten_batches_says_which_are_still_delivered_and_when(
    db_url: str,
    engine: Engine,
    sessions: sessionmaker[Session],
    fake: FakeSendGrid,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _cfg(db_url)
    issue_id, emails = _staged(sessions, engine, fake, cfg, 28)  # 14 batches of 2
    _cli_env(monkeypatch, db_url, fake)
    monkeypatch.setenv("NEWSLETTER_BATCH_SIZE", "2")
    dry = runner.invoke(app, ["issue", "cancel", str(issue_id), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] and len(plan["done"]) == 10 and plan["free_places"] == 10
    assert [s["batch"] for s in plan["still_delivered"]] == [11, 12, 13, 14]
    assert fake.schedule.list_statuses() == []  # the dry run held nothing
    declined = runner.invoke(app, ["issue", "cancel", str(issue_id)], input="n\n")
    assert declined.exit_code == 1 and fake.schedule.list_statuses() == []
    # The question says exactly what will happen, the 4 batches it cannot stop included.
    assert "10 staged batch(es) (20 people) would be cancelled" in declined.output
    assert "SendGrid STILL DELIVERS batch(es) 11–14 (8 people) from" in declined.output
    done = runner.invoke(app, ["issue", "cancel", str(issue_id), "--yes"])
    assert done.exit_code == 1, done.output  # not everything could be stopped
    assert "10 staged batch(es) (20 people) were cancelled at SendGrid (confirmed)" in done.stdout
    assert "STILL DELIVERS batch(es) 11–14 (8 people)" in done.stdout
    assert len(fake.schedule.list_statuses()) == 10
    shown = runner.invoke(app, ["issue", "show", str(issue_id), "--json"])
    held = json.loads(shown.stdout)["hold"]
    assert held["action"] == "cancel" and len(held["held"]) == 10
    assert [s["batch"] for s in held["still_delivered"]] == [11, 12, 13, 14]
    status = runner.invoke(app, ["status"])
    assert f"Held: issue {issue_id} cancelled by an operator" in status.stdout
    assert "STILL TO BE DELIVERED: batch(es) 11–14 (8 people)" in status.stdout
    fake.advance_clock(3600)
    assert fake.delivered_recipients() == Counter({e: 1 for e in emails[20:]})


def test_a_held_issue_sends_nothing_more_and_resume_refuses_a_cancel(
    db_url: str, engine: Engine, sessions: sessionmaker[Session], fake: FakeSendGrid
) -> None:
    cfg = _cfg(db_url)
    audience = seed_audience(sessions, 8)
    issue_id = make_issue(sessions, audience.list_id)
    claimed: list[int] = []
    # Stop after the first batch: the other three stay pending, not at SendGrid.
    report = send_issue(
        cfg,
        engine,
        issue_id,
        sender=_sender(fake),
        policy=QUICK,
        should_stop=lambda: bool(claimed),
        on_batch=lambda event: claimed.append(event.batch_no),
    )
    assert report.status == IssueStatus.SENDING
    sent_before = len(fake.requests)
    paused = hold.hold_issue(engine, issue_id, "pause", sender=_sender(fake))
    assert paused.done == [1] and paused.unsent == [2, 3, 4] and paused.unsent_people == 6
    with pytest.raises(IssueStateError, match="paused by an operator"):
        send_issue(cfg, engine, issue_id, sender=_sender(fake), policy=QUICK)
    assert len(fake.requests) == sent_before
    resumed = hold.hold_issue(engine, issue_id, "resume", sender=_sender(fake))
    assert resumed.done == [1]
    assert send_issue(cfg, engine, issue_id, sender=_sender(fake), policy=QUICK).ok
    cancelled = hold.hold_issue(engine, issue_id, "cancel", sender=_sender(fake))
    assert cancelled.ok and len(cancelled.done) == 4
    with pytest.raises(IssueStateError, match="cancelled, not paused"):
        hold.hold_issue(engine, issue_id, "resume", sender=_sender(fake))
    fake.advance_clock(3600)
    assert fake.delivered_recipients() == Counter()


def test_the_rest_are_held_as_places_free_up(
    db_url: str, engine: Engine, sessions: sessionmaker[Session], fake: FakeSendGrid
) -> None:
    cfg = _cfg(db_url)
    first, _ = _staged(sessions, engine, fake, cfg, 20)  # 10 batches, delivered in 30 min
    assert len(hold.hold_issue(engine, first, "cancel", sender=_sender(fake)).done) == 10
    later_day = (dt.datetime.now(cfg.zone) + dt.timedelta(days=2)).date()
    assert due_time(cfg, later_day) - dt.datetime.now(dt.UTC) < dt.timedelta(hours=70)
    second, _ = _staged(sessions, engine, fake, cfg, 6, day=later_day, slug="posture")
    full = hold.hold_issue(engine, second, "cancel", sender=_sender(fake))
    assert full.done == [] and [s.batch_no for s in full.still] == [1, 2, 3]
    assert all("10 paused or cancelled" in s.why for s in full.still)
    # The first issue's send_at passes: its cancels are spent and free their places.
    fake.advance_clock(3600)
    now = dt.datetime.fromtimestamp(fake.now(), dt.UTC)
    done = hold.continue_holds(engine, make_sender=lambda: _sender(fake), clock=lambda: now)
    assert list(done) == [second] and done[second].done == [1, 2, 3]
    summary = hold.hold_summary(engine, second)
    assert summary is not None and summary.still == [] and summary.held == [1, 2, 3]
    assert hold.continue_holds(engine, make_sender=lambda: _sender(fake), clock=lambda: now) == {}
