"""Local-time delivery, the data side: zones on people and lists, and 09:00 in each zone."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from newsletter.audience.timezones import (
    local_instant,
    normalize_timezone,
    parse_local_time,
    send_groups,
)
from newsletter.cli import app
from newsletter.errors import TimezoneError
from newsletter.services import audience

Sessions = sessionmaker[Session]
runner = CliRunner()
NINE = dt.time(9, 0)
# Tuesday 3 Nov 2026: the US left summer time on Sunday 1 Nov, so New York's 09:00 is
# 14:00 UTC this week but was 13:00 UTC the week before.
ISSUE_DAY = dt.date(2026, 11, 3)
SIX_ZONES = {
    "UTC": "2026-11-03T09:00:00+00:00",
    "America/New_York": "2026-11-03T14:00:00+00:00",
    "Europe/Berlin": "2026-11-03T08:00:00+00:00",
    "Asia/Kolkata": "2026-11-03T03:30:00+00:00",
    "Pacific/Tongatapu": "2026-11-02T20:00:00+00:00",  # UTC+13
    "America/Los_Angeles": "2026-11-03T17:00:00+00:00",
}


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_nine_o_clock_in_six_zones_including_utc_plus_13_and_a_dst_change() -> None:
    earliest = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    groups = send_groups(
        [*SIX_ZONES, None, "America/New_York"],
        day=ISSUE_DAY,
        at=NINE,
        default_zone="Europe/Berlin",
        earliest=earliest,
    )
    found = {zone: g.send_at.isoformat() for g in groups for zone in g.zones}
    assert found == {**SIX_ZONES, "": SIX_ZONES["Europe/Berlin"]}
    assert [g.send_at for g in groups] == sorted(g.send_at for g in groups)
    for group in groups:
        for zone in group.zones:
            local = group.send_at.astimezone(ZoneInfo(zone or "Europe/Berlin"))
            assert (local.date(), local.time()) == (ISSUE_DAY, NINE)
        assert not group.late
    week_before = local_instant(ISSUE_DAY - dt.timedelta(days=7), NINE, "America/New_York")
    assert week_before.hour == 13


def test_a_zone_whose_morning_has_passed_gets_the_earliest_time() -> None:
    earliest = dt.datetime(2026, 11, 3, 7, 0, tzinfo=dt.UTC)
    groups = send_groups(
        ["Pacific/Tongatapu", "Asia/Kolkata", "UTC", "Mars/Nowhere"],
        day=ISSUE_DAY,
        at=NINE,
        default_zone="UTC",
        earliest=earliest,
    )
    assert [(g.send_at.hour, g.zones, g.late) for g in groups] == [
        (7, ("Asia/Kolkata", "Pacific/Tongatapu"), True),
        (9, ("Mars/Nowhere", "UTC"), False),
    ]


def test_zone_names_and_local_times_are_checked() -> None:
    assert normalize_timezone(" europe/paris ") == "Europe/Paris"
    with pytest.raises(TimezoneError, match="IANA"):
        normalize_timezone("Paris")
    assert parse_local_time("9:05") == dt.time(9, 5)
    for bad in ("25:00", "09:60", "nine", "09.00"):
        with pytest.raises(TimezoneError, match="24-hour"):
            parse_local_time(bad)


def test_csv_timezone_column_is_validated_kept_and_exported(
    sessions: Sessions, tmp_path: Path
) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    source = tmp_path / "in.csv"
    source.write_text(
        "email,first_name,timezone\n"
        "ana@example.org,Ana,america/new_york\n"
        "bo@example.org,Bo,\n"
        "cy@example.org,Cy,Atlantis/Capital\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"
    summary = audience.import_csv(sessions, source, "back-care", confirmed=True, report=rejects)
    assert summary.added == 2
    assert "timezone: unknown time zone 'Atlantis/Capital'" in rejects.read_text()
    assert audience.show_subscriber(sessions, "ana@example.org").timezone == "America/New_York"
    assert audience.show_subscriber(sessions, "bo@example.org").timezone is None
    # An empty cell never erases a zone; a new one replaces it.
    again = tmp_path / "again.csv"
    again.write_text("email,timezone\nana@example.org,\nbo@example.org,Asia/Tokyo\n", "utf-8")
    result = audience.import_csv(sessions, again, "back-care", confirmed=True)
    assert (result.unchanged, result.updated) == (1, 1)
    assert audience.show_subscriber(sessions, "ana@example.org").timezone == "America/New_York"
    assert audience.show_subscriber(sessions, "bo@example.org").timezone == "Asia/Tokyo"
    exported = tmp_path / "out.csv"
    with exported.open("w", encoding="utf-8", newline="") as handle:
        audience.export_csv(sessions, "back-care", handle)
    lines = exported.read_text().splitlines()
    assert lines[0].startswith("email,name,first_name,timezone")
    assert "ana@example.org,Ana,Ana,America/New_York" in lines


def test_lists_local_time_and_subscribers_timezone_through_the_cli() -> None:
    assert run("db", "upgrade")[0] == 0
    code, out = run("lists", "create", "back-care", "--name", "Back care", "--local-time", "9:00")
    assert code == 0, out
    assert "delivers at 09:00 in each member's own time zone" in out
    code, out = run("lists", "create", "x", "--name", "X", "--local-time", "25:00")
    assert code == 1 and "24-hour" in out
    code, out = run("lists", "update", "back-care", "--timezone", "Europe/Berlin", "--json")
    assert code == 0 and json.loads(out)["timezone"] == "Europe/Berlin", out
    assert json.loads(out)["local_time"] == "09:00"
    code, out = run("lists", "update", "back-care", "--local-time", "off", "--json")
    assert code == 0 and json.loads(out)["local_time"] is None
    code, out = run("lists", "update", "back-care")
    assert code == 2
    code, out = run("lists", "update", "back-care", "--timezone", "Moon/Base")
    assert code == 1 and "unknown time zone" in out
    code, out = run(
        "subscribers", "add", "ana@example.org", "--list", "back-care", "--timezone", "asia/tokyo"
    )
    assert code == 0, out
    code, out = run("subscribers", "show", "ana@example.org", "--json")
    assert json.loads(out)["timezone"] == "Asia/Tokyo"
    code, out = run(
        "subscribers", "add", "bo@example.org", "--list", "back-care", "--timezone", "X"
    )
    assert code == 1 and "unknown time zone 'X'" in out
