"""Retry policy and pacing, with fake sleeps and clocks so nothing really waits."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import pytest

from newsletter.delivery.pacing import Pacer
from newsletter.delivery.retry import RetryPolicy, RetryWindow, call_with_retry, send_with_retry
from newsletter.delivery.senders.base import SendResult
from newsletter.delivery.senders.memory import MemorySender
from newsletter.errors import (
    DeliveryError,
    SendAuthError,
    SendGaveUpError,
    SendOutcomeUnknownError,
    SendRejectedError,
    SendRetryableError,
)

BODY = b'{"personalizations":[{"to":[{"email":"a@example.com"}]}]}'


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_success_first_time_does_not_sleep() -> None:
    sender, sleeps = MemorySender(), Sleeps()
    result = send_with_retry(sender, BODY, batch_key="k", policy=RetryPolicy(), sleep=sleeps)
    assert result.status == 202 and sleeps.calls == [] and sender.attempts == 1


def test_5xx_backoff_is_bounded_exponential_with_full_jitter() -> None:
    sender, sleeps = MemorySender(), Sleeps()
    sender.fail_next(SendRetryableError("503"), times=5)
    policy = RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=3.0, poll_interval=1000)
    rng = random.Random(42)
    result = send_with_retry(sender, BODY, batch_key="k", policy=policy, sleep=sleeps, rng=rng)
    assert result.status == 202 and sender.attempts == 6
    ceilings = [0.5, 1.0, 2.0, 3.0, 3.0]
    assert len(sleeps.calls) == 5
    assert all(0 <= d <= c for d, c in zip(sleeps.calls, ceilings, strict=True))
    # Same seed, same delays: the jitter is reproducible.
    again = random.Random(42)
    assert sleeps.calls == [policy.backoff(n, again) for n in range(1, 6)]


def test_attempts_run_out_and_the_last_error_propagates() -> None:
    sender, sleeps = MemorySender(), Sleeps()
    for n in range(4):
        sender.fail_next(SendRetryableError(f"503 #{n}"))
    policy = RetryPolicy(max_attempts=3, poll_interval=1000)
    with pytest.raises(SendRetryableError, match="503 #2"):
        send_with_retry(sender, BODY, batch_key="k", policy=policy, sleep=sleeps)
    assert sender.attempts == 3 and len(sleeps.calls) == 2 and sender.sent == []


def test_429_waits_for_the_reset_plus_jitter() -> None:
    sender, sleeps = MemorySender(), Sleeps()
    sender.fail_next(SendRetryableError("429", retry_after=7.0))
    policy = RetryPolicy(jitter=1.0, poll_interval=1000)
    send_with_retry(sender, BODY, batch_key="k", policy=policy, sleep=sleeps, rng=random.Random(3))
    assert len(sleeps.calls) == 1 and 7.0 <= sleeps.calls[0] <= 8.0


def test_429_wait_is_capped() -> None:
    policy = RetryPolicy(jitter=0.0, max_rate_limit_wait=20.0)
    error = SendRetryableError("429", retry_after=3600.0)
    assert policy.delay_for(error, 1, random.Random(0)) == 20.0


@pytest.mark.parametrize(
    "error",
    [
        SendRejectedError("bad field", 400, "subject"),
        SendRejectedError("too large", 413),
        SendAuthError("401"),
        SendOutcomeUnknownError("lost"),
        DeliveryError("other"),
    ],
)
def test_errors_that_must_not_be_retried_propagate_at_once(error: DeliveryError) -> None:
    sender, sleeps = MemorySender(), Sleeps()
    sender.fail_next(error)
    with pytest.raises(type(error)):
        send_with_retry(sender, BODY, batch_key="k", policy=RetryPolicy(), sleep=sleeps)
    assert sender.attempts == 1 and sleeps.calls == []


def test_should_stop_cuts_a_long_wait_short() -> None:
    stop = threading.Event()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            stop.set()  # SIGTERM arrives during the third slice

    sender = MemorySender()
    sender.fail_next(SendRetryableError("429 long", retry_after=30.0))
    policy = RetryPolicy(jitter=0.0, poll_interval=0.5)
    with pytest.raises(SendRetryableError, match="429 long"):
        send_with_retry(
            sender, BODY, batch_key="k", policy=policy, sleep=sleep, should_stop=stop.is_set
        )
    assert sleeps == [0.5, 0.5, 0.5] and sender.attempts == 1


def test_should_stop_already_true_does_not_wait() -> None:
    sender, sleeps = MemorySender(), Sleeps()
    sender.fail_next(SendRetryableError("503"))
    with pytest.raises(SendRetryableError):
        send_with_retry(
            sender,
            BODY,
            batch_key="k",
            policy=RetryPolicy(),
            sleep=sleeps,
            should_stop=lambda: True,
        )
    assert sleeps.calls == []


def test_call_with_retry_works_for_any_callable() -> None:
    outcomes: list[object] = [SendRetryableError("x"), "done"]

    def attempt() -> str:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return str(item)

    assert call_with_retry(attempt, policy=RetryPolicy(), sleep=Sleeps()) == "done"


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


# -- pacing ---------------------------------------------------------------------------------


class FakeTime:
    """One clock for both monotonic and wall time; sleeping advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_pacer_without_limits_never_waits() -> None:
    t = FakeTime()
    pacer = Pacer(clock=t.clock, wall_clock=t.clock, sleep=t.sleep)
    assert [pacer.wait() for _ in range(100)] == [0.0] * 100
    assert t.slept == []


