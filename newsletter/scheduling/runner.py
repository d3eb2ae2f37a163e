"""Running one job once: the lease check, the fire time, the grace rule, the record.

Every path into a job body (APScheduler firing, a new leader's catch-up, ``--once``)
goes through :func:`run_job`, so the rules hold everywhere:

- only the leader runs a body (a standby logs and returns);
- a cron job runs at most once per fire time (a finished run is never repeated);
- a fire time missed by more than ``NEWSLETTER_MISFIRE_GRACE_TIME`` is recorded as a
  missed run and not run at all: nothing goes out days late; one from before a
  scheduler first ran on this database was never missed, and is not reported;
- the record goes to the run history: the database, or memory under ``--now``;
- a body that returns ``resume_at`` (a time) asks for one more resume run then
  (the app schedules it; ``--once`` has no later, and leaves it to the next run);
- start and end are logged as one structured line each, with counts and duration.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import NewsletterError
from newsletter.logs import job_span, log_event
from newsletter.schedule_rules.clock import Clock
from newsletter.schedule_rules.specs import BY_ID
from newsletter.schedule_rules.triggers import previous_fire_time
from newsletter.scheduling.history import DatabaseHistory, RunEnd, RunHistory
from newsletter.scheduling.leader import Leader
from newsletter.services.schedule import JobEnv
from newsletter.services.send_retry import RetryBackoff
from newsletter.settings import Settings
from newsletter.storage.models import JobRunStatus

log = logging.getLogger("newsletter.scheduler")

Body = Callable[["Runtime", dt.datetime | None], Mapping[str, Any]]
"""A job body: gets the runtime and the fire time it answers, returns its counts."""


class _Active:
    """Counts job bodies in flight, so a stopping process can wait for them."""

    def __init__(self) -> None:
        self._count = 0
        self._cond = threading.Condition()

    @contextmanager
    def track(self) -> Iterator[None]:
        with self._cond:
            self._count += 1
        try:
            yield
        finally:
            with self._cond:
                self._count -= 1
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout)


@dataclass
class Runtime:
    """Everything a job needs in this process, installed once at start."""

    settings: Settings
    sessions: sessionmaker[Session]
    clock: Clock
    leader: Leader
    bodies: Mapping[str, Body]
    stop: threading.Event = field(default_factory=threading.Event)
    active: _Active = field(default_factory=_Active)
    on_leadership: Callable[[], None] | None = None
    """Called when this process becomes the leader (the app schedules a catch-up)."""
    history: RunHistory | None = None
    """Where runs are recorded; the database unless given (memory for ``--now``)."""
    backoff: RetryBackoff = field(default_factory=RetryBackoff)
    """When each failed issue may be retried next, across this process's runs."""
    schedule_retry: Callable[[dt.datetime], None] | None = None
    """Asks for one more run of the resume job at a time of this runtime's clock."""

    def __post_init__(self) -> None:
        if self.history is None:
            self.history = DatabaseHistory(self.sessions)

    @property
    def runs(self) -> RunHistory:
        assert self.history is not None
        return self.history

    def env(self) -> JobEnv:
        return JobEnv(
            settings=self.settings,
            sessions=self.sessions,
            now=self.clock.now,
            should_stop=self.stop.is_set,
            backoff=self.backoff,
        )


@dataclass(frozen=True)
class RunOutcome:
    job_id: str
    status: str
    """ok | skipped | failed | missed | done (already ran) | standby | not-due | stopping"""
    scheduled_for: dt.datetime | None = None
    counts: Mapping[str, Any] = field(default_factory=dict)
    run_id: int | None = None


_RECORDED = {"ok": JobRunStatus.OK, "skipped": JobRunStatus.SKIPPED}


def run_job(rt: Runtime, job_id: str) -> RunOutcome:
    """Run ``job_id`` now if this process leads and the job is due; see the module doc."""
    spec = BY_ID[job_id]
    if rt.stop.is_set():
        return RunOutcome(job_id, "stopping")
    with rt.active.track():
        if not rt.leader.ensure():
            log_event(log, "job.standby", f"{job_id}: on standby, not running", job=job_id)
            return RunOutcome(job_id, "standby")
        now = rt.clock.now()
        fire: dt.datetime | None = None
        cron = spec.cron(rt.settings)
        if cron is not None:
            fire = previous_fire_time(cron, now)
            if fire is None:
                return RunOutcome(job_id, "not-due")
            gate = _gate(rt, job_id, fire, now)
            if gate is not None:
                return gate
        return _execute(rt, job_id, fire, now, record_always=cron is not None)


