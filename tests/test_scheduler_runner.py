"""run_job: the grace rule, once per fire time, leader only, and what gets recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import DeliveryError
from newsletter.schedule_rules import specs
from newsletter.schedule_rules.clock import ManualClock
from newsletter.scheduling.leader import Leader
from newsletter.scheduling.once import run_once
from newsletter.scheduling.runner import Body, Runtime, run_job
from newsletter.settings import load_settings
from newsletter.storage.db import transaction
from newsletter.storage.models import JobRunStatus
from newsletter.storage.repositories import overview
from newsletter.storage.repositories import scheduling as repo

NY = ZoneInfo("America/New_York")
SEND_AT = dt.datetime(2026, 11, 24, 9, 0, tzinfo=NY)  # a Tuesday, the default send schedule


class FakeBodies:
    """Job bodies that record their calls and return what the test says."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dt.datetime | None]] = []
        self.results: dict[str, Mapping[str, Any]] = {}
        self.errors: dict[str, Exception] = {}

    def body(self, job_id: str) -> Body:
        def run(rt: Runtime, fire: dt.datetime | None) -> Mapping[str, Any]:
            self.calls.append((job_id, fire))
            if job_id in self.errors:
                raise self.errors[job_id]
            return self.results.get(job_id, {"issues": 1})

        return run

    def mapping(self) -> dict[str, Body]:
        return {spec.id: self.body(spec.id) for spec in specs.JOBS}

    def ran(self, job_id: str) -> int:
        return sum(1 for j, _ in self.calls if j == job_id)


LONG_AGO = SEND_AT - dt.timedelta(days=30)
"""When the scheduler of most tests first ran: it has been running for weeks."""


def _runtime(
    sessions: sessionmaker[Session],
    clock: ManualClock,
    bodies: FakeBodies,
    holder: str = "a:1:x",
    *,
    first_started: dt.datetime | None = LONG_AGO,
) -> Runtime:
    settings = load_settings()
    if first_started is not None:
        with transaction(sessions) as session:
            repo.first_start(session, first_started)
    return Runtime(
        settings, sessions, clock, Leader(sessions, clock, holder=holder), bodies.mapping()
    )


def _runs(sessions: sessionmaker[Session], job_id: str) -> list[tuple[JobRunStatus, Any]]:
    with transaction(sessions) as session:
        return [
            (r.status, r.scheduled_for)
            for r in overview.recent_runs(session, limit=100)
            if r.job_id == job_id
        ]


def test_run_within_the_grace_happens_once(sessions: sessionmaker[Session]) -> None:
    clock = ManualClock(SEND_AT + dt.timedelta(hours=2))  # a two-hour outage
    bodies = FakeBodies()
    rt = _runtime(sessions, clock, bodies)

    first = run_job(rt, specs.SEND)
    clock.advance(minutes=30)
    second = run_job(rt, specs.SEND)

    assert first.status == "ok"
    assert first.scheduled_for == SEND_AT
    assert second.status == "done"
    assert bodies.calls == [(specs.SEND, SEND_AT)]
    assert _runs(sessions, specs.SEND) == [(JobRunStatus.OK, SEND_AT)]


