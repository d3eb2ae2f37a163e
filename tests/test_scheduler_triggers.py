"""Cron fire times in America/New_York across both DST transitions, and look-back."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from newsletter.errors import SettingsError
from newsletter.schedule_rules.clock import ManualClock, OffsetClock, make_clock, parse_now
from newsletter.schedule_rules.specs import BY_ID, SEND
from newsletter.schedule_rules.triggers import (
    cron_trigger,
    fire_time_on,
    next_fire_times,
    previous_fire_time,
)
from newsletter.settings import load_settings

NY = ZoneInfo("America/New_York")


def test_weekly_tuesday_nine_stays_nine_across_spring_forward() -> None:
    trigger = cron_trigger("0 9 * * tue", NY)
    # 2026-03-08 is the spring-forward Sunday: EST (-5) before, EDT (-4) after.
    fires = next_fire_times(trigger, dt.datetime(2026, 2, 25, 12, tzinfo=NY), 3)
    assert [f.astimezone(NY).strftime("%a %Y-%m-%d %H:%M") for f in fires] == [
        "Tue 2026-03-03 09:00",
        "Tue 2026-03-10 09:00",
        "Tue 2026-03-17 09:00",
    ]
    utc_hours = [f.astimezone(dt.UTC).hour for f in fires]
    assert utc_hours == [14, 13, 13]


def test_weekly_tuesday_nine_stays_nine_across_fall_back() -> None:
    trigger = cron_trigger("0 9 * * tue", NY)
    # 2026-11-01 is the fall-back Sunday: EDT before, EST after.
    fires = next_fire_times(trigger, dt.datetime(2026, 10, 21, 12, tzinfo=NY), 3)
    local = [f.astimezone(NY) for f in fires]
    assert [f.date().isoformat() for f in local] == ["2026-10-27", "2026-11-03", "2026-11-10"]
    assert all((f.hour, f.minute) == (9, 0) for f in local)
    assert [f.astimezone(dt.UTC).hour for f in fires] == [13, 14, 14]
    # Exactly one week of wall-clock time apart, which is 7 days + 1 hour of real time.
    assert fires[1].astimezone(dt.UTC) - fires[0].astimezone(dt.UTC) == dt.timedelta(
        days=7, hours=1
    )


def test_send_schedule_from_settings_uses_the_configured_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSLETTER_TIMEZONE", "America/New_York")
    settings = load_settings()
    after = dt.datetime(2026, 3, 7, 12, tzinfo=dt.UTC)
    next_send = BY_ID[SEND].next_run(settings, after)
    assert next_send == dt.datetime(2026, 3, 10, 9, tzinfo=NY)


def test_previous_fire_time_finds_the_latest_at_or_before_now() -> None:
    trigger = cron_trigger("0 9 * * tue", NY)
    at_fire = dt.datetime(2026, 11, 24, 9, tzinfo=NY)
    assert previous_fire_time(trigger, at_fire) == at_fire
    assert previous_fire_time(trigger, at_fire + dt.timedelta(hours=3)) == at_fire
    assert previous_fire_time(trigger, at_fire - dt.timedelta(seconds=1)) == dt.datetime(
        2026, 11, 17, 9, tzinfo=NY
    )
    every_minute = cron_trigger("* * * * *", NY)
    now = dt.datetime(2026, 11, 24, 9, 30, 42, tzinfo=NY)
    assert previous_fire_time(every_minute, now) == dt.datetime(2026, 11, 24, 9, 30, tzinfo=NY)
    monthly = cron_trigger("0 6 1 * *", NY)
    assert previous_fire_time(monthly, now) == dt.datetime(2026, 11, 1, 6, tzinfo=NY)


def test_fire_time_on_a_day() -> None:
    trigger = cron_trigger("0 9 * * tue", NY)
    assert fire_time_on(trigger, dt.date(2026, 11, 24), NY) == dt.datetime(
        2026, 11, 24, 9, tzinfo=NY
    )
    assert fire_time_on(trigger, dt.date(2026, 11, 25), NY) is None


def test_bad_cron_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="NEWSLETTER_SEND_SCHEDULE"):
        cron_trigger("0 25 * * tue", NY, variable="NEWSLETTER_SEND_SCHEDULE")


def test_now_override_is_local_time_unless_an_offset_is_given() -> None:
    assert parse_now("2026-11-24T09:00", NY) == dt.datetime(2026, 11, 24, 14, tzinfo=dt.UTC)
    assert parse_now("2026-11-24T09:00+00:00", NY) == dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)
    with pytest.raises(SettingsError, match="NEWSLETTER_NOW"):
        parse_now("next tuesday", NY)


def test_clocks() -> None:
    start = dt.datetime(2026, 11, 24, 14, tzinfo=dt.UTC)
    manual = ManualClock(start)
    assert manual.advance(hours=2) == start + dt.timedelta(hours=2)
    offset = make_clock("2026-11-24T09:00", NY)
    assert isinstance(offset, OffsetClock)
    assert dt.timedelta(0) <= offset.now() - start < dt.timedelta(seconds=5)
    assert make_clock(None, NY).now().tzinfo is not None
