"""The long-running scheduler: APScheduler 3 with its job store in our database.

Why the settings differ from APScheduler's defaults:

- ``misfire_grace_time`` is ``NEWSLETTER_MISFIRE_GRACE_TIME`` (6 h), not 1 s, so a
  weekly run delayed by a short outage still happens once (``coalesce=True``);
- ``max_instances=1``, so a slow send never overlaps the next firing;
- jobs are ``"module:function"`` references with stable ids and
  ``replace_existing=True``, so a changed schedule takes effect on restart;
- the lease heartbeat lives in a memory job store: every process runs its own.

``replace_existing`` recomputes next run times from "now", which would silently drop
a run missed during the restart; the catch-up that runs whenever this process
becomes the leader covers exactly that (see ``runner.run_job`` for the grace rule).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from newsletter.logs import log_event
from newsletter.schedule_rules import specs
from newsletter.schedule_rules.clock import Clock, SystemClock
from newsletter.scheduling import jobs, metrics_server
from newsletter.scheduling.history import DatabaseHistory, MemoryHistory
from newsletter.scheduling.leader import Leader, heartbeat_seconds, make_holder_id
from newsletter.scheduling.runner import Runtime
from newsletter.settings import Settings
from newsletter.storage.db import check_schema, make_engine, session_factory

log = logging.getLogger("newsletter.scheduler")

JOBSTORE_TABLE = "apscheduler_jobs"
EXECUTOR_THREADS = 6
"""Enough for a long send, a resume, a sync and the heartbeat at once."""
STOP_MARGIN_SECONDS = 5.0
LOCAL_STORE = "local"
HEARTBEAT_ID = "heartbeat"
CATCH_UP_ID = "catch_up"
RESUME_RETRY_ID = "resume_retry"


def job_ref(job_id: str) -> str:
    """The ``module:function`` APScheduler stores for a job (see ``jobs``)."""
    return f"newsletter.scheduling.jobs:{job_id}"


def build_scheduler(
    settings: Settings,
    jobstore_engine: Engine,
    *,
    scheduler_class: type[BaseScheduler] = BlockingScheduler,
) -> BaseScheduler:
    """A configured scheduler with every job added (not started)."""
    scheduler = scheduler_class(
        jobstores={
            "default": SQLAlchemyJobStore(engine=jobstore_engine, tablename=JOBSTORE_TABLE),
            LOCAL_STORE: MemoryJobStore(),
        },
        executors={"default": ThreadPoolExecutor(EXECUTOR_THREADS)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.misfire_grace_time,
        },
        timezone=settings.zone,
    )
    for spec in specs.JOBS:
        scheduler.add_job(
            job_ref(spec.id),
            trigger=spec.trigger(settings),
            id=spec.id,
            name=spec.description,
            replace_existing=True,
        )
    scheduler.add_job(
        job_ref("heartbeat"),
        trigger=IntervalTrigger(seconds=heartbeat_seconds(settings), timezone=settings.zone),
        id=HEARTBEAT_ID,
        name="renew or try for the leader lease",
        jobstore=LOCAL_STORE,
        replace_existing=True,
        next_run_time=dt.datetime.now(settings.zone),
    )
    scheduler.add_listener(record_misfire, EVENT_JOB_MISSED)
    return scheduler


def record_misfire(event: JobExecutionEvent) -> None:
    """APScheduler skipped a run beyond the grace time: make it visible in ``status``."""
    if event.job_id not in (specs.ASSEMBLE, specs.SEND):
        return
    rt = jobs.current()
    fire: dt.datetime = event.scheduled_run_time
    now = rt.clock.now()
    detail = "missed: the scheduler fired beyond NEWSLETTER_MISFIRE_GRACE_TIME; not run late"
    if rt.runs.record_missed(event.job_id, fire, now, detail):
        log_event(
            log,
            "job.missed",
            f"{event.job_id} run of {fire.isoformat()} {detail}",
            level=logging.WARNING,
            job=event.job_id,
            scheduled_for=fire,
        )


def make_runtime(
    settings: Settings, clock: Clock, *, simulated: bool = False
) -> tuple[Runtime, Engine]:
    """The runtime on the configured database; refuses a missing or old schema.

    The leader lease always runs on the real clock under ``NEWSLETTER_HOST_NAME``: it is
    about which process is alive now, so a ``--now`` run can neither hold the lease into
    the future nor take it from a real leader for longer than it really runs. A
    ``simulated`` run keeps its run history in memory, out of ``status``.
    """
    engine = make_engine(settings.database_url)
    check_schema(engine)
    sessions = session_factory(engine)
    leader = Leader(
        sessions,
        SystemClock(),
        holder=make_holder_id(settings.host_name),
        ttl=dt.timedelta(seconds=settings.lease_seconds),
    )
    history = MemoryHistory() if simulated else DatabaseHistory(sessions)
    rt = Runtime(settings, sessions, clock, leader, jobs.DEFAULT_BODIES, history=history)
    return rt, engine


def resume_retrier(scheduler: BaseScheduler, rt: Runtime) -> Callable[[dt.datetime], None]:
    """What a job calls to have the resume job run once more at a time (``resume_at``).

    One pending retry at most, the earliest asked for: it asks again if need be.
    """
    zone = rt.settings.zone

    def schedule_resume(at: dt.datetime) -> None:
        # ``at`` is on the runtime's clock (maybe simulated); APScheduler runs on real time.
        delay = max((at - rt.clock.now()).total_seconds(), 0.0)
        run_date = dt.datetime.now(zone) + dt.timedelta(seconds=delay)
        pending = scheduler.get_job(RESUME_RETRY_ID, jobstore=LOCAL_STORE)
        if pending is not None and pending.next_run_time <= run_date:
            return
        scheduler.add_job(
            job_ref(specs.RESUME),
            trigger=DateTrigger(run_date=run_date, timezone=zone),
            id=RESUME_RETRY_ID,
            name="resume again: a send lease expires or a failed issue's backoff ends",
            jobstore=LOCAL_STORE,
            replace_existing=True,
        )
        log_event(log, "resume.scheduled", f"resume again in {delay:.0f} s", delay_s=round(delay))

    return schedule_resume


def serve(settings: Settings, clock: Clock, *, simulated: bool = False) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    rt, engine = make_runtime(settings, clock, simulated=simulated)
    jobs.install(rt)
    scheduler = build_scheduler(settings, make_engine(settings.database_url))

    rt.schedule_retry = resume_retrier(scheduler, rt)

    def schedule_catch_up() -> None:
        scheduler.add_job(
            job_ref("catch_up"),
            id=CATCH_UP_ID,
            name="run what came due while nobody led",
            jobstore=LOCAL_STORE,
            replace_existing=True,
        )

    rt.on_leadership = schedule_catch_up
    install_stop_handlers(rt, lambda: scheduler.shutdown(wait=False))
    metrics = None
    if settings.metrics_port is not None:
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        metrics = metrics_server.start(
            rt.sessions,
            settings.metrics_port,
            is_leader=lambda: rt.leader.is_leader,
            token=token,
            host=settings.metrics_host,
        )
    now = clock.now()
    fields: dict[str, Any] = {
        "holder": rt.leader.holder,
        "timezone": settings.timezone,
        "grace_s": settings.misfire_grace_time,
    }
    fields.update({f"next_{s.id}": s.next_run(settings, now) for s in specs.JOBS if s.setting})
    log_event(log, "scheduler.start", "scheduler started", **fields)
    try:
        scheduler.start()
    finally:
        # In-flight requests were bounded by the request timeout; wait for them to be recorded.
        idle = rt.active.wait_idle(settings.request_timeout + STOP_MARGIN_SECONDS)
        rt.leader.release()
        if metrics is not None:
            metrics.shutdown()
        jobs.install(None)
        engine.dispose()
        log_event(log, "scheduler.stop", "scheduler stopped", clean=idle)
    return 0


def install_stop_handlers(rt: Runtime, shutdown: Callable[[], object] | None) -> None:
    """SIGTERM/SIGINT: stop claiming work and let in-flight batches finish; twice: exit now."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if rt.stop.is_set():
            log_event(log, "scheduler.kill", "second signal: exiting now", level=logging.ERROR)
            os._exit(1)
        rt.stop.set()
        log_event(
            log,
            "scheduler.stopping",
            "stop requested: no new batches; waiting for in-flight ones",
            signal=signal.Signals(signum).name,
        )
        if shutdown is not None:
            # Not from inside the handler: APScheduler's locks may be held by this very thread.
            threading.Thread(target=shutdown, name="scheduler-shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
