"""Real processes: ``--once`` twice at the same moment, and SIGTERM mid-send then restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsletter.services import issues
from newsletter.settings import load_settings
from newsletter.storage import migrate
from newsletter.storage.db import make_engine
from newsletter.storage.models import IssueStatus
from newsletter.testing.fake_faults import Fault
from newsletter.testing.fake_sendgrid import DEFAULT_API_KEY, FakeSendGrid
from tests.test_scheduler_send import ISSUE_DAY, LIST, issue_recipients, make_list

REPO = Path(__file__).resolve().parent.parent
SCHEDULER = str(REPO / "scheduler.py")
AT_SEND_TIME = "2026-11-24T09:00:30"  # local time: half a minute after Tuesday's send


def _prepare(members: int, **settings: object) -> tuple[list[str], int]:
    engine = make_engine(os.environ["NEWSLETTER_DATABASE_URL"])
    migrate.upgrade(engine)
    emails = make_list(engine, members=members)
    view = issues.build_issue(load_settings(**settings), engine, LIST, ISSUE_DAY)
    issues.approve_issue(engine, view.id, by="ana")
    engine.dispose()
    return emails, view.id


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, SCHEDULER, *args],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            **(env or {}),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _status(issue_id: int) -> IssueStatus:
    engine = make_engine(os.environ["NEWSLETTER_DATABASE_URL"])
    try:
        return issues.show_issue(engine, issue_id).status
    finally:
        engine.dispose()


@pytest.mark.slow
def test_once_started_twice_at_the_same_moment_sends_once(tmp_path: Path) -> None:
    emails, issue_id = _prepare(members=9)
    env = {"NEWSLETTER_BATCH_SIZE": "2"}

    first = _spawn("--once", "--now", AT_SEND_TIME, env=env)
    second = _spawn("--once", "--now", AT_SEND_TIME, env=env)
    logs = [p.communicate(timeout=120) for p in (first, second)]

    assert [first.returncode, second.returncode] == [0, 0], logs
    recipients = issue_recipients(tmp_path / "outbox")
    assert sorted(recipients) == sorted(emails)  # everyone, and nobody twice
    assert _status(issue_id) == IssueStatus.SENT
    stderr = "".join(err for _, err in logs)
    # Which process does the work depends on timing: the second may stand by on the
    # lease, or start after the first has finished and find nothing left. Either way
    # the outbox above holds each member once; the job itself ran.
    assert stderr.count("event=job.start") >= 1
    assert stderr.count('msg="send started"') in (1, 2), stderr


@pytest.mark.slow
def test_once_without_an_approved_issue_sends_nothing(tmp_path: Path) -> None:
    engine = make_engine(os.environ["NEWSLETTER_DATABASE_URL"])
    migrate.upgrade(engine)
    make_list(engine)
    issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)
    engine.dispose()
    proc = _spawn("--once", env={"NEWSLETTER_NOW": AT_SEND_TIME, "NEWSLETTER_LOG_FORMAT": "json"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert issue_recipients(tmp_path / "outbox") == []
    assert '"event":"send.blocked"' in err


@pytest.mark.slow
def test_sigterm_mid_send_then_restart_reaches_everyone_exactly_once(tmp_path: Path) -> None:
    members = 12
    emails, issue_id = _prepare(members=members, batch_size=2)
    with FakeSendGrid() as fake:
        # Every request takes a while, so the signal lands while batches are in flight.
        fake.add_faults(*[Fault("slow", seconds=0.4) for _ in range(members)])
        env = {
            "NEWSLETTER_SENDER": "sendgrid",
            "SENDGRID_API_KEY": DEFAULT_API_KEY,
            "NEWSLETTER_SENDGRID_API_URL": fake.url,
            "NEWSLETTER_BATCH_SIZE": "2",
            "NEWSLETTER_SEND_CONCURRENCY": "1",
            "NEWSLETTER_REQUEST_TIMEOUT": "5",
        }
        # The long-running scheduler: its catch-up sends the 09:00 issue at once.
        daemon = _spawn("--now", AT_SEND_TIME, env=env)
        deadline = time.monotonic() + 60
        while fake.accepted_total() < 1 and time.monotonic() < deadline:
            assert daemon.poll() is None, daemon.communicate()
            time.sleep(0.05)
        assert fake.accepted_total() >= 1
        signalled = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
        took = time.monotonic() - signalled

        assert daemon.returncode == 0, err
        assert took < 5 + 5, f"stopped in {took:.1f} s"
        assert "event=scheduler.stopping" in err
        partial = fake.accepted_total()
        assert partial < members, "the stop came too late to interrupt anything"
        assert _status(issue_id) == IssueStatus.SENDING

        restart = _spawn("--once", "--now", AT_SEND_TIME, env=env)
        _, err2 = restart.communicate(timeout=120)

        assert restart.returncode == 0, err2
        received = fake.accepted_recipients()
        assert sorted(received) == sorted(emails)
        assert set(received.values()) == {1}
        assert fake.duplicates() == {}
    assert _status(issue_id) == IssueStatus.SENT
