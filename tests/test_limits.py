"""The shared rate limiter: sliding windows in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy.orm import Session, sessionmaker

from newsletter.services import limits
from newsletter.services.limits import Window
from newsletter.storage.db import transaction
from newsletter.storage.repositories import limits as repo

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def _take(
    sessions: sessionmaker[Session], subject: str, windows: list[Window], at: dt.datetime
) -> float | None:
    with transaction(sessions) as session:
        return limits.take(session, "test", subject, windows, now=at)


def test_allows_up_to_the_limit_then_says_how_long_to_wait(
    sessions: sessionmaker[Session],
) -> None:
    windows = [Window(60, 3)]
    for i in range(3):
        assert _take(sessions, "a", windows, T0 + dt.timedelta(seconds=i)) is None
    wait = _take(sessions, "a", windows, T0 + dt.timedelta(seconds=10))
    # The first hit (at T0) leaves the window at T0+60, 50 s after this attempt.
    assert wait is not None and abs(wait - 50) < 1e-6
    assert _take(sessions, "b", windows, T0 + dt.timedelta(seconds=10)) is None
    assert _take(sessions, "a", windows, T0 + dt.timedelta(seconds=61)) is None


def test_a_refused_attempt_does_not_use_up_the_budget(sessions: sessionmaker[Session]) -> None:
    windows = [Window(60, 1)]
    assert _take(sessions, "a", windows, T0) is None
    for i in range(1, 30):
        assert _take(sessions, "a", windows, T0 + dt.timedelta(seconds=i)) is not None
    assert _take(sessions, "a", windows, T0 + dt.timedelta(seconds=60)) is None


def test_every_window_must_allow(sessions: sessionmaker[Session]) -> None:
    six_hours, week = 6 * 3600, 7 * 86400
    windows = [Window(six_hours, 1), Window(week, 3)]
    at = T0
    for _ in range(3):
        assert _take(sessions, "x@example.org", windows, at) is None
        assert _take(sessions, "x@example.org", windows, at + dt.timedelta(hours=1)) is not None
        at += dt.timedelta(hours=7)
    wait = _take(sessions, "x@example.org", windows, at)
    assert wait is not None and wait > six_hours  # the weekly window is the one that refuses


def test_subjects_are_stored_hashed_and_clear_forgets(sessions: sessionmaker[Session]) -> None:
    windows = [Window(60, 1)]
    assert _take(sessions, "someone@example.org", windows, T0) is None
    with transaction(sessions) as session:
        stored = session.execute(repo.HITS.select()).mappings().all()
        assert [r["subject"] for r in stored] == [limits.subject_key("test", "someone@example.org")]
        assert "someone" not in str(stored)
        limits.clear(session, "test", "someone@example.org")
    assert _take(sessions, "someone@example.org", windows, T0 + dt.timedelta(seconds=1)) is None


def test_prune_drops_only_old_hits(sessions: sessionmaker[Session]) -> None:
    # A subject's own old hits go when it is next checked; prune sweeps idle subjects.
    windows = [Window(3600, 10)]
    _take(sessions, "a", windows, T0)
    _take(sessions, "b", windows, T0 + dt.timedelta(hours=2))
    with transaction(sessions) as session:
        gone = limits.prune(session, dt.timedelta(hours=1), now=T0 + dt.timedelta(hours=2))
        assert gone == 1 and repo.count(session) == 1


def test_concurrent_takers_share_one_limit(sessions: sessionmaker[Session]) -> None:
    """Eight threads with their own connections race for 5 slots: exactly 5 get one."""
    windows = [Window(60, 5)]
    allowed: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(3):
            result = _take(sessions, "shared", windows, T0)
            with lock:
                allowed.append(result is None)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 5 and len(allowed) == 24
