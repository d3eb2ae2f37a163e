"""Refusals are retried for the issue's send window, not a count (issue #10, item 1).

Against the fake SendGrid through the real SendGrid sender. Time is a fake clock that
moves only when the send sleeps, so a 25 s storm of 429s or a window that closes after
hours takes a fraction of a second; only the enforced 10 requests/s test runs in real
time, because the fake counts its rate window on the real clock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import ISSUE_DATE, make_issue, seed_audience

from newsletter.delivery.senders import SendGridSender
from newsletter.services import send_window, timing
from newsletter.services.issues_send import SendReport, send_issue
from newsletter.settings import Settings, load_settings
from newsletter.storage.models import BatchStatus, IssueStatus
from newsletter.testing.fake_faults import Fault
from newsletter.testing.fake_sendgrid import FakeSendGrid


class FastTime:
    """A UTC clock that moves only when someone sleeps on it (thread-safe)."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept = 0.0

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def timestamp(self) -> float:
        return self.now().timestamp()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += dt.timedelta(seconds=max(seconds, 0.0))
            self.slept += max(seconds, 0.0)


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


def _cfg(db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {"batch_size": 10, "send_concurrency": 2, "stage_sends": False}
    return load_settings(database_url=db_url, **{**values, **overrides})


def _sender(fake: FakeSendGrid) -> SendGridSender:
    return SendGridSender(fake.api_key, base_url=fake.url, timeout=5.0)


def _send(
    cfg: Settings, engine: Engine, issue_id: int, fake: FakeSendGrid, clock: FastTime
) -> SendReport:
    return send_issue(
        cfg, engine, issue_id, sender=_sender(fake), clock=clock.now, sleep=clock.sleep
    )


def _due(cfg: Settings) -> dt.datetime:
    return timing.due_time(cfg, ISSUE_DATE).astimezone(dt.UTC)


def test_a_25_second_storm_of_429s_fails_no_batch(
    db_url: str, engine: Engine, sessions: sessionmaker[Session], fake: FakeSendGrid
) -> None:
    audience = seed_audience(sessions, 60)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = _cfg(db_url)
    clock = FastTime(_due(cfg) + dt.timedelta(minutes=1))
    # Every request is refused for 25 s of the send's own clock; each 429 resets 1 s ahead.
    fake.faults.storm(Fault("429", 1.0), 25.0, clock=clock.timestamp)
    report = _send(cfg, engine, issue_id, fake, clock)
    assert report.ok, report.as_dict()
    assert report.failed == () and report.status == IssueStatus.SENT
    assert fake.stats["fault_429"] >= 5  # the storm really refused them, again and again
    assert clock.slept >= 25.0
    assert fake.accepted_recipients() == Counter({e: 1 for e in audience.emails})


def test_a_429_without_a_reset_is_retried_with_backoff_until_accepted(
    db_url: str, engine: Engine, sessions: sessionmaker[Session], fake: FakeSendGrid
) -> None:
    audience = seed_audience(sessions, 20)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = _cfg(db_url)
    clock = FastTime(_due(cfg))
    fake.faults.storm(Fault("503"), 300.0, clock=clock.timestamp)  # five minutes of 503s
    report = _send(cfg, engine, issue_id, fake, clock)
    assert report.ok, report.as_dict()
    # Far more tries than the old fixed count of 6, each wait capped at 30 s.
    assert fake.stats["fault_503"] > 12
    assert fake.accepted_recipients() == Counter({e: 1 for e in audience.emails})


def test_a_steady_enforced_limit_of_10_per_second_is_followed(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    audience = seed_audience(sessions, 600)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = _cfg(db_url, send_concurrency=8)
    with FakeSendGrid(rate_limit=10, enforce_rate_limit=True) as fake:
        report = send_issue(cfg, engine, issue_id, sender=_sender(fake))
        assert report.ok, report.as_dict()
        assert report.failed == ()
        assert fake.stats["accepted"] == 60
        # Paced on X-RateLimit-Remaining/Reset: the limit is met, not run into.
        assert fake.stats["status_429"] <= 2, fake.stats
        assert fake.accepted_recipients() == Counter({e: 1 for e in audience.emails})


def test_when_the_window_closes_refused_batches_fail_saying_so_and_a_rerun_sends_them(
    db_url: str, engine: Engine, sessions: sessionmaker[Session], fake: FakeSendGrid
) -> None:
    audience = seed_audience(sessions, 30)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = _cfg(db_url, send_window_minutes=60)
    closes = send_window.window_closes_at(cfg, ISSUE_DATE)
    clock = FastTime(closes - dt.timedelta(minutes=15))
    fake.faults.storm(Fault("429", 60.0), 3600.0, clock=clock.timestamp)  # never lets up
    report = _send(cfg, engine, issue_id, fake, clock)
    assert report.status == IssueStatus.FAILED and not report.ok
    assert [b.batch_no for b in report.failed] == [1, 2, 3]
    for batch in report.failed:
        error = batch.error or ""
        assert f"the send window closed at {closes:%Y-%m-%d %H:%M} UTC" in error
        assert "429" in error and f"newsletter issue send {issue_id}" in error
        assert batch.request_started_at is None  # refused: nothing of it is out there
    assert clock.now() <= closes + dt.timedelta(minutes=2)
    assert fake.accepted_total() == 0

    state = send_window.retry_state(cfg, engine, issue_id, now=clock.now())
    assert (state.failed_batches, state.failed_recipients) == (3, 30)
    assert state.window_closes_at == closes and not state.window_open and not state.retryable
    assert state.command == f"newsletter issue send {issue_id}"
    assert send_window.retry_state(cfg, engine, issue_id, now=closes - dt.timedelta(1)).retryable

    # A person reruns it later: the failed batches are sent again, once each.
    fake.faults.clear()
    later = FastTime(closes + dt.timedelta(hours=3))
    again = _send(cfg, engine, issue_id, fake, later)
    assert again.ok and again.recovery.failed_retried == [1, 2, 3]
    assert fake.accepted_recipients() == Counter({e: 1 for e in audience.emails})


def test_a_run_after_the_window_still_retries_for_a_while(
    db_url: str, engine: Engine, sessions: sessionmaker[Session], fake: FakeSendGrid
) -> None:
    audience = seed_audience(sessions, 10)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = _cfg(db_url)
    clock = FastTime(send_window.window_closes_at(cfg, ISSUE_DATE) + dt.timedelta(days=2))
    fake.faults.storm(Fault("429", 5.0), 120.0, clock=clock.timestamp)
    report = _send(cfg, engine, issue_id, fake, clock)
    assert report.ok, report.as_dict()
    assert report.counts.batches_in(BatchStatus.ACCEPTED) == 1
