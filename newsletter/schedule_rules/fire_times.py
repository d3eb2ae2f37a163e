"""Cron fire times for showing to people, without APScheduler on every command.

APScheduler decides when a cron job fires, and ``newsletter status`` shows two of its
answers: each cron job's next run, and when a failed send's window closes (the send
schedule's time on the issue's date). Importing APScheduler and asking it costs more
CPU than the rest of a status, so :class:`RememberedFireTimes` asks it once for every
fire time in the six weeks either side of the question (at most :data:`LIMIT` each
side), keeps them in the cache folder (``newsletter.cache``), and answers later
questions inside that span from the list. The answers are APScheduler's own datetimes,
so they are exact; a question outside the span or near a clock change (see
``_Span.first_from``), or a file written for another APScheduler installation or
other time-zone data, goes to APScheduler again.

:data:`LIVE` asks APScheduler every time: the scheduler and the commands that act on
a time (staging a send, refusing an early one) use it, so no cache file is ever between
them and what they do.
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
import zoneinfo
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from newsletter import cache

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

FILE_NAME = "fire-times.json"
FORMAT = 1
BACK = dt.timedelta(days=42)
AHEAD = dt.timedelta(days=42)
LIMIT = 1000
"""Fire times kept on each side of the question; a denser schedule keeps a shorter span."""
KEPT = 8
"""Schedules (expression and zone) kept in the file, the most recently computed."""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_STEP = dt.timedelta(seconds=1)
"""``triggers.next_fire_time`` asks for the first fire time at least a second later."""


class FireTimes(Protocol):
    """Where a cron expression's fire times come from."""

    def next_after(
        self, expression: str, zone: ZoneInfo, after: dt.datetime, *, variable: str
    ) -> dt.datetime | None:
        """The first fire time strictly after ``after`` (``triggers.next_fire_time``)."""
        ...

    def first_on(
        self, expression: str, zone: ZoneInfo, day: dt.date, *, variable: str
    ) -> dt.datetime | None:
        """The first fire time on local day ``day``, if any (``triggers.fire_time_on``)."""
        ...


class LiveFireTimes:
    """APScheduler's answer, computed each time."""

    def next_after(
        self, expression: str, zone: ZoneInfo, after: dt.datetime, *, variable: str
    ) -> dt.datetime | None:
        from newsletter.schedule_rules.triggers import cron_trigger, next_fire_time

        return next_fire_time(cron_trigger(expression, zone, variable=variable), after)

    def first_on(
        self, expression: str, zone: ZoneInfo, day: dt.date, *, variable: str
    ) -> dt.datetime | None:
        from newsletter.schedule_rules.triggers import cron_trigger, fire_time_on

        return fire_time_on(cron_trigger(expression, zone, variable=variable), day, zone)


LIVE = LiveFireTimes()


@dataclass(frozen=True)
class _Span:
    """Every fire time from ``start`` to ``end`` (epoch seconds), as APScheduler gave it."""

    start: int
    end: int
    epochs: list[int]
    walls: list[tuple[str, int]]
    """Each fire time's local wall clock and fold, to rebuild APScheduler's datetime."""

    def first_from(
        self, second: int, zone: ZoneInfo, offset: dt.timedelta | None
    ) -> tuple[bool, dt.datetime | None]:
        """(whether the span knows, the first fire time at or after ``second``).

        ``offset``: the UTC offset of the instant asked about, as APScheduler sees it.
        APScheduler steps through local wall-clock time, so across a clock change its
        answers do not follow the order of instants (asked just after a spring-forward
        gap, it skips a fire time it gave for that night when asked just before). The
        list answers only from a stretch with one UTC offset from the fire time before
        to the answer, where wall-clock order is the order of instants; near a clock
        change APScheduler is asked again.
        """
        if not self.start <= second <= self.end:
            return False, None
        index = bisect.bisect_left(self.epochs, second)
        if index == len(self.epochs):
            return False, None  # the answer lies beyond ``end`` (or there is none)
        fire = self._fire(index, zone)
        offsets = {offset, fire.utcoffset()}
        if index:
            offsets.add(self._fire(index - 1, zone).utcoffset())
        since = self.epochs[index - 1] if index else self.start
        offsets.update(_offsets(zone, since, self.epochs[index]))
        if len(offsets) != 1:
            return False, None
        return True, fire

    def _fire(self, index: int, zone: ZoneInfo) -> dt.datetime:
        wall, fold = self.walls[index]
        return dt.datetime.fromisoformat(wall).replace(tzinfo=zone, fold=fold)

    def as_json(self, zone_key: list[int]) -> dict[str, Any]:
        return {
            "zone_file": zone_key,
            "start": self.start,
            "end": self.end,
            "fires": [[e, w, f] for e, (w, f) in zip(self.epochs, self.walls, strict=True)],
        }

    @classmethod
    def from_json(cls, data: Any) -> _Span:
        fires = data["fires"]
        return cls(
            start=int(data["start"]),
            end=int(data["end"]),
            epochs=[int(e) for e, _, _ in fires],
            walls=[(str(w), int(f)) for _, w, f in fires],
        )


