"""Remembered cron fire times give APScheduler's own answers, to the datetime."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter import cache
from newsletter.errors import SettingsError
from newsletter.schedule_rules import fire_times, triggers
from newsletter.schedule_rules.fire_times import LIVE, RememberedFireTimes

EXPRESSIONS = (
    "0 9 * * tue",
    "0 10 * * thu",
    "30 2 * * *",  # inside the spring-forward gap in New York and London
    "30 1 * * *",  # twice on the fall-back night
    "*/15 * * * *",  # denser than the span's limit
    "0 0 1 * *",
    "0 9 * * 0-4",  # APScheduler's day numbers: 0 is Monday
    "5 4 last * *",
    "0 12 29 2 *",  # leap days only: beyond any span
)
ZONES = ("America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC", "Asia/Kolkata")
# Around each zone's 2026 clock changes, and ordinary days.
AROUND = (
    dt.datetime(2026, 3, 8, 6, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC),
    dt.datetime(2026, 4, 4, 14, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 10, 3, 15, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 1, 5, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 1, 16, 3, 27, 512_000, tzinfo=dt.UTC),
)


def _instants() -> list[dt.datetime]:
    found = []
    for center in AROUND:
        for minutes in range(-200, 200, 7):
            found.append(center + dt.timedelta(minutes=minutes, microseconds=minutes % 3))
        found.append(center + dt.timedelta(days=30))
        found.append(center - dt.timedelta(days=40))
    return found


@pytest.mark.parametrize("zone_key", ZONES)
def test_next_runs_are_apschedulers_to_the_datetime(zone_key: str) -> None:
    zone = ZoneInfo(zone_key)
    for expression in EXPRESSIONS:
        remembered = RememberedFireTimes()
        for instant in _instants():
            expected = LIVE.next_after(expression, zone, instant, variable="X")
            got = remembered.next_after(expression, zone, instant, variable="X")
            assert got == expected, (expression, instant)
            assert got is None or expected is None or got.isoformat() == expected.isoformat()
            assert got is None or got.tzinfo is zone


@pytest.mark.parametrize("zone_key", ["America/New_York", "Australia/Lord_Howe"])
def test_the_send_time_on_a_day_is_apschedulers(zone_key: str) -> None:
    zone = ZoneInfo(zone_key)
    for expression in EXPRESSIONS:
        remembered = RememberedFireTimes()
        day = dt.date(2026, 2, 20)
        while day < dt.date(2026, 4, 20):
            expected = LIVE.first_on(expression, zone, day, variable="X")
            got = remembered.first_on(expression, zone, day, variable="X")
            assert got == expected, (expression, day)
            assert got is None or expected is None or got.isoformat() == expected.isoformat()
            day += dt.timedelta(days=1)


def test_a_second_process_answers_from_the_file_without_apscheduler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    zone = ZoneInfo("America/New_York")
    now = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.UTC)
    first = RememberedFireTimes().next_after("0 9 * * tue", zone, now, variable="X")
    assert (cache.folder() / fire_times.FILE_NAME).is_file()

    def no_apscheduler(*args: object, **kwargs: object) -> None:
        raise AssertionError("asked APScheduler")

    # Within the span no trigger is made (and only making one imports APScheduler).
    monkeypatch.setattr(triggers, "cron_trigger", no_apscheduler)
    later = RememberedFireTimes()
    assert later.next_after("0 9 * * tue", zone, now, variable="X") == first
    assert later.first_on("0 9 * * tue", zone, dt.date(2026, 11, 17), variable="X") == (
        dt.datetime(2026, 11, 17, 9, tzinfo=zone)
    )


def test_a_damaged_or_foreign_file_is_computed_again() -> None:
    zone = ZoneInfo("Europe/London")
    now = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    expected = LIVE.next_after("0 9 * * tue", zone, now, variable="X")
    path = cache.folder() / fire_times.FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    for damage in (
        b"not json",
        b"[]",
        json.dumps({"format": 1, "apscheduler": [[1, 2]], "spans": {}}).encode(),
        json.dumps(
            {
                "format": fire_times.FORMAT,
                "apscheduler": fire_times._apscheduler_key(),
                "spans": {"Europe/London|0 9 * * tue": {"zone_file": [], "fires": "x"}},
            }
        ).encode(),
    ):
        path.write_bytes(damage)
        assert RememberedFireTimes().next_after("0 9 * * tue", zone, now, variable="X") == expected


def test_an_invalid_expression_is_the_same_settings_error() -> None:
    zone = ZoneInfo("UTC")
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    with pytest.raises(SettingsError, match="NEWSLETTER_SEND_SCHEDULE: invalid cron"):
        RememberedFireTimes().next_after(
            "0 9 * * funday", zone, now, variable="NEWSLETTER_SEND_SCHEDULE"
        )


def test_an_unwritable_cache_folder_only_costs_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    zone = ZoneInfo("UTC")
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    assert RememberedFireTimes().next_after("0 9 * * tue", zone, now, variable="X") == (
        LIVE.next_after("0 9 * * tue", zone, now, variable="X")
    )
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


def test_the_file_keeps_only_the_schedules_asked_about_lately() -> None:
    zone = ZoneInfo("UTC")
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    for minute in range(fire_times.KEPT + 3):
        RememberedFireTimes().next_after(f"{minute} 9 * * *", zone, now, variable="X")
    spans = json.loads((cache.folder() / fire_times.FILE_NAME).read_bytes())["spans"]
    assert list(spans) == [f"UTC|{m} 9 * * *" for m in range(3, fire_times.KEPT + 3)]
