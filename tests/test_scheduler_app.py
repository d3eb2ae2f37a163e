"""The APScheduler set-up: job store, ids, defaults, restarts, and real misfires."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session, sessionmaker

from newsletter.schedule_rules import specs
from newsletter.schedule_rules.clock import ManualClock
from newsletter.scheduling import jobs
from newsletter.scheduling.app import HEARTBEAT_ID, JOBSTORE_TABLE, LOCAL_STORE, build_scheduler
from newsletter.scheduling.leader import Leader
from newsletter.scheduling.runner import Runtime
from newsletter.settings import Settings, load_settings
from newsletter.storage.db import transaction
from newsletter.storage.models import JobRunStatus
from newsletter.storage.repositories import overview
from tests.test_scheduler_runner import FakeBodies

NY = ZoneInfo("America/New_York")
SEND_AT = dt.datetime(2026, 11, 24, 9, 0, tzinfo=NY)


@pytest.fixture
def scheduler_factory(engine: Engine) -> Iterator[list[BackgroundScheduler]]:
    started: list[BackgroundScheduler] = []
    yield started
    for scheduler in started:
        if scheduler.running:
            scheduler.shutdown(wait=True)
    jobs.install(None)


def _start(
    settings: Settings, engine: Engine, started: list[BackgroundScheduler]
) -> BackgroundScheduler:
    scheduler = build_scheduler(settings, engine, scheduler_class=BackgroundScheduler)
    assert isinstance(scheduler, BackgroundScheduler)
    started.append(scheduler)
    scheduler.start(paused=True)
    return scheduler


def test_jobs_are_stored_by_reference_with_our_defaults(
    engine: Engine, scheduler_factory: list[BackgroundScheduler], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_MISFIRE_GRACE_TIME", "21600")
    scheduler = _start(load_settings(), engine, scheduler_factory)

    assert JOBSTORE_TABLE in inspect(engine).get_table_names()
    stored = {job.id: job for job in scheduler.get_jobs(jobstore="default")}
    assert set(stored) == {spec.id for spec in specs.JOBS}
    send = stored[specs.SEND]
    assert send.func_ref == "newsletter.scheduling.jobs:send"
    assert send.coalesce is True
    assert send.max_instances == 1
    assert send.misfire_grace_time == 21600
    assert isinstance(send.trigger, CronTrigger)
    assert str(send.trigger.timezone) == "America/New_York"
    assert scheduler.timezone == NY
    # The heartbeat is per process, so it never goes into the shared store.
    assert [j.id for j in scheduler.get_jobs(jobstore=LOCAL_STORE)] == [HEARTBEAT_ID]


def test_a_changed_schedule_replaces_the_stored_job_on_restart(
    engine: Engine, scheduler_factory: list[BackgroundScheduler], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _start(load_settings(), engine, scheduler_factory)
    first.shutdown(wait=True)
    monkeypatch.setenv("NEWSLETTER_SEND_SCHEDULE", "30 7 * * wed")
    second = _start(load_settings(), engine, scheduler_factory)

    jobs_now = second.get_jobs(jobstore="default")
    assert len(jobs_now) == len(specs.JOBS)
    send = second.get_job(specs.SEND)
    assert send is not None
    fire = send.next_run_time.astimezone(NY)
    assert (fire.strftime("%a"), fire.hour, fire.minute) == ("Wed", 7, 30)


def _runtime(sessions: sessionmaker[Session], bodies: FakeBodies, now: dt.datetime) -> Runtime:
    clock = ManualClock(now)
    return Runtime(load_settings(), sessions, clock, Leader(sessions, clock), bodies.mapping())


def _wait_for(scheduler: BackgroundScheduler, mask: int, job_id: str) -> threading.Event:
    seen = threading.Event()

    def listener(event: JobExecutionEvent) -> None:
        if event.job_id == job_id:
            seen.set()

    scheduler.add_listener(listener, mask)
    return seen


def test_a_firing_missed_beyond_the_grace_is_recorded_not_run(
    engine: Engine,
    sessions: sessionmaker[Session],
    scheduler_factory: list[BackgroundScheduler],
) -> None:
    bodies = FakeBodies()
    jobs.install(_runtime(sessions, bodies, SEND_AT + dt.timedelta(hours=7)))
    # A schedule that cannot fire in the last seven hours of the real clock: with the
    # default one, a run of this test on a Tuesday morning (New York) found a real
    # firing after the missed one, and coalescing ran that instead.
    far = (dt.datetime.now(NY) + dt.timedelta(days=15)).day
    settings = load_settings(send_schedule=f"0 0 {far} * *")
    scheduler = _start(settings, engine, scheduler_factory)
    missed_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=7)
    scheduler.modify_job(specs.SEND, next_run_time=missed_at)
    seen = _wait_for(scheduler, EVENT_JOB_MISSED, specs.SEND)

    scheduler.resume()

    assert seen.wait(10)
    assert bodies.calls == []
    with transaction(sessions) as session:
        runs = overview.recent_runs(session, statuses=[JobRunStatus.MISSED])
    assert [r.job_id for r in runs] == [specs.SEND]
    # The job store keeps run times as float timestamps: equal to well within a second.
    scheduled = runs[0].scheduled_for
    assert scheduled is not None
    assert abs((scheduled - missed_at).total_seconds()) < 1


def test_a_firing_late_within_the_grace_runs_once(
    engine: Engine,
    sessions: sessionmaker[Session],
    scheduler_factory: list[BackgroundScheduler],
) -> None:
    bodies = FakeBodies()
    jobs.install(_runtime(sessions, bodies, SEND_AT + dt.timedelta(hours=1)))
    scheduler = _start(load_settings(), engine, scheduler_factory)
    scheduler.modify_job(specs.SEND, next_run_time=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    seen = _wait_for(scheduler, EVENT_JOB_EXECUTED, specs.SEND)

    scheduler.resume()

    assert seen.wait(10)
    assert bodies.calls == [(specs.SEND, SEND_AT)]
    send = scheduler.get_job(specs.SEND)
    assert send is not None and send.next_run_time > dt.datetime.now(dt.UTC)
