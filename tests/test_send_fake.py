"""send_issue through the real SendGrid sender against the project's fake SendGrid."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import make_issue, seed_audience

from newsletter.delivery.retry import RetryPolicy
from newsletter.delivery.senders import SendGridSender
from newsletter.services.issues_send import send_issue
from newsletter.settings import load_settings
from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory
from newsletter.storage.models import BatchStatus, IssueStatus
from newsletter.testing.fake_faults import Fault
from newsletter.testing.fake_sendgrid import FakeSendGrid

QUICK = RetryPolicy(
    max_attempts=5, base_delay=0.01, max_delay=0.05, jitter=0.05, poll_interval=0.05
)


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as server:
        yield server


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A SQLite database of its own: these tests are about the wire, not the backend."""
    url = f"sqlite:///{tmp_path / 'fake.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield url, engine
    engine.dispose()


def _sender(fake: FakeSendGrid, *, key: str | None = None, timeout: float = 5.0) -> SendGridSender:
    return SendGridSender(key or fake.api_key, base_url=fake.url, timeout=timeout)


@pytest.mark.parametrize("members", [1, 999, 1000, 1001, 2500])
def test_every_payload_is_accepted_and_everyone_gets_one(
    db_url: str,
    engine: Engine,
    sessions: sessionmaker[Session],
    fake: FakeSendGrid,
    members: int,
) -> None:
    audience = seed_audience(sessions, members)
    issue_id = make_issue(sessions, audience.list_id)
    report = send_issue(load_settings(database_url=db_url), engine, issue_id, sender=_sender(fake))
    assert report.ok, report.as_dict()
    assert fake.stats["accepted"] == -(-members // 1000)
    assert not [k for k in fake.stats if k.startswith("status_")]  # no 4xx from validation
    assert fake.accepted_recipients() == Counter({e: 1 for e in audience.emails})
    message_ids = {r.message_id for r in fake.requests}
    assert len(message_ids) == len(fake.requests)
    assert {r.custom_args["issue_id"] for r in fake.requests} == {str(issue_id)}


def test_retry_classes_against_the_fake(local: tuple[str, Engine], fake: FakeSendGrid) -> None:
    url, engine = local
    sessions = session_factory(engine)
    audience = seed_audience(sessions, 80)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = load_settings(database_url=url, batch_size=10, send_concurrency=1)
    # 429 (short reset) and 5xx are retried and then accepted.
    fake.add_faults(Fault("429", 0.0), Fault("500"), Fault("502"), Fault("503"))
    report = send_issue(cfg, engine, issue_id, sender=_sender(fake, timeout=2.0), policy=QUICK)
    assert report.ok, report.as_dict()
    assert fake.stats["fault_429"] == 1 and fake.stats["fault_503"] == 1
    assert fake.accepted_recipients() == Counter({e: 1 for e in audience.emails})


def test_reset_after_the_request_is_unknown_until_resent_on_request(
    local: tuple[str, Engine], fake: FakeSendGrid
) -> None:
    url, engine = local
    sessions = session_factory(engine)
    audience = seed_audience(sessions, 30)
    issue_id = make_issue(sessions, audience.list_id)
    # Unstaged (NEWSLETTER_STAGE_SENDS=false): staged sends settle this themselves.
    cfg = load_settings(database_url=url, batch_size=10, send_concurrency=1, stage_sends=False)
    # The whole request was written and the connection died: we cannot know, so unknown.
    fake.add_faults(Fault("reset"))
    report = send_issue(cfg, engine, issue_id, sender=_sender(fake), policy=QUICK)
    assert [b.batch_no for b in report.unknown] == [1] and not report.ok
    assert set(fake.accepted_recipients()) == set(audience.emails[10:])
    again = send_issue(
        cfg, engine, issue_id, sender=_sender(fake), policy=QUICK, resend_unknown=True
    )
    assert again.ok
    assert fake.accepted_recipients() == Counter({e: 1 for e in audience.emails})


def test_hang_is_unknown_and_bad_key_stops_the_send(
    local: tuple[str, Engine], fake: FakeSendGrid
) -> None:
    url, engine = local
    sessions = session_factory(engine)
    audience = seed_audience(sessions, 40)
    issue_id = make_issue(sessions, audience.list_id)
    cfg = load_settings(database_url=url, batch_size=10, send_concurrency=1, stage_sends=False)
    fake.add_faults(Fault("hang", 1.5))
    report = send_issue(cfg, engine, issue_id, sender=_sender(fake, timeout=0.5), policy=QUICK)
    assert report.status == IssueStatus.SENT and not report.ok
    assert [b.batch_no for b in report.unknown] == [1]
    # The fake did get batch 1: everyone exactly once, unknown or not.
    assert fake.accepted_recipients() == Counter({e: 1 for e in audience.emails})

    other = make_issue(sessions, audience.list_id, issue_date=dt.date(2025, 3, 11), tag="2")
    stopped = send_issue(cfg, engine, other, sender=_sender(fake, key="SG.wrong"), policy=QUICK)
    assert stopped.run.auth_error is not None
    assert stopped.status == IssueStatus.SENDING
    assert stopped.counts.batches_in(BatchStatus.PENDING) == 4
    finished = send_issue(cfg, engine, other, sender=_sender(fake), policy=QUICK)
    assert finished.ok
