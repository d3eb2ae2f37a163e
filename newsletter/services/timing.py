"""When an issue goes out: the send schedule's time on its date, and how to say it.

Every face that tells a person when an issue will reach inboxes (``issue approve``,
``issue send``'s prompt and refusal, ``issue queue``, the console) uses these, so the
wording and the rule are written once.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from newsletter.schedule_rules.fire_times import LIVE, FireTimes
from newsletter.settings import Settings

if TYPE_CHECKING:  # APScheduler is imported where a trigger is made
    from apscheduler.triggers.cron import CronTrigger

SEND_SCHEDULE_ENV = "NEWSLETTER_SEND_SCHEDULE"


def send_trigger(settings: Settings) -> CronTrigger:
    from newsletter.schedule_rules.triggers import cron_trigger

    return cron_trigger(settings.send_schedule, settings.zone, variable=SEND_SCHEDULE_ENV)


def scheduled_time(
    settings: Settings, issue_date: dt.date, *, fires: FireTimes = LIVE
) -> dt.datetime | None:
    """The send schedule's first time on ``issue_date``, or ``None`` if it never sends then.

    ``fires``: where fire times come from; only ``newsletter status``, which shows
    them and acts on none, passes remembered ones.
    """
    return fires.first_on(
        settings.send_schedule, settings.zone, issue_date, variable=SEND_SCHEDULE_ENV
    )


def due_time(settings: Settings, issue_date: dt.date, *, fires: FireTimes = LIVE) -> dt.datetime:
    """When an issue of ``issue_date`` is meant to go out: the send schedule's time that day.

    A date the schedule never sends on is due at the start of that day, so a person who
    queued it on purpose can send it by hand that day.
    """
    fire = scheduled_time(settings, issue_date, fires=fires)
    return fire or dt.datetime.combine(issue_date, dt.time(0), tzinfo=settings.zone)


def window_closes(cfg: Settings, issue_date: dt.date, *, fires: FireTimes = LIVE) -> dt.datetime:
    """The end of the send window: the delivery time plus ``NEWSLETTER_SEND_WINDOW_MINUTES``."""
    return due_time(cfg, issue_date, fires=fires) + dt.timedelta(minutes=cfg.send_window_minutes)


def next_send_date(settings: Settings, after: dt.date) -> dt.date | None:
    """The first date on or after ``after`` that the send schedule sends on."""
    from newsletter.schedule_rules.triggers import next_fire_time

    start = dt.datetime.combine(after, dt.time(0), tzinfo=settings.zone) - dt.timedelta(seconds=1)
    fire = next_fire_time(send_trigger(settings), start)
    return fire.astimezone(settings.zone).date() if fire is not None else None


def describe_time(instant: dt.datetime, zone: ZoneInfo) -> str:
    """``Tue 8 Dec 2026 at 09:00 America/New_York``: day, date, time and zone, unambiguous."""
    local = instant.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y} at {local:%H:%M} {zone.key}"


def describe_date(day: dt.date) -> str:
    """``Tue 8 Dec 2026``."""
    return f"{day:%a} {day.day} {day:%b %Y}"


def delivery_note(settings: Settings, issue_id: int, issue_date: dt.date, now: dt.datetime) -> str:
    """One sentence for a person who just approved (or is looking at) an issue: when it goes."""
    scheduled = scheduled_time(settings, issue_date)
    if scheduled is None:
        return (
            f"The send schedule never sends on {describe_date(issue_date)}: send it by hand "
            f"that day with `newsletter issue send {issue_id}`."
        )
    when = describe_time(scheduled, settings.zone)
    if scheduled > now:
        return (
            f"It goes out {when}, when the scheduler's send job runs; "
            f"`newsletter issue send {issue_id} --now` would send it at once."
        )
    return f"It was due {when}; send it now with `newsletter issue send {issue_id}`."
