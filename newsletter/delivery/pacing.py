"""Pacing requests so that a send stays under the provider's rate limit.

Two brakes, shared by every sending thread: an optional requests-per-second cap (a token
bucket, so short bursts up to ``burst`` are allowed), and a pause until the provider's
reset time once its ``X-RateLimit-Remaining`` header says the window is nearly spent.
Pausing before the limit is hit is cheaper than collecting 429s and backing off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from newsletter.delivery.senders.base import SendResult


class Pacer:
    """Call ``wait()`` before each request and ``observe(result)`` after each success."""

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

    @property
    def paused_until(self) -> float:
        """Monotonic time before which no request starts (0 when not paused)."""
        with self._lock:
            return self._paused_until

    def wait(self) -> float:
        """Block until this caller may send; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until)
            if self.max_per_second is not None:
                start = self._take_token(now, start)
        delay = start - now
        if delay > 0:
            # Sleep outside the lock: the slot is already reserved, others may reserve theirs.
            self._sleep(delay)
        return max(delay, 0.0)

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

    def observe(self, result: SendResult) -> None:
        """Pause everyone until the reset time when the remaining budget is low."""
        remaining, reset = result.rate_limit_remaining, result.rate_limit_reset
        if remaining is None or reset is None or remaining > self.low_water:
            return
        ahead = min(reset - self._wall_clock(), self.max_pause)
        if ahead <= 0:
            return
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + ahead)
