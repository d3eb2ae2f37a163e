"""The leader lease: one leader at a time, renewal, takeover after expiry, release."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.schedule_rules.clock import ManualClock
from newsletter.scheduling.leader import LEASE_TTL, Leader, make_holder_id
from newsletter.storage.db import transaction
from newsletter.storage.repositories import overview
from newsletter.storage.repositories import scheduling as repo

T0 = dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.UTC)


def _pair(sessions: sessionmaker[Session], clock: ManualClock) -> tuple[Leader, Leader]:
    return Leader(sessions, clock, holder="box-a:1:aaaa"), Leader(
        sessions, clock, holder="box-b:2:bbbb"
    )


def test_holder_id_names_host_pid_and_nonce() -> None:
    host, pid, nonce = make_holder_id().split(":")
    assert host and pid.isdigit() and len(nonce) == 8


def test_first_process_leads_and_second_stands_by(sessions: sessionmaker[Session]) -> None:
    clock = ManualClock(T0)
    a, b = _pair(sessions, clock)
    assert a.ensure() is True
    assert b.ensure() is False
    assert a.is_leader and not b.is_leader
    with transaction(sessions) as session:
        lease = overview.get_lease(session, "scheduler")
    assert lease is not None
    assert lease.holder == a.holder
    assert lease.expires_at == T0 + LEASE_TTL


def test_renewal_keeps_the_lease_and_its_start(sessions: sessionmaker[Session]) -> None:
    clock = ManualClock(T0)
    a, b = _pair(sessions, clock)
    assert a.ensure()
    # Renewing well inside the TTL, again and again, keeps the standby out for good.
    for _ in range(10):
        clock.advance(seconds=LEASE_TTL.total_seconds() / 2)
        assert a.ensure()
        assert not b.ensure()
    with transaction(sessions) as session:
        lease = overview.get_lease(session, "scheduler")
    assert lease is not None
    assert lease.acquired_at == T0
    assert lease.heartbeat_at == clock.now()


def test_standby_takes_over_after_the_leader_stops_renewing(
    sessions: sessionmaker[Session],
) -> None:
    clock = ManualClock(T0)
    a, b = _pair(sessions, clock)
    assert a.ensure()
    clock.advance(seconds=LEASE_TTL.total_seconds() - 1)
    assert not b.ensure()
    clock.advance(seconds=2)
    assert b.ensure()
    # The old leader, waking up late, finds it has lost the lease.
    assert not a.ensure()
    assert not a.is_leader


def test_release_hands_over_at_once(sessions: sessionmaker[Session]) -> None:
    clock = ManualClock(T0)
    a, b = _pair(sessions, clock)
    assert a.ensure()
    a.release()
    assert b.ensure()
    with transaction(sessions) as session:
        lease = overview.get_lease(session, "scheduler")
    assert lease is not None and lease.holder == b.holder


def test_release_by_a_standby_changes_nothing(sessions: sessionmaker[Session]) -> None:
    clock = ManualClock(T0)
    a, b = _pair(sessions, clock)
    assert a.ensure()
    assert not b.ensure()
    b.release()
    assert not b.ensure()
    assert a.ensure()


def test_racing_processes_elect_exactly_one(sessions: sessionmaker[Session]) -> None:
    clock = ManualClock(T0)
    leaders = [Leader(sessions, clock, holder=f"box:{n}:x") for n in range(4)]
    barrier = threading.Barrier(len(leaders))
    results: dict[str, bool] = {}

    def contend(leader: Leader) -> None:
        barrier.wait()
        results[leader.holder] = leader.ensure()

    threads = [threading.Thread(target=contend, args=(leader,)) for leader in leaders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results.values()) == [False, False, False, True]


def test_standby_logs_that_it_is_on_standby(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    a, b = _pair(sessions, clock)
    a.ensure()
    with caplog.at_level("INFO", logger="newsletter.scheduler.leader"):
        b.ensure()
        b.ensure()
    standby = [r for r in caplog.records if "standby" in r.getMessage()]
    # Logged once on the change of state, not at every heartbeat.
    assert len(standby) == 1
    assert standby[0].fields["leader"] == a.holder  # type: ignore[attr-defined]


def test_a_takeover_closes_the_dead_leaders_running_rows(sessions: sessionmaker[Session]) -> None:
    clock = ManualClock(T0)
    a, b = _pair(sessions, clock)
    assert a.ensure()
    with transaction(sessions) as session:
        dead = repo.start_run(session, "send", T0, a.holder, T0)
        done = repo.start_run(session, "assemble", T0, a.holder, T0)
        repo.finish_run(session, done, repo.JobRunStatus.OK, T0)
    # a is killed mid-send; b takes the lease once it expires.
    clock.advance(seconds=LEASE_TTL.total_seconds() + 1)
    assert b.ensure()
    with transaction(sessions) as session:
        runs = {r.id: r for r in overview.recent_runs(session)}
    assert runs[dead].status == repo.JobRunStatus.FAILED
    assert runs[dead].finished_at == clock.now()
    assert "abandoned" in runs[dead].detail and a.holder in runs[dead].detail
    assert runs[done].status == repo.JobRunStatus.OK  # finished rows are left alone
    # Renewing its own lease marks nothing.
    with transaction(sessions) as session:
        mine = repo.start_run(session, "send", T0, b.holder, clock.now())
    assert b.ensure()
    with transaction(sessions) as session:
        assert {r.id: r for r in overview.recent_runs(session)}[mine].status == "running"