class RememberedFireTimes:
    """APScheduler's answers, remembered in the cache folder for the span around them."""

    def __init__(self) -> None:
        self._file: dict[str, Any] | None = None

    def next_after(
        self, expression: str, zone: ZoneInfo, after: dt.datetime, *, variable: str
    ) -> dt.datetime | None:
        # As ``triggers.next_fire_time`` asks: a second later, in the trigger's zone.
        asked = (after + _STEP).astimezone(zone)
        return self._first_from(expression, zone, asked, variable)

    def first_on(
        self, expression: str, zone: ZoneInfo, day: dt.date, *, variable: str
    ) -> dt.datetime | None:
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
        fire = self._first_from(expression, zone, midnight, variable)
        if fire is not None and fire.astimezone(zone).date() == day:
            return fire
        return None

    def _first_from(
        self, expression: str, zone: ZoneInfo, asked: dt.datetime, variable: str
    ) -> dt.datetime | None:
        second, offset = _ceil_second(asked), asked.utcoffset()
        entry = f"{zone.key}|{expression}"
        zone_key = _zone_file_key(zone.key)
        spans = self._spans()
        stored = spans.get(entry)
        if isinstance(stored, dict) and stored.get("zone_file") == zone_key:
            try:
                known, fire = _Span.from_json(stored).first_from(second, zone, offset)
            except (KeyError, TypeError, ValueError):
                known, fire = False, None  # a damaged entry: compute it again
            if known:
                return fire
        span = self._compute(expression, zone, second, variable)
        spans.pop(entry, None)
        spans[entry] = span.as_json(zone_key)
        for stale in list(spans)[:-KEPT]:  # schedules no longer asked about
            del spans[stale]
        cache.store(FILE_NAME, self._loaded())
        known, fire = span.first_from(second, zone, offset)
        if known:
            return fire
        # Near a clock change, more than LIMIT fire times ahead, or none ever again.
        from newsletter.schedule_rules.triggers import cron_trigger

        answer: dt.datetime | None = cron_trigger(
            expression, zone, variable=variable
        ).get_next_fire_time(None, asked)
        return answer

    def _loaded(self) -> dict[str, Any]:
        if self._file is None:
            stored = cache.load(FILE_NAME)
            fresh = {"format": FORMAT, "apscheduler": _apscheduler_key(), "spans": {}}
            if (
                stored is None
                or stored.get("format") != FORMAT
                or stored.get("apscheduler") != fresh["apscheduler"]
                or not isinstance(stored.get("spans"), dict)
            ):
                stored = fresh
            self._file = stored
        return self._file

    def _spans(self) -> dict[str, Any]:
        spans: dict[str, Any] = self._loaded()["spans"]
        return spans

    def _compute(self, expression: str, zone: ZoneInfo, second: int, variable: str) -> _Span:
        from newsletter.schedule_rules.triggers import cron_trigger

        trigger = cron_trigger(expression, zone, variable=variable)
        around = _from_epoch(second)
        start = around - BACK
        back = _fires(trigger, start, until=around, limit=LIMIT)
        if len(back) == LIMIT:  # too dense to list six weeks back: list from the question on
            start, back = around, []
        ahead = _fires(trigger, around, until=around + AHEAD, limit=LIMIT)
        end = ahead[-1] if len(ahead) == LIMIT else around + AHEAD
        fires = {_epoch(f): f for f in (*back, *ahead)}  # one at ``around`` is in both
        return _Span(
            start=_epoch(start),
            end=_epoch(end),
            epochs=sorted(fires),
            walls=[(f.replace(tzinfo=None).isoformat(), f.fold) for _, f in sorted(fires.items())],
        )


def _fires(
    trigger: CronTrigger, start: dt.datetime, *, until: dt.datetime, limit: int
) -> list[dt.datetime]:
    """Every fire time from ``start`` up to ``until`` (at most ``limit``), in order."""
    found: list[dt.datetime] = []
    fire: dt.datetime | None = trigger.get_next_fire_time(None, start)
    while fire is not None and fire <= until and len(found) < limit:
        found.append(fire)
        # Cron fire times fall on whole minutes: none lies within a second of another.
        fire = trigger.get_next_fire_time(None, fire + _STEP)
    return found


_SAMPLE = dt.timedelta(hours=3)
"""Clock changes in the tz database are days apart, so sampling this often finds both
of any two within a stretch (a Ramadan pause of summer time is weeks long)."""


def _offsets(zone: ZoneInfo, start: int, end: int) -> set[dt.timedelta | None]:
    """The UTC offsets in ``zone`` from ``start`` to ``end`` (epoch seconds)."""
    found: set[dt.timedelta | None] = set()
    instant, last = _from_epoch(start), _from_epoch(end)
    while instant < last:
        found.add(instant.astimezone(zone).utcoffset())
        instant += _SAMPLE
    found.add(last.astimezone(zone).utcoffset())
    return found


def _epoch(instant: dt.datetime) -> int:
    delta = instant - _EPOCH
    return delta.days * 86_400 + delta.seconds


def _ceil_second(instant: dt.datetime) -> int:
    """Epoch seconds, rounded up as APScheduler rounds the instant it is asked about."""
    delta = instant - _EPOCH
    return delta.days * 86_400 + delta.seconds + (1 if delta.microseconds else 0)


def _from_epoch(second: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(seconds=second)


def _apscheduler_key() -> list[list[int]]:
    return cache.package_key("apscheduler")


def _zone_file_key(key: str) -> list[int]:
    """A ``stat_key`` of the zone's rules, so that updated time-zone data is noticed."""
    for folder in zoneinfo.TZPATH:
        path = os.path.join(folder, key)
        if os.path.isfile(path):
            return cache.stat_key(path)
    return cache.package_key("tzdata")[0]
