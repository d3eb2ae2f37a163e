"""The scheduled jobs: ids, when they fire, what ``--once`` and catch-up run, the lease.

Both the scheduler face (which runs the jobs) and the services (``status`` shows
them) need these facts, so they live here, below both.

The ids are stable on purpose: APScheduler's job store is keyed by them, so
``replace_existing=True`` updates a job in place when its schedule changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter.schedule_rules.fire_times import LIVE, FireTimes
from newsletter.settings import Settings, env_name

if TYPE_CHECKING:
    # APScheduler is imported by the methods that make triggers: ``newsletter status``
    # shows the schedules (and remembered next runs) without loading it.
    from apscheduler.triggers.base import BaseTrigger
    from apscheduler.triggers.cron import CronTrigger

LEASE_NAME = "scheduler"
"""The row of ``scheduler_leases`` that the scheduler processes compete for."""

ASSEMBLE = "assemble"
SEND = "send"
RESUME = "resume"
SYNC_SUPPRESSIONS = "sync_suppressions"
PRUNE_EVENTS = "prune_events"
PRUNE_RATE_LIMITS = "prune_rate_limits"

RESUME_INTERVAL = dt.timedelta(minutes=5)
"""How soon an interrupted send is picked up again (a module constant, not a setting)."""
SYNC_INTERVAL = dt.timedelta(hours=1)
PRUNE_INTERVAL = dt.timedelta(hours=1)
LIMITS_PRUNE_INTERVAL = dt.timedelta(days=1)


@dataclass(frozen=True)
class JobSpec:
    id: str
    description: str
    setting: str | None = None
    """The ``Settings`` field holding the cron expression; None for interval jobs."""
    interval: dt.timedelta | None = None

    def cron(self, settings: Settings) -> CronTrigger | None:
        if self.setting is None:
            return None
        from newsletter.schedule_rules.triggers import cron_trigger

        expression = str(getattr(settings, self.setting))
        return cron_trigger(expression, settings.zone, variable=env_name(self.setting))

    def trigger(self, settings: Settings) -> BaseTrigger:
        from apscheduler.triggers.interval import IntervalTrigger

        cron = self.cron(settings)
        if cron is not None:
            return cron
        assert self.interval is not None
        return IntervalTrigger(seconds=self.interval.total_seconds(), timezone=settings.zone)

    def schedule_text(self, settings: Settings) -> str:
        if self.setting is not None:
            return f"cron '{getattr(settings, self.setting)}' ({settings.timezone})"
        assert self.interval is not None
        minutes = int(self.interval.total_seconds() // 60)
        if minutes == 24 * 60:
            return "daily"
        return f"every {minutes} min"

    def next_run(
        self, settings: Settings, now: dt.datetime, *, fires: FireTimes = LIVE
    ) -> dt.datetime | None:
        """The next time this job fires after ``now`` (interval jobs: ``now + interval``)."""
        if self.setting is not None:
            expression = str(getattr(settings, self.setting))
            variable = env_name(self.setting)
            return fires.next_after(expression, settings.zone, now, variable=variable)
        assert self.interval is not None
        return now + self.interval


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        ASSEMBLE, "build next send date's drafts and email the review notice", "assemble_schedule"
    ),
    JobSpec(SEND, "send each list's approved issue for today", "send_schedule"),
    JobSpec(RESUME, "finish interrupted sends through the ledger", interval=RESUME_INTERVAL),
    JobSpec(SYNC_SUPPRESSIONS, "copy SendGrid's suppression lists", interval=SYNC_INTERVAL),
    JobSpec(
        PRUNE_EVENTS,
        "delete processed raw events past NEWSLETTER_EVENT_RETENTION_DAYS",
        interval=PRUNE_INTERVAL,
    ),
    JobSpec(
        PRUNE_RATE_LIMITS,
        "delete rate-limit hits older than the longest limit window",
        interval=LIMITS_PRUNE_INTERVAL,
    ),
)
BY_ID = {spec.id: spec for spec in JOBS}
ONCE_ORDER = (ASSEMBLE, SEND, RESUME, SYNC_SUPPRESSIONS, PRUNE_EVENTS, PRUNE_RATE_LIMITS)
"""What ``--once`` runs, in order: a draft first, then today's send, then leftovers."""
CATCH_UP_ORDER = (ASSEMBLE, SEND, RESUME)
"""What a new leader runs at once, in case a fire time passed while nobody led."""
