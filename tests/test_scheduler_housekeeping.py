"""The daily rate-limit prune: a leader-only scheduler job that keeps what windows need."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from newsletter.schedule_rules import specs
from newsletter.schedule_rules.clock import ManualClock
from newsletter.scheduling import jobs
from newsletter.scheduling.leader import Leader
from newsletter.scheduling.once import run_once
from newsletter.scheduling.runner import Runtime, run_job
from newsletter.services import housekeeping, limits, signup
from newsletter.settings import load_settings
from newsletter.storage.db import transaction
from newsletter.storage.models import JobRunStatus
from newsletter.storage.repositories import limits as limits_repo
from newsletter.storage.repositories import overview

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _hit(sessions: sessionmaker[Session], subject: str, age: dt.timedelta) -> None:
    windows = (limits.Window(3600, 1000),)
    with transaction(sessions) as session:
        assert limits.take(session, "test", subject, windows, now=NOW - age) is None


def _runtime(sessions: sessionmaker[Session], holder: str) -> Runtime:
    clock = ManualClock(NOW)
    leader = Leader(sessions, clock, holder=holder)
    return Runtime(load_settings(), sessions, clock, leader, jobs.DEFAULT_BODIES)


def _hits(sessions: sessionmaker[Session]) -> int:
    with transaction(sessions) as session:
        return limits_repo.count(session)


def test_the_daily_job_prunes_old_hits_and_keeps_what_a_window_needs(
    sessions: sessionmaker[Session],
) -> None:
    _hit(sessions, "gone-a", dt.timedelta(days=30))
    _hit(sessions, "gone-b", dt.timedelta(days=9))
    # The confirmation cooldown looks back a week: a six-day-old hit still counts.
    _hit(sessions, "kept-a", dt.timedelta(days=6))
    _hit(sessions, "kept-b", dt.timedelta(minutes=5))

    outcome = run_job(_runtime(sessions, "a:1:x"), specs.PRUNE_RATE_LIMITS)

    assert outcome.status == "ok"
    assert outcome.counts["deleted"] == 2
    assert _hits(sessions) == 2
    with transaction(sessions) as session:
        [run] = [r for r in overview.recent_runs(session) if r.job_id == "prune_rate_limits"]
        assert run.status == JobRunStatus.OK


def test_only_the_leader_prunes(sessions: sessionmaker[Session]) -> None:
    _hit(sessions, "old", dt.timedelta(days=30))
    leader = _runtime(sessions, "a:1:x")
    assert leader.leader.ensure()
    standby = _runtime(sessions, "b:2:y")

    assert run_job(standby, specs.PRUNE_RATE_LIMITS).status == "standby"
    assert _hits(sessions) == 1


def test_it_is_scheduled_daily_and_run_by_once(sessions: sessionmaker[Session]) -> None:
    spec = specs.BY_ID[specs.PRUNE_RATE_LIMITS]
    assert spec.interval == dt.timedelta(days=1)
    assert spec.schedule_text(load_settings()) == "daily"
    assert specs.PRUNE_RATE_LIMITS in specs.ONCE_ORDER
    _hit(sessions, "old", dt.timedelta(days=30))
    outcomes = {o.job_id: o for o in run_once(_runtime(sessions, "a:1:x"))}
    assert outcomes[specs.PRUNE_RATE_LIMITS].counts["deleted"] == 1


def test_the_retention_covers_every_window_in_use() -> None:
    keep = housekeeping.limit_retention()
    longest = max(w.seconds for w in signup.CONFIRM_WINDOWS)
    assert keep >= dt.timedelta(seconds=longest)
    assert all(dt.timedelta(seconds=w.seconds) < keep for w in housekeeping.ALL_WINDOWS)
