"""Retrying a send: which failures are worth another try, how long to wait, until when.

Only ``SendRetryableError`` is retried: a 429 waits until the provider's reset time (plus
a little jitter, so threads that hit the same limit do not all return at once), a 429
without a reset, a 5xx or a request that never left this machine waits a bounded
exponential backoff with full jitter. ``SendRejectedError``, ``SendAuthError`` and
``SendOutcomeUnknownError`` propagate at once: the first two will fail again, and the
last might already have been delivered, so only the ledger may decide what to do with it.

How long to keep trying is a time, not a count, for an issue's batches: a
``RetryWindow`` (the issue's send window) ends the retries once the next wait would
pass its close. ``max_attempts`` is an optional count limit on top, for one-off calls
(a test send, the batch API). Giving up raises ``SendGaveUpError`` saying why.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from newsletter.delivery.senders.base import Sender, SendResult
from newsletter.errors import SendGaveUpError, SendRetryableError

T = TypeVar("T")

_SHARED_RNG = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between attempts (seconds), and an optional count limit."""

    max_attempts: int | None = 6
    """None: no count limit; the ``RetryWindow`` alone ends the retries."""
    base_delay: float = 0.5
    max_delay: float = 30.0
    """The longest backoff after a 5xx, a connection failure or a 429 without a reset."""
    jitter: float = 1.0
    """Upper bound of the random wait added after a 429's reset time."""
    max_rate_limit_wait: float = 120.0
    """A 429 whose reset lies further ahead is retried after this long instead."""
    poll_interval: float = 0.5
    """Waits are cut into slices this long so that ``should_stop`` is seen promptly."""

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or self.jitter < 0:
            raise ValueError("delays and jitter must not be negative")
        if self.poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {self.poll_interval}")

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Full-jitter backoff after ``failures`` consecutive failures (1 = first)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (failures - 1)))
        return rng.uniform(0.0, ceiling)

    def delay_for(self, error: SendRetryableError, failures: int, rng: random.Random) -> float:
        """How long to wait after ``error``, the ``failures``-th failure in a row."""
        if error.retry_after is not None:
            wait = min(max(error.retry_after, 0.0), self.max_rate_limit_wait)
            return wait + rng.uniform(0.0, self.jitter)
        return self.backoff(failures, rng)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RetryWindow:
    """Retries go on while the next try can start before ``closes_at``."""

    closes_at: dt.datetime
    clock: Callable[[], dt.datetime] = _utcnow
    what: str | None = None
    """How a give-up names the end, e.g. "the send window closed at ..."."""

    def describe(self) -> str:
        if self.what is not None:
            return self.what
        return f"the retry window closed at {self.closes_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def call_with_retry(
    attempt: Callable[[], T],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], object] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    rng: random.Random | None = None,
    window: RetryWindow | None = None,
) -> T:
    """Run ``attempt`` until it returns, retrying only ``SendRetryableError``.

    Raises ``SendGaveUpError`` (from the last refusal) when the next wait would end
    after the window closes, when ``policy.max_attempts`` are used up, or when
    ``should_stop()`` turns true while waiting; every other error propagates at once.
    Time is the window's clock or the time slept, whichever is further on, so a clock
    that stands still (a test's) cannot make the retries endless.
    """
    if window is None and policy.max_attempts is None:
        raise ValueError("retries need a count limit (max_attempts) or a RetryWindow")
    chance = rng if rng is not None else _SHARED_RNG
    started = window.clock() if window is not None else None
    slept = 0.0
    failures = 0
    while True:
        try:
            return attempt()
        except SendRetryableError as error:
            failures += 1
            tries = f"{failures} attempt{'s' if failures > 1 else ''}"
            if should_stop():
                raise SendGaveUpError(f"stopped before a retry: {error}", stopped=True) from error
            if policy.max_attempts is not None and failures >= policy.max_attempts:
                raise SendGaveUpError(f"gave up after {tries}: {error}") from error
            delay = policy.delay_for(error, failures, chance)
            if window is not None and started is not None:
                now = max(window.clock(), started + dt.timedelta(seconds=slept))
                if now + dt.timedelta(seconds=delay) > window.closes_at:
                    raise SendGaveUpError(
                        f"not accepted before {window.describe()} ({tries}; last answer: {error})"
                    ) from error
            if not _wait(delay, policy, sleep, should_stop):
                raise SendGaveUpError(f"stopped before a retry: {error}", stopped=True) from error
            slept += delay


def send_with_retry(
    sender: Sender,
    body: bytes,
    *,
    batch_key: str,
    policy: RetryPolicy,
    sleep: Callable[[float], object] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    rng: random.Random | None = None,
    window: RetryWindow | None = None,
) -> SendResult:
    """``sender.send`` with the retries of ``policy``; see ``call_with_retry``."""
    return call_with_retry(
        lambda: sender.send(body, batch_key=batch_key),
        policy=policy,
        sleep=sleep,
        should_stop=should_stop,
        rng=rng,
        window=window,
    )


def _wait(
    seconds: float,
    policy: RetryPolicy,
    sleep: Callable[[float], object],
    should_stop: Callable[[], bool],
) -> bool:
    """Sleep ``seconds`` in slices; False as soon as ``should_stop()`` is true."""
    remaining = seconds
    while remaining > 0:
        step = min(remaining, policy.poll_interval)
        sleep(step)
        remaining -= step
        if should_stop():
            return False
    return True
