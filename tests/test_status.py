"""``newsletter status``: leader and heartbeat, next runs, queue, sends, unknowns, missed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from click.testing import Result
from sqlalchemy import Engine
from typer.testing import CliRunner

from newsletter.cli.status_cmd import status
from newsletter.schedule_rules.clock import ManualClock
from newsletter.scheduling.leader import Leader
from newsletter.services import issues
from newsletter.settings import load_settings
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import BatchStatus, Issue, IssueStatus, SendBatch
from newsletter.storage.repositories import scheduling as sched_repo
from tests.test_scheduler_send import LIST, make_list

NY = ZoneInfo("America/New_York")
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=NY)  # a Monday


@pytest.fixture
def status_engine(db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    monkeypatch.setenv("NEWSLETTER_NOW", NOW.isoformat())
    return engine


def run(*args: str) -> Result:
    # The lead registers `status` on the root app; a one-command app tests it alone.
    single = typer.Typer()
    single.command()(status)
    return CliRunner().invoke(single, list(args))


def status_json() -> dict[str, Any]:
    result = run("--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_empty_database(status_engine: Engine) -> None:
    data = status_json()
    assert data["leader"] == {"state": "none", "holder": None}
    jobs = {j["id"]: j for j in data["jobs"]}
    assert set(jobs) == {
        "assemble",
        "send",
        "resume",
        "sync_suppressions",
        "prune_events",
        "prune_rate_limits",
    }
    next_send = dt.datetime.fromisoformat(jobs["send"]["next_run"]).astimezone(NY)
    assert (next_send.date(), next_send.hour) == (dt.date(2026, 11, 24), 9)
    assert jobs["send"]["schedule"] == "cron '0 9 * * tue' (America/New_York)"
    assert jobs["resume"]["schedule"] == "every 5 min"
    for key in ("upcoming", "recent_sends", "unknown_batches", "missed_runs"):
        assert data[key] == []
    human = run()
    assert human.exit_code == 0
    assert "Leader: none" in human.stdout
    assert "Missed runs (not run late on purpose): none" in human.stdout


def test_everything_that_needs_attention_is_shown(status_engine: Engine) -> None:
    engine = status_engine
    sessions = session_factory(engine)
    make_list(engine)
    cfg = load_settings()
    draft = issues.build_issue(cfg, engine, LIST, dt.date(2026, 11, 24))
    approved = issues.build_issue(cfg, engine, LIST, dt.date(2026, 12, 1))
    issues.approve_issue(engine, approved.id, by="ana")
    sent = issues.build_issue(cfg, engine, LIST, dt.date(2026, 11, 17))
    with transaction(sessions) as session:
        issue = session.get(Issue, sent.id)
        assert issue is not None
        issue.status = IssueStatus.SENT
        issue.recipients = 8
        issue.send_started_at = NOW - dt.timedelta(days=6)
        for n, (batch_status, count) in enumerate(
            [(BatchStatus.ACCEPTED, 5), (BatchStatus.UNKNOWN, 3)]
        ):
            session.add(
                SendBatch(
                    issue_id=sent.id,
                    batch_no=n + 1,
                    status=batch_status,
                    recipients=count,
                    message_id="msg-abc" if batch_status is BatchStatus.UNKNOWN else None,
                    request_started_at=dt.datetime(2026, 11, 17, 14, 2, tzinfo=dt.UTC),
                )
            )
        sched_repo.record_missed(
            session,
            "send",
            dt.datetime(2026, 11, 17, 9, tzinfo=NY),
            NOW,
            "missed by 2.0 d (grace 6.0 h); not run late",
        )
    clock = ManualClock(NOW - dt.timedelta(seconds=20))
    Leader(sessions, clock, holder="box-a:42:cafe").ensure()

    data = status_json()

    assert data["leader"]["state"] == "leading"
    assert data["leader"]["holder"] == "box-a:42:cafe"
    assert data["leader"]["heartbeat_age_s"] == 20
    assert data["leader"]["expires_in_s"] == 40
    upcoming = {u["id"]: u for u in data["upcoming"]}
    assert upcoming[draft.id]["approval"] == "needs approval"
    assert upcoming[approved.id]["approval"] == "approved"
    assert upcoming[approved.id]["approved_by"] == "ana"
    assert sent.id not in upcoming
    [last] = data["recent_sends"]
    assert (last["id"], last["accepted"], last["unknown"], last["recipients"]) == (sent.id, 5, 3, 8)
    [unknown] = data["unknown_batches"]
    assert (unknown["issue_id"], unknown["batch_no"], unknown["message_id"]) == (
        sent.id,
        2,
        "msg-abc",
    )
    assert unknown["request_started_at"].startswith("2026-11-17T14:02")
    [missed] = data["missed_runs"]
    assert missed["job"] == "send" and "not run late" in missed["detail"]

    human = run().stdout
    assert "Leader: box-a:42:cafe (heartbeat 20 s ago" in human
    assert "needs approval" in human
    assert "msg-abc" in human
    # The request's own time (09:02 in New York), not when the batch was marked unknown.
    assert "request sent" in human and "2026-11-17 09:02" in human
    assert "Missed runs" in human and "not run late" in human


def test_an_expired_lease_says_the_scheduler_may_be_down(status_engine: Engine) -> None:
    clock = ManualClock(NOW - dt.timedelta(minutes=10))
    Leader(session_factory(status_engine), clock, holder="box-a:1:dead").ensure()
    data = status_json()
    assert data["leader"]["state"] == "expired"
    assert "stopped renewing" in run().stdout


def test_missing_schema_is_an_operational_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = run()
    assert result.exit_code != 0
    assert "db upgrade" in str(result.exception) or "db upgrade" in result.output


def test_a_warm_cache_answers_as_a_cold_one(
    status_engine: Engine, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from tests.conftest import REPO_ROOT

    content = tmp_path / "content"
    shutil.copytree(REPO_ROOT / "content", content)
    (content / "tips" / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", "utf-8")
    monkeypatch.setenv("NEWSLETTER_CONTENT_DIR", str(content))

    def shown() -> dict[str, Any]:
        data = status_json()
        data.pop("now")
        for job in data["jobs"]:
            if job["schedule"].startswith("every") or job["schedule"] == "daily":
                job.pop("next_run")  # now + interval: the clock moved on between runs
        return data

    cold = shown()
    cache = tmp_path / "cache" / "newsletter"
    assert {p.name for p in cache.iterdir()} >= {"fire-times.json"}
    assert cold["content_problems"] and "broken.md" in cold["content_problems"][0]
    assert shown() == cold
    shutil.rmtree(cache)
    assert shown() == cold