def test_pacer_caps_requests_per_second() -> None:
    t = FakeTime()
    pacer = Pacer(10.0, clock=t.clock, wall_clock=t.clock, sleep=t.sleep)
    for _ in range(21):
        pacer.wait()
    # 21 requests at 10/s: the first is free, the other 20 take two seconds.
    assert t.now - 1000.0 == pytest.approx(2.0)


def test_pacer_allows_a_burst_then_paces() -> None:
    t = FakeTime()
    pacer = Pacer(5.0, burst=5, clock=t.clock, wall_clock=t.clock, sleep=t.sleep)
    waits = [pacer.wait() for _ in range(7)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(0.2) and waits[6] == pytest.approx(0.2)


def test_pacer_reserves_slots_for_concurrent_callers() -> None:
    t = FakeTime()
    waits: list[float] = []
    pacer = Pacer(4.0, clock=t.clock, wall_clock=t.clock, sleep=waits.append)
    for _ in range(4):
        pacer.wait()  # the clock stands still: four threads arriving together
    assert waits == pytest.approx([0.25, 0.5, 0.75])


def test_pacer_pauses_until_reset_when_budget_is_spent() -> None:
    t = FakeTime()
    pacer = Pacer(clock=t.clock, wall_clock=t.clock, sleep=t.sleep)
    pacer.observe(SendResult(202, "m", rate_limit_remaining=50, rate_limit_reset=t.now + 9))
    assert pacer.wait() == 0.0
    pacer.observe(SendResult(202, "m", rate_limit_remaining=0, rate_limit_reset=t.now + 9))
    assert pacer.wait() == pytest.approx(9.0)
    assert pacer.wait() == 0.0  # the window has reset


def test_pacer_ignores_resets_in_the_past_and_missing_headers() -> None:
    t = FakeTime()
    pacer = Pacer(clock=t.clock, wall_clock=t.clock, sleep=t.sleep)
    pacer.observe(SendResult(202, "m", rate_limit_remaining=0, rate_limit_reset=t.now - 5))
    pacer.observe(SendResult(202, "m"))
    assert pacer.wait() == 0.0


def test_pacer_pause_is_capped() -> None:
    t = FakeTime()
    pacer = Pacer(max_pause=30.0, clock=t.clock, wall_clock=t.clock, sleep=t.sleep)
    pacer.observe(SendResult(202, "m", rate_limit_remaining=0, rate_limit_reset=t.now + 3600))
    assert pacer.wait() == pytest.approx(30.0)


def test_pacer_is_thread_safe_in_real_time() -> None:
    pacer = Pacer(200.0)
    threads = [threading.Thread(target=lambda: [pacer.wait() for _ in range(10)]) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 40 requests at 200/s need at least 39/200 s, whatever the interleaving.
    assert time.monotonic() - started >= 39 / 200 - 0.01


# -- the retry window and the provider's budget ------------------------------------------


class WindowClock:
    """A UTC clock that sleeping moves forward."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def test_without_a_count_limit_429s_are_retried_until_the_window_closes() -> None:
    clock = WindowClock()
    sender = MemorySender()
    sender.fail_next(SendRetryableError("429 slow down", retry_after=10.0), times=1000)
    window = RetryWindow(clock() + dt.timedelta(minutes=5), clock, "the test window closed")
    policy = RetryPolicy(max_attempts=None, jitter=0.0, poll_interval=1000)
    with pytest.raises(SendGaveUpError, match=r"before the test window closed \(31 attempts;"):
        send_with_retry(
            sender, BODY, batch_key="k", policy=policy, sleep=clock.sleep, window=window
        )
    assert sender.attempts == 31  # at 0, 10, ... 300 s; then no wait past the close
    assert clock() <= window.closes_at


def test_a_clock_that_stands_still_cannot_make_the_retries_endless() -> None:
    frozen = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    sender = MemorySender()
    sender.fail_next(SendRetryableError("503"), times=1000)
    window = RetryWindow(frozen + dt.timedelta(seconds=60), lambda: frozen)
    policy = RetryPolicy(max_attempts=None, base_delay=5.0, max_delay=5.0, poll_interval=1000)
    with pytest.raises(SendGaveUpError, match="retry window closed"):
        send_with_retry(
            sender,
            BODY,
            batch_key="k",
            policy=policy,
            sleep=Sleeps(),
            window=window,
            rng=random.Random(1),
        )
    assert sender.attempts < 1000


def test_retries_need_a_window_or_a_count() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        call_with_retry(lambda: 1, policy=RetryPolicy(max_attempts=None))


def test_pacer_counts_the_budget_down_with_requests_in_flight() -> None:
    t = FakeTime()
    pacer = Pacer(clock=t.clock, wall_clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        pacer.wait()  # three requests out
    # The first answer: 5 left in this window, but two requests are still out.
    pacer.done(SendResult(202, "m", rate_limit_remaining=5, rate_limit_reset=t.now + 4))
    assert [pacer.wait() for _ in range(2)] == [0.0, 0.0]  # budget 3 -> 1 (the low water)
    assert pacer.wait() == pytest.approx(4.0)  # spent: everyone waits for the reset


def test_a_429_pauses_every_thread_until_its_reset() -> None:
    t = FakeTime()
    pacer = Pacer(clock=t.clock, wall_clock=t.clock, sleep=t.sleep)
    pacer.wait()
    pacer.done(retry_after=3.0)
    assert pacer.paused_until == pytest.approx(t.now + 3.0)
    assert pacer.wait() == pytest.approx(3.0)
