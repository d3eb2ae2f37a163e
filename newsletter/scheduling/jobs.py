"""The functions APScheduler calls, by ``"newsletter.scheduling.jobs:<id>"`` reference.

APScheduler pickles a reference, not an object, so these take no arguments and find
this process's :class:`Runtime` in a module global that ``app`` installs at start.
Each one only hands over to :func:`run_job`, which applies the lease and grace rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from newsletter.errors import SchedulerError
from newsletter.schedule_rules import specs
from newsletter.scheduling.runner import Body, Runtime, run_job
from newsletter.services import housekeeping, lifecycle
from newsletter.services import resume as resume_service
from newsletter.services import schedule as service

_runtime: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    """Make ``runtime`` the one the job functions use (None uninstalls it)."""
    global _runtime  # noqa: PLW0603 - APScheduler can only call module-level functions
    _runtime = runtime


def current() -> Runtime:
    if _runtime is None:
        raise SchedulerError("the scheduler runtime is not installed; start it via scheduler.py")
    return _runtime


def _assemble_body(rt: Runtime, fire: dt.datetime | None) -> Mapping[str, Any]:
    return service.assemble_upcoming(rt.env(), fire)


def _send_body(rt: Runtime, fire: dt.datetime | None) -> Mapping[str, Any]:
    return service.send_due(rt.env(), fire)


def _resume_body(rt: Runtime, fire: dt.datetime | None) -> Mapping[str, Any]:
    return resume_service.resume_sends(rt.env())


def _sync_body(rt: Runtime, fire: dt.datetime | None) -> Mapping[str, Any]:
    return service.sync_suppressions(rt.env())


def _prune_body(rt: Runtime, fire: dt.datetime | None) -> Mapping[str, Any]:
    env = rt.env()
    result = lifecycle.prune_events(
        env.sessions,
        retention_days=env.settings.event_retention_days,
        now=env.now(),
        should_stop=env.should_stop,
    )
    return result.to_dict()


def _prune_limits_body(rt: Runtime, fire: dt.datetime | None) -> Mapping[str, Any]:
    return housekeeping.prune_rate_limits(rt.env())


DEFAULT_BODIES: dict[str, Body] = {
    specs.ASSEMBLE: _assemble_body,
    specs.SEND: _send_body,
    specs.RESUME: _resume_body,
    specs.SYNC_SUPPRESSIONS: _sync_body,
    specs.PRUNE_EVENTS: _prune_body,
    specs.PRUNE_RATE_LIMITS: _prune_limits_body,
}


def assemble() -> None:
    run_job(current(), specs.ASSEMBLE)


def send() -> None:
    run_job(current(), specs.SEND)


def resume() -> None:
    run_job(current(), specs.RESUME)


def sync_suppressions() -> None:
    run_job(current(), specs.SYNC_SUPPRESSIONS)


def prune_events() -> None:
    run_job(current(), specs.PRUNE_EVENTS)


def prune_rate_limits() -> None:
    run_job(current(), specs.PRUNE_RATE_LIMITS)


def heartbeat() -> None:
    """Renew the lease (or try for it); on becoming the leader, catch up at once."""
    rt = current()
    was_leader = rt.leader.is_leader
    if rt.leader.ensure() and not was_leader and rt.on_leadership is not None:
        rt.on_leadership()


def catch_up() -> None:
    """Run what came due while nobody led (each job decides if it is due or too late)."""
    rt = current()
    for job_id in specs.CATCH_UP_ORDER:
        if rt.stop.is_set():
            return
        run_job(rt, job_id)
