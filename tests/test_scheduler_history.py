"""The run history tells the truth: no simulated runs, no "missed" before the first start,
and a leader line that knows schedulers have run."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from newsletter.cli.status_cmd import status
from newsletter.schedule_rules import specs
from newsletter.schedule_rules.clock import ManualClock
from newsletter.scheduling.entry import main as scheduler_main
from newsletter.scheduling.leader import Leader
from newsletter.scheduling.once import run_once
from newsletter.scheduling.runner import Runtime
from newsletter.services import issues
from newsletter.settings import load_settings
from newsletter.storage.db import transaction
from newsletter.storage.models import IssueStatus, JobRunStatus
from newsletter.storage.repositories import overview
from newsletter.storage.repositories import scheduling as sched_repo
from tests.test_scheduler_runner import FakeBodies
from tests.test_scheduler_send import ISSUE_DAY, LIST, NY, SEND_AT, make_list

THURSDAY = dt.datetime(2026, 11, 19, 10, 0, tzinfo=NY)  # the assemble before SEND_AT


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", db_url)
    return db_url


def _status(*args: str) -> Any:
    single = typer.Typer()
    single.command()(status)
    result = CliRunner().invoke(single, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


def _runtime(sessions: sessionmaker[Session], clock: ManualClock) -> Runtime:
    bodies = FakeBodies()
    leader = Leader(sessions, clock, holder="alpha:1:x")
    return Runtime(load_settings(), sessions, clock, leader, bodies.mapping())


def _runs(sessions: sessionmaker[Session]) -> list[tuple[str, JobRunStatus]]:
    with transaction(sessions) as session:
        return [(r.job_id, r.status) for r in overview.recent_runs(session, limit=100)]


def test_a_simulated_once_run_writes_no_run_history(
    cli_db: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    make_list(engine)
    view = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)
    issues.approve_issue(engine, view.id, by="ana")

    code = scheduler_main(["--once", "--now", "2026-11-24T09:00:30"])

    assert code == 0
    assert issues.show_issue(engine, view.id).status == IssueStatus.SENT  # it did its work
    assert _runs(sessions) == []  # ... and left the real history alone
    with transaction(sessions) as session:
        assert sched_repo.get_cursor(session, sched_repo.FIRST_START) is None
        assert overview.get_lease(session, specs.LEASE_NAME) is None
    data = _status("--json")
    assert all(job["last_status"] is None for job in data["jobs"])
    assert data["missed_runs"] == []


def test_fire_times_before_the_first_start_are_not_missed(
    cli_db: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # First ever start on the Monday: Thursday's assemble is five days old.
    monday = dt.datetime(2026, 11, 23, 12, 0, tzinfo=NY)
    clock = ManualClock(monday)
    outcomes = {o.job_id: o.status for o in run_once(_runtime(sessions, clock))}

    assert outcomes[specs.ASSEMBLE] == "not-due"
    assert (specs.ASSEMBLE, JobRunStatus.MISSED) not in _runs(sessions)
    monkeypatch.setenv("NEWSLETTER_NOW", monday.isoformat())
    assert _status("--json")["missed_runs"] == []

    # A week later the scheduler was down over Thursday: that one really was missed.
    clock.set(THURSDAY + dt.timedelta(days=7, hours=8))
    outcomes = {o.job_id: o.status for o in run_once(_runtime(sessions, clock))}
    assert outcomes[specs.ASSEMBLE] == "missed"
    monkeypatch.setenv("NEWSLETTER_NOW", clock.now().isoformat())
    missed = {m["job"] for m in _status("--json")["missed_runs"]}
    assert missed == {specs.ASSEMBLE, specs.SEND}  # Tuesday's send came after the start too


def test_an_upgraded_database_counts_from_its_earliest_run(
    cli_db: str, sessions: sessionmaker[Session]
) -> None:
    # Runs recorded before the first start was kept: the earliest one is the first start.
    with transaction(sessions) as session:
        run_id = sched_repo.start_run(session, specs.RESUME, None, "old:1:x", THURSDAY)
        sched_repo.finish_run(session, run_id, JobRunStatus.OK, THURSDAY)
    clock = ManualClock(SEND_AT + dt.timedelta(hours=7))
    outcomes = {o.job_id: o.status for o in run_once(_runtime(sessions, clock))}
    assert outcomes[specs.SEND] == "missed"


def test_the_leader_line_knows_that_schedulers_have_run(
    cli_db: str, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "no scheduler has run on this database yet" in _status()
    clock = ManualClock(SEND_AT + dt.timedelta(minutes=1))
    run_once(_runtime(sessions, clock))  # leads, runs, hands the lease back

    monkeypatch.setenv("NEWSLETTER_NOW", (SEND_AT + dt.timedelta(minutes=2)).isoformat())
    data = _status("--json")
    assert data["leader"]["state"] == "stopped"
    assert data["leader"]["holder"] == "alpha:1:x"
    text = _status()
    assert "no scheduler has run" not in text
    assert "the last one, alpha:1:x, stopped cleanly or ran --once" in text