def test_run_beyond_the_grace_is_recorded_as_missed_not_run(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(SEND_AT + dt.timedelta(hours=6, minutes=1))
    bodies = FakeBodies()
    rt = _runtime(sessions, clock, bodies)

    with caplog.at_level("WARNING", logger="newsletter.scheduler"):
        outcome = run_job(rt, specs.SEND)
        again = run_job(rt, specs.SEND)

    assert outcome.status == "missed"
    assert again.status == "done"
    assert bodies.calls == []
    assert _runs(sessions, specs.SEND) == [(JobRunStatus.MISSED, SEND_AT)]
    missed = [r for r in caplog.records if "missed" in r.getMessage()]
    assert len(missed) == 1
    assert "6.0 h" in missed[0].getMessage()


def test_grace_is_the_setting(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_MISFIRE_GRACE_TIME", "600")
    clock = ManualClock(SEND_AT + dt.timedelta(minutes=11))
    bodies = FakeBodies()
    assert run_job(_runtime(sessions, clock, bodies), specs.SEND).status == "missed"


def test_the_next_week_runs_normally_after_a_missed_one(sessions: sessionmaker[Session]) -> None:
    clock = ManualClock(SEND_AT + dt.timedelta(days=1))
    bodies = FakeBodies()
    rt = _runtime(sessions, clock, bodies)
    assert run_job(rt, specs.SEND).status == "missed"
    clock.set(SEND_AT + dt.timedelta(days=7, seconds=3))
    outcome = run_job(rt, specs.SEND)
    assert outcome.status == "ok"
    assert outcome.scheduled_for == SEND_AT + dt.timedelta(days=7)


def test_a_failed_run_is_recorded_and_retried_within_the_grace(
    sessions: sessionmaker[Session],
) -> None:
    clock = ManualClock(SEND_AT)
    bodies = FakeBodies()
    bodies.errors[specs.SEND] = DeliveryError("SendGrid refused the key")
    rt = _runtime(sessions, clock, bodies)

    failed = run_job(rt, specs.SEND)
    del bodies.errors[specs.SEND]
    clock.advance(minutes=5)
    retried = run_job(rt, specs.SEND)

    assert failed.status == "failed"
    assert retried.status == "ok"
    statuses = sorted(s for s, _ in _runs(sessions, specs.SEND))
    assert statuses == sorted([JobRunStatus.FAILED, JobRunStatus.OK])
    with transaction(sessions) as session:
        last = overview.recent_runs(session, statuses=[JobRunStatus.FAILED])[0]
    assert "refused the key" in last.detail


def test_a_bug_in_a_body_is_contained(sessions: sessionmaker[Session]) -> None:
    bodies = FakeBodies()
    bodies.errors[specs.ASSEMBLE] = KeyError("oops")
    clock = ManualClock(dt.datetime(2026, 11, 19, 10, 0, tzinfo=NY))  # Thursday 10:00
    outcome = run_job(_runtime(sessions, clock, bodies), specs.ASSEMBLE)
    assert outcome.status == "failed"


def test_body_can_report_skipped(sessions: sessionmaker[Session]) -> None:
    bodies = FakeBodies()
    bodies.results[specs.SEND] = {"status": "skipped", "detail": "no approved issue", "lists": 1}
    outcome = run_job(_runtime(sessions, ManualClock(SEND_AT), bodies), specs.SEND)
    assert outcome.status == "skipped"
    with transaction(sessions) as session:
        run = overview.recent_runs(session)[0]
    assert run.status is JobRunStatus.SKIPPED
    assert run.detail == "no approved issue"
    assert run.counts == {"lists": 1}


def test_interval_jobs_are_recorded_only_when_they_did_something(
    sessions: sessionmaker[Session],
) -> None:
    bodies = FakeBodies()
    rt = _runtime(sessions, ManualClock(SEND_AT), bodies)
    bodies.results[specs.RESUME] = {"resumed": 0}
    assert run_job(rt, specs.RESUME).status == "ok"
    assert _runs(sessions, specs.RESUME) == []
    bodies.results[specs.RESUME] = {"resumed": 2}
    assert run_job(rt, specs.RESUME).status == "ok"
    assert _runs(sessions, specs.RESUME) == [(JobRunStatus.OK, None)]
    assert bodies.ran(specs.RESUME) == 2


def test_a_standby_runs_no_body(sessions: sessionmaker[Session]) -> None:
    clock = ManualClock(SEND_AT)
    bodies = FakeBodies()
    leader = _runtime(sessions, clock, bodies, holder="a:1:x")
    standby = _runtime(sessions, clock, bodies, holder="b:2:y")
    assert leader.leader.ensure()
    assert run_job(standby, specs.SEND).status == "standby"
    assert bodies.calls == []
    assert run_job(leader, specs.SEND).status == "ok"
    # APScheduler's double firing in a second process: the standby never runs the body.
    assert run_job(standby, specs.SEND).status == "standby"
    assert bodies.ran(specs.SEND) == 1


def test_two_processes_one_after_the_other_send_once(sessions: sessionmaker[Session]) -> None:
    clock = ManualClock(SEND_AT + dt.timedelta(seconds=1))
    bodies = FakeBodies()
    first = _runtime(sessions, clock, bodies, holder="a:1:x")
    second = _runtime(sessions, clock, bodies, holder="b:2:y")
    assert {o.job_id: o.status for o in run_once(first)}[specs.SEND] == "ok"
    # The first --once released the lease, so the second leads, but finds the send done.
    outcomes = {o.job_id: o.status for o in run_once(second)}
    assert outcomes[specs.SEND] == "done"
    assert bodies.ran(specs.SEND) == 1


def test_once_runs_due_jobs_in_order_and_releases_the_lease(
    sessions: sessionmaker[Session],
) -> None:
    clock = ManualClock(SEND_AT + dt.timedelta(minutes=1))
    bodies = FakeBodies()
    rt = _runtime(sessions, clock, bodies)
    outcomes = run_once(rt)
    assert [o.job_id for o in outcomes] == list(specs.ONCE_ORDER)
    # Thursday's assemble is five days old: beyond the grace, so it is a missed run.
    assert {o.job_id: o.status for o in outcomes} == {
        specs.ASSEMBLE: "missed",
        specs.SEND: "ok",
        specs.RESUME: "ok",
        specs.SYNC_SUPPRESSIONS: "ok",
        specs.PRUNE_EVENTS: "ok",
        specs.PRUNE_RATE_LIMITS: "ok",
    }
    with transaction(sessions) as session:
        assert overview.get_lease(session, "scheduler") is None


def test_once_on_standby_runs_nothing(sessions: sessionmaker[Session]) -> None:
    clock = ManualClock(SEND_AT)
    bodies = FakeBodies()
    other = Leader(sessions, clock, holder="daemon:9:z")
    assert other.ensure()
    assert run_once(_runtime(sessions, clock, bodies)) == []
    assert bodies.calls == []


def test_stop_request_starts_no_new_job(sessions: sessionmaker[Session]) -> None:
    bodies = FakeBodies()
    rt = _runtime(sessions, ManualClock(SEND_AT), bodies)
    rt.stop.set()
    assert run_job(rt, specs.SEND).status == "stopping"
    assert run_once(rt) == []
    assert bodies.calls == []
