"""An issue that ends with failed batches is a failure everywhere, and is retried.

The storm: the fake SendGrid refuses every issue request (its body limit is set below
an issue's size, so each batch gets a 413, a refusal that fails the batch at once),
while the smaller failure notice still gets through. The clocks are manual: no test
waits for a backoff.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from newsletter.cli.status_cmd import status
from newsletter.schedule_rules import specs
from newsletter.schedule_rules.clock import ManualClock
from newsletter.scheduling import jobs
from newsletter.scheduling.entry import main as scheduler_main
from newsletter.scheduling.leader import Leader
from newsletter.scheduling.runner import Runtime, run_job
from newsletter.services import issues
from newsletter.settings import load_settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import IssueStatus, JobRunStatus
from newsletter.storage.repositories import overview
from newsletter.storage.repositories import scheduling as sched_repo
from newsletter.testing.fake_sendgrid import DEFAULT_API_KEY, FakeSendGrid
from tests.test_scheduler_send import ISSUE_DAY, LIST, NY, SEND_AT, make_list

REFUSING = 20_000
"""Below an issue batch's body (~29 kB here), above the failure notice's (~14 kB)."""
OPS = "ops@example.com"
MEMBERS = 6


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[FakeSendGrid]:
    with FakeSendGrid(keep_bodies=True, max_body_bytes=REFUSING) as server:
        monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
        monkeypatch.setenv("NEWSLETTER_SENDER", "sendgrid")
        monkeypatch.setenv("SENDGRID_API_KEY", DEFAULT_API_KEY)
        monkeypatch.setenv("NEWSLETTER_SENDGRID_API_URL", server.url)
        monkeypatch.setenv("NEWSLETTER_REVIEW_EMAILS", OPS)
        monkeypatch.setenv("NEWSLETTER_BATCH_SIZE", "2")
        monkeypatch.setenv("NEWSLETTER_STAGE_SENDS", "false")
        yield server


def _approved_issue(engine: Engine) -> tuple[list[str], int]:
    emails = make_list(engine, members=MEMBERS)
    view = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)
    issues.approve_issue(engine, view.id, by="ana")
    return emails, view.id


class Retries:
    """Stands in for the app's one-off resume scheduling: records what was asked."""

    def __init__(self) -> None:
        self.asked: list[dt.datetime] = []

    def __call__(self, at: dt.datetime) -> None:
        self.asked.append(at)


def _runtime(engine: Engine, clock: ManualClock, retries: Retries) -> Runtime:
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        sched_repo.first_start(session, SEND_AT - dt.timedelta(days=30))
    rt = Runtime(
        load_settings(),
        sessions,
        clock,
        Leader(sessions, clock, holder="alpha:1:x"),
        jobs.DEFAULT_BODIES,
    )
    rt.schedule_retry = retries
    return rt


def _notices(fake: FakeSendGrid) -> list[dict[str, Any]]:
    found = []
    for request in fake.requests:
        if request.recipients == (OPS,):
            assert request.body is not None
            found.append(orjson.loads(request.body))
    return found


def _issue_recipients(fake: FakeSendGrid) -> list[str]:
    return [r for q in fake.requests if q.recipients != (OPS,) for r in q.recipients]


