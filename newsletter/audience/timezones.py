"""Subscriber and list time zones (IANA names) and local delivery times.

A zone comes from a CSV ``timezone`` column, the sign-up form (the browser's own zone,
``Intl.DateTimeFormat().resolvedOptions().timeZone``) or ``subscribers add --timezone``.
Names are checked against the system's tz database and stored in its spelling, so
``europe/paris`` and ``Europe/Paris`` are one zone. ``UTC`` aliases are kept as given.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from newsletter.errors import TimezoneError

MAX_ZONE_NAME = 64
_LOCAL_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


@lru_cache(maxsize=1)
def _by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


@lru_cache(maxsize=4096)
def normalize_timezone(value: str) -> str:
    """The canonical IANA name for ``value``; ``TimezoneError`` when there is none."""
    text = value.strip()
    name = _by_lower_name().get(text.lower())
    if not text or len(text) > MAX_ZONE_NAME or name is None:
        raise TimezoneError(
            f"unknown time zone {value[:80]!r}: use an IANA name such as "
            "Europe/Paris, America/New_York or Pacific/Auckland"
        )
    return name


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(normalize_timezone(name))
    except ZoneInfoNotFoundError as exc:  # pragma: no cover - listed zones load
        raise TimezoneError(f"time zone {name!r} cannot be loaded: {exc}") from exc


def parse_local_time(value: str) -> dt.time:
    """``09:00`` (24-hour ``H:MM`` or ``HH:MM``) as a time of day."""
    match = _LOCAL_TIME.fullmatch(value.strip())
    if match is None:
        raise TimezoneError(f"local time {value!r} is not a 24-hour time like 09:00")
    return dt.time(int(match.group(1)), int(match.group(2)))


def local_instant(day: dt.date, at: dt.time, zone_name: str) -> dt.datetime:
    """``at`` on ``day`` in the zone, as an aware UTC instant.

    A time that does not exist that day (skipped by a DST change) moves forward by the
    gap, and an ambiguous one takes its first occurrence, which is what ``zoneinfo``'s
    ``fold=0`` gives after a round trip through UTC.
    """
    local = dt.datetime.combine(day, at, tzinfo=zone(zone_name))
    return local.astimezone(dt.UTC)


@dataclass(frozen=True)
class SendGroup:
    """Members who get the issue at one instant: their zones share ``send_at``."""

    send_at: dt.datetime
    zones: tuple[str, ...]
    """Zone names exactly as stored (so a query can match them); "" stands for no zone."""
    wanted: dt.datetime
    """The local time asked for; later than ``send_at`` never, earlier when it had passed."""

    @property
    def late(self) -> bool:
        return self.send_at > self.wanted


def send_groups(
    stored_zones: Iterable[str | None],
    *,
    day: dt.date,
    at: dt.time,
    default_zone: str,
    earliest: dt.datetime,
) -> list[SendGroup]:
    """Group the zones found on a list by the instant ``at`` falls on ``day`` in each.

    A member without a zone, or with one the tz database does not know, gets
    ``default_zone``. An instant before ``earliest`` (that zone's morning has passed, or is
    too close to stage) becomes ``earliest``: they get it as soon as possible instead.
    Groups come earliest first.
    """
    wanted_by_zone: dict[str, dt.datetime] = {}
    default_instant = local_instant(day, at, default_zone)
    for stored in stored_zones:
        key = stored or ""
        if key in wanted_by_zone:
            continue
        try:
            wanted_by_zone[key] = local_instant(day, at, stored) if stored else default_instant
        except TimezoneError:
            wanted_by_zone[key] = default_instant
    by_instant: dict[dt.datetime, list[str]] = {}
    wanted_at: dict[dt.datetime, dt.datetime] = {}
    for key, wanted in wanted_by_zone.items():
        send_at = max(wanted, earliest)
        by_instant.setdefault(send_at, []).append(key)
        wanted_at[send_at] = min(wanted, wanted_at.get(send_at, wanted))
    return [
        SendGroup(send_at, tuple(sorted(by_instant[send_at])), wanted_at[send_at])
        for send_at in sorted(by_instant)
    ]