def _gate(rt: Runtime, job_id: str, fire: dt.datetime, now: dt.datetime) -> RunOutcome | None:
    """Why a cron job must not run for ``fire`` (already handled, or too late), or None."""
    grace = dt.timedelta(seconds=rt.settings.misfire_grace_time)
    if rt.runs.has_finished(job_id, fire):
        return RunOutcome(job_id, "done", fire)
    if now - fire <= grace:
        return None
    late = now - fire
    if fire < rt.runs.first_start(now):
        # Nobody was meant to run it: the scheduler did not exist yet.
        log_event(
            log,
            "job.before_first_start",
            f"{job_id} run of {fire.isoformat()} came before the scheduler first ran; "
            "not a missed run",
            job=job_id,
            scheduled_for=fire,
        )
        return RunOutcome(job_id, "not-due", fire)
    detail = f"missed by {_human(late)} (grace {_human(grace)}); not run late"
    if rt.runs.record_missed(job_id, fire, now, detail):
        log_event(
            log,
            "job.missed",
            f"{job_id} run of {fire.isoformat()} {detail}",
            level=logging.WARNING,
            job=job_id,
            scheduled_for=fire,
            late_s=round(late.total_seconds()),
        )
    return RunOutcome(job_id, "missed", fire)


def _execute(
    rt: Runtime, job_id: str, fire: dt.datetime | None, now: dt.datetime, *, record_always: bool
) -> RunOutcome:
    body = rt.bodies[job_id]
    run_id: int | None = None
    if record_always:
        run_id = rt.runs.start(job_id, fire, rt.leader.holder, now)
    result: dict[str, Any] = {}
    try:
        with job_span(log, job_id, run_id=run_id, scheduled_for=fire) as counts:
            result = dict(body(rt, fire))
            counts.update(result)
    except NewsletterError as exc:
        run_id = _finish(
            rt,
            job_id,
            fire,
            run_id=run_id,
            status=JobRunStatus.FAILED,
            counts=result,
            detail=str(exc),
        )
        return RunOutcome(job_id, "failed", fire, result, run_id)
    except Exception as exc:
        # A bug, not an expected failure: keep the traceback, and keep the scheduler alive.
        log.exception("job %s crashed", job_id)
        detail = f"{type(exc).__name__}: {exc}"
        run_id = _finish(
            rt,
            job_id,
            fire,
            run_id=run_id,
            status=JobRunStatus.FAILED,
            counts=result,
            detail=detail,
        )
        return RunOutcome(job_id, "failed", fire, result, run_id)
    status = str(result.pop("status", "ok"))
    recorded = _RECORDED.get(status, JobRunStatus.FAILED)
    detail = str(result.pop("detail", ""))
    resume_at = result.pop("resume_at", None)
    if isinstance(resume_at, dt.datetime) and rt.schedule_retry is not None:
        rt.schedule_retry(resume_at)
    # Interval jobs leave a row only when they did something, or the table would fill
    # with a row every five minutes saying nothing happened.
    if record_always or any(isinstance(v, int) and v for v in result.values()):
        run_id = _finish(
            rt, job_id, fire, run_id=run_id, status=recorded, counts=result, detail=detail
        )
    return RunOutcome(job_id, status, fire, result, run_id)


def _finish(
    rt: Runtime,
    job_id: str,
    fire: dt.datetime | None,
    *,
    run_id: int | None,
    status: JobRunStatus,
    counts: Mapping[str, Any],
    detail: str,
) -> int:
    now = rt.clock.now()
    plain = {k: v for k, v in counts.items() if isinstance(v, int | float | str | bool)}
    if run_id is None:
        run_id = rt.runs.start(job_id, fire, rt.leader.holder, now)
    rt.runs.finish(run_id, RunEnd(status, now, plain, detail))
    return run_id


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
