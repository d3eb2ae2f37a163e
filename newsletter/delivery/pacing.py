"""Pacing requests so that a send stays under the provider's rate limit.

Three brakes, shared by every sending thread:

* an optional requests-per-second cap (a token bucket, so short bursts up to ``burst``
  are allowed);
* the provider's budget: each answer's ``X-RateLimit-Remaining`` and
  ``X-RateLimit-Reset`` say how many requests the current window still allows. The
  pacer counts that budget down as requests start, counting requests still in flight
  as already spent, and pauses everyone until the reset once it is down to
  ``low_water``, so a steady enforced limit is followed rather than tripped;
* a 429 pauses everyone until its reset (``done(retry_after=...)``), not only the
  thread that met it.

Call ``wait()`` before each request and ``done(...)`` after it, whatever happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from newsletter.delivery.senders.base import SendResult


class Pacer:
    """Call ``wait()`` before each request and ``done(result)`` after each one."""

    def __init__(
        self,
        max_per_second: float | None = None,
        *,
        burst: int = 1,
        low_water: int = 1,
        max_pause: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if max_per_second is not None and max_per_second <= 0:
            raise ValueError(f"max_per_second must be positive, got {max_per_second}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.max_per_second = max_per_second
        self.burst = burst
        self.low_water = low_water
        self.max_pause = max_pause
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._refilled_at = clock()
        self._paused_until = 0.0
        self._in_flight = 0
        self._budget: int | None = None
        self._reset: float | None = None
        """Wall-clock end of the provider's window that ``_budget`` belongs to."""

    @property
    def paused_until(self) -> float:
        """Monotonic time before which no request starts (0 when not paused)."""
        with self._lock:
            return self._paused_until

    def wait(self) -> float:
        """Block until this caller may send; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._spend_budget(now)
            start = max(now, self._paused_until)
            if self.max_per_second is not None:
                start = self._take_token(now, start)
            self._in_flight += 1
        delay = start - now
        if delay > 0:
            # Sleep outside the lock: the slot is already reserved, others may reserve theirs.
            self._sleep(delay)
        return max(delay, 0.0)

    def _spend_budget(self, now: float) -> None:
        if self._budget is None or self._reset is None:
            return
        ahead = self._reset - self._wall_clock()
        if ahead <= 0:
            self._budget = self._reset = None  # that window is over; the next answer says more
        elif self._budget <= self.low_water:
            self._pause(now, ahead)
        else:
            self._budget -= 1

    def _pause(self, now: float, seconds: float) -> None:
        self._paused_until = max(self._paused_until, now + min(seconds, self.max_pause))
        # Whatever the budget was, it belongs to the window that is ending.
        self._budget = self._reset = None

    def _take_token(self, now: float, start: float) -> float:
        assert self.max_per_second is not None
        rate = self.max_per_second
        self._tokens = min(float(self.burst), self._tokens + (now - self._refilled_at) * rate)
        self._refilled_at = now
        # Tokens may go negative: each caller reserves the next slot in turn.
        self._tokens -= 1.0
        if self._tokens >= 0:
            return start
        return max(start, now + (-self._tokens) / rate)

    def done(self, result: SendResult | None = None, *, retry_after: float | None = None) -> None:
        """One request ended: with the provider's answer, or its 429's ``retry_after``."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if retry_after is not None and retry_after > 0:
                self._pause(self._clock(), retry_after)
        if result is not None:
            self.observe(result)

    def observe(self, result: SendResult) -> None:
        """Take the budget an answer announces (``wait`` pauses once it is spent)."""
        remaining, reset = result.rate_limit_remaining, result.rate_limit_reset
        if remaining is None or reset is None:
            return
        ahead = reset - self._wall_clock()
        if ahead <= 0:
            return
        with self._lock:
            # Requests still out may not have been counted yet: treat them as spent.
            budget = remaining - self._in_flight
            if self._reset is None or self._budget is None or reset > self._reset:
                self._reset, self._budget = reset, budget
            elif reset == self._reset:
                self._budget = min(self._budget, budget)
            # (An answer from an earlier window says nothing about this one.)
