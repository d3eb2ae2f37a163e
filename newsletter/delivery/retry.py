"""Retrying a send: which failures are worth another try, and how long to wait.

Only ``SendRetryableError`` is retried: a 429 waits until the provider's reset time (plus
a little jitter, so threads that hit the same limit do not all return at once), a 5xx or
a request that never left this machine waits a bounded exponential backoff with full
jitter. ``SendRejectedError``, ``SendAuthError`` and ``SendOutcomeUnknownError``
propagate at once: the first two will fail again, and the last might already have been
delivered, so only the ledger may decide what to do with it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from newsletter.delivery.senders.base import Sender, SendResult
from newsletter.errors import SendRetryableError

T = TypeVar("T")

_SHARED_RNG = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, and how long to wait between them (seconds)."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 1.0
    """Upper bound of the random wait added after a 429's reset time."""
    max_rate_limit_wait: float = 120.0
    """A 429 whose reset lies further ahead is retried after this long instead."""
    poll_interval: float = 0.5
    """Waits are cut into slices this long so that ``should_stop`` is seen promptly."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
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


def call_with_retry(
    attempt: Callable[[], T],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], object] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    rng: random.Random | None = None,
) -> T:
    """Run ``attempt`` until it returns, retrying only ``SendRetryableError``.

    Raises the last ``SendRetryableError`` when the attempts run out or when
    ``should_stop()`` turns true while waiting; every other error propagates at once.
    """
    chance = rng if rng is not None else _SHARED_RNG
    failures = 0
    while True:
        try:
            return attempt()
        except SendRetryableError as error:
            failures += 1
            if failures >= policy.max_attempts or should_stop():
                raise
            if not _wait(policy.delay_for(error, failures, chance), policy, sleep, should_stop):
                raise


def send_with_retry(
    sender: Sender,
    body: bytes,
    *,
    batch_key: str,
    policy: RetryPolicy,
    sleep: Callable[[float], object] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    rng: random.Random | None = None,
) -> SendResult:
    """``sender.send`` with the retries of ``policy``; see ``call_with_retry``."""
    return call_with_retry(
        lambda: sender.send(body, batch_key=batch_key),
        policy=policy,
        sleep=sleep,
        should_stop=should_stop,
        rng=rng,
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
