"""An injectable clock, so tests and demos can say what time it is.

Production uses :class:`SystemClock`. ``NEWSLETTER_NOW`` (or ``--now``) starts an
:class:`OffsetClock` at a chosen instant that then runs forward in real time, so a
demo of "Tuesday 09:00" behaves like a real Tuesday morning. Tests use
:class:`ManualClock` and move it by hand: no test sleeps.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol
from zoneinfo import ZoneInfo

from newsletter.errors import SettingsError

NOW_ENV = "NEWSLETTER_NOW"


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = _aware(start)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, instant: dt.datetime) -> None:
        with self._lock:
            self._now = _aware(instant)

    def advance(self, **delta: float) -> dt.datetime:
        with self._lock:
            self._now += dt.timedelta(**delta)
            return self._now


class OffsetClock:
    """Starts at ``start`` and advances with the machine's monotonic clock."""

    def __init__(self, start: dt.datetime) -> None:
        self._start = _aware(start)
        self._origin = time.monotonic()

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=time.monotonic() - self._origin)


def _aware(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        raise ValueError("the clock needs a timezone-aware datetime")
    return instant.astimezone(dt.UTC)


def check_now_option(value: str) -> str:
    """``value`` if it is an ISO date-time, else ``ValueError``: a bad ``--now`` is a usage error.

    Checked while the command line is parsed (exit 2), before any settings are read.
    """
    try:
        dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO date-time (e.g. 2026-11-24T09:00, local time of "
            "NEWSLETTER_TIMEZONE, or 2026-11-24T14:00+00:00)"
        ) from None
    return value


def parse_now(value: str, zone: ZoneInfo, *, source: str = NOW_ENV) -> dt.datetime:
    """Parse an ISO instant; one without an offset is local time in ``zone``."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise SettingsError(
            f"{source}: {value!r} is not an ISO date-time (e.g. 2026-11-24T09:00)"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(dt.UTC)


def make_clock(now: str | None, zone: ZoneInfo, *, source: str = NOW_ENV) -> Clock:
    """The system clock, or an offset clock starting at ``now`` when one is given."""
    if not now:
        return SystemClock()
    return OffsetClock(parse_now(now, zone, source=source))