def _status_json() -> dict[str, Any]:
    single = typer.Typer()
    single.command()(status)
    result = CliRunner().invoke(single, ["--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _status_text() -> str:
    single = typer.Typer()
    single.command()(status)
    result = CliRunner().invoke(single, [])
    assert result.exit_code == 0, result.output
    return result.stdout


def _issue_status(engine: Engine, issue_id: int) -> IssueStatus:
    return issues.show_issue(engine, issue_id).status


def test_a_send_left_with_failed_batches_is_a_failure_then_the_resume_job_finishes_it(
    engine: Engine, fake: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    emails, issue_id = _approved_issue(engine)
    clock = ManualClock(SEND_AT + dt.timedelta(seconds=30))
    retries = Retries()
    rt = _runtime(engine, clock, retries)

    outcome = run_job(rt, specs.SEND)

    # The run: failed, naming the issue and the command; a resume asked for in a minute.
    assert outcome.status == "failed"
    assert _issue_status(engine, issue_id) == IssueStatus.FAILED
    with transaction(rt.sessions) as session:
        run = overview.last_run(session, specs.SEND)
        assert run is not None and run.status == JobRunStatus.FAILED
        assert f"issue {issue_id} ended with {MEMBERS} recipient(s)" in run.detail
        assert f"newsletter issue send {issue_id}" in run.detail
    assert retries.asked == [SEND_AT + dt.timedelta(seconds=90)]

    # The notice: titled as a failure, with the issue id and the exact command.
    [notice] = _notices(fake)
    assert notice["subject"].startswith(f"FAILED: newsletter issue {issue_id}")
    assert "Review" not in notice["subject"]
    text = next(c["value"] for c in notice["content"] if c["type"] == "text/plain")
    flowing = " ".join(text.split())  # the text part is wrapped
    assert f"newsletter issue send {issue_id}" in flowing
    assert flowing.startswith(f"Failed: issue {issue_id}")
    assert "issue approve" not in flowing

    # status: a failure with the issue id, not "ok".
    monkeypatch.setenv("NEWSLETTER_NOW", (SEND_AT + dt.timedelta(minutes=1)).isoformat())
    data = _status_json()
    send_job = next(j for j in data["jobs"] if j["id"] == specs.SEND)
    assert send_job["last_status"] == "failed"
    [failed] = data["failed_sends"]
    assert failed["id"] == issue_id and failed["failed"] == MEMBERS and failed["retrying"]
    assert failed["command"] == f"newsletter issue send {issue_id}"
    human = _status_text()
    assert "FAILED sends" in human and f"newsletter issue send {issue_id}" in human

    # The storm ends. Within the backoff, resume leaves the issue alone ...
    fake.max_body_bytes = 10_000_000
    clock.advance(seconds=30)
    assert run_job(rt, specs.RESUME).counts.get("retried", 0) == 0
    assert _issue_recipients(fake) == []
    # ... and after it, sends everyone exactly once.
    clock.advance(seconds=31)
    resumed = run_job(rt, specs.RESUME)
    assert resumed.status == "ok" and resumed.counts["retried"] == 1
    assert sorted(_issue_recipients(fake)) == sorted(emails)
    assert fake.duplicates() == {}
    assert _issue_status(engine, issue_id) == IssueStatus.SENT
    assert _status_json()["failed_sends"] == []


def test_retries_back_off_until_the_window_closes_then_give_up_loudly(
    engine: Engine, fake: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_SEND_WINDOW_MINUTES", "10")  # closes at 09:10
    _, issue_id = _approved_issue(engine)
    clock = ManualClock(SEND_AT + dt.timedelta(seconds=30))
    retries = Retries()
    rt = _runtime(engine, clock, retries)
    assert run_job(rt, specs.SEND).status == "failed"

    tries = []
    while retries.asked and len(tries) < 10:
        clock.set(retries.asked.pop())
        outcome = run_job(rt, specs.RESUME)
        tries.append((clock.now(), outcome.status, outcome.counts.get("retried", 0)))

    at = [t.astimezone(NY).strftime("%H:%M:%S") for t, _, _ in tries]
    # 1, 2, 4 minutes apart; the next (8) would pass the close, so one last try before it.
    assert at == ["09:01:30", "09:03:30", "09:07:30", "09:09:59"]
    assert [(s, r) for _, s, r in tries] == [("failed", 1)] * 4
    assert _issue_status(engine, issue_id) == IssueStatus.FAILED
    [first, given_up] = _notices(fake)
    assert "stopped retrying" not in json.dumps(first)
    assert given_up["subject"].startswith(f"FAILED: newsletter issue {issue_id}")
    assert "stopped retrying" in json.dumps(given_up)

    # After the window: no more requests, and status says a person must act.
    before = len(fake.requests)
    clock.set(SEND_AT + dt.timedelta(minutes=30))
    assert run_job(rt, specs.RESUME).counts.get("retried", 0) == 0
    assert len(fake.requests) == before
    monkeypatch.setenv("NEWSLETTER_NOW", clock.now().isoformat())
    [failed] = _status_json()["failed_sends"]
    assert failed["id"] == issue_id and not failed["retrying"]
    assert "no: window closed" in _status_text()


def test_once_exits_1_while_the_issue_has_failed_batches(
    engine: Engine, fake: FakeSendGrid, capsys: pytest.CaptureFixture[str]
) -> None:
    _, issue_id = _approved_issue(engine)
    now = (SEND_AT + dt.timedelta(seconds=30)).replace(tzinfo=None).isoformat()

    code = scheduler_main(["--once", "--now", now])

    assert code == 1
    assert _issue_status(engine, issue_id) == IssueStatus.FAILED
    err = capsys.readouterr().err
    assert f"issue {issue_id} ended with {MEMBERS} recipient(s)" in err
    # The storm is over: the next --once retries at once (a new process, a new backoff).
    fake.max_body_bytes = 10_000_000
    assert scheduler_main(["--once", "--now", now]) == 0
    assert _issue_status(engine, issue_id) == IssueStatus.SENT
