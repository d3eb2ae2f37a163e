"""Cron triggers in the configured time zone, and the fire times around an instant.

APScheduler 3's ``CronTrigger`` only looks forward; catching up after an outage
needs the latest fire time at or before "now", which :func:`previous_fire_time`
finds by walking forward through widening windows.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from newsletter.errors import SettingsError

# Widening look-back windows: a per-minute cron is found in the first, a monthly one in the last.
_LOOKBACKS = (
    dt.timedelta(hours=2),
    dt.timedelta(days=2),
    dt.timedelta(days=8),
    dt.timedelta(days=32),
    dt.timedelta(days=367),
)
_STEP = dt.timedelta(seconds=1)


def cron_trigger(expression: str, zone: ZoneInfo, *, variable: str = "schedule") -> CronTrigger:
    """A ``CronTrigger`` for a 5-field cron expression; errors name ``variable``."""
    try:
        trigger: CronTrigger = CronTrigger.from_crontab(expression, timezone=zone)
    except ValueError as exc:
        raise SettingsError(f"{variable}: invalid cron expression {expression!r}: {exc}") from exc
    return trigger


def next_fire_time(trigger: CronTrigger, after: dt.datetime) -> dt.datetime | None:
    """The first fire time strictly after ``after``."""
    fire: dt.datetime | None = trigger.get_next_fire_time(None, after + _STEP)
    return fire


def next_fire_times(trigger: CronTrigger, after: dt.datetime, count: int) -> list[dt.datetime]:
    times: list[dt.datetime] = []
    current = after
    while len(times) < count:
        fire = next_fire_time(trigger, current)
        if fire is None:
            break
        times.append(fire)
        current = fire
    return times


def previous_fire_time(trigger: CronTrigger, now: dt.datetime) -> dt.datetime | None:
    """The latest fire time at or before ``now``, or ``None`` within the last year."""
    for lookback in _LOOKBACKS:
        latest: dt.datetime | None = None
        fire: dt.datetime | None = trigger.get_next_fire_time(None, now - lookback)
        while fire is not None and fire <= now:
            latest = fire
            fire = next_fire_time(trigger, fire)
        if latest is not None:
            return latest
    return None


def fire_time_on(trigger: CronTrigger, day: dt.date, zone: ZoneInfo) -> dt.datetime | None:
    """The first fire time on local calendar day ``day``, if the schedule fires that day."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    fire: dt.datetime | None = trigger.get_next_fire_time(None, start)
    if fire is not None and fire.astimezone(zone).date() == day:
        return fire
    return None
