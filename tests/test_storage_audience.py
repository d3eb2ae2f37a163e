"""Contract suite for the audience repositories, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import ConflictError, NotFoundError
from newsletter.services import audience as service
from newsletter.storage.db import make_engine, session_factory, transaction
from newsletter.storage.models import (
    Membership,
    MembershipStatus,
    Subscriber,
    SuppressionReason,
    utcnow,
)
from newsletter.storage.repositories import audience, lists, memberships, subscribers, suppressions

Sessions = sessionmaker[Session]


def _list(sessions: Sessions, slug: str = "back-care") -> int:
    with transaction(sessions) as s:
        return lists.create(s, slug=slug, name=slug.title()).id


def _person(sessions: Sessions, email: str, name: str | None = None) -> int:
    with transaction(sessions) as s:
        row, _ = subscribers.ensure(s, email=email, email_key=email.lower(), name=name)
        return row.id


def _member(
    sessions: Sessions,
    list_id: int,
    subscriber_id: int,
    status: MembershipStatus = MembershipStatus.SUBSCRIBED,
    *,
    confirmed: bool = True,
) -> None:
    with transaction(sessions) as s:
        memberships.ensure(
            s,
            list_id=list_id,
            subscriber_id=subscriber_id,
            status=status,
            confirmed_at=utcnow() if confirmed else None,
        )


# ---------------------------------------------------------------- lists


def test_lists_create_get_and_conflict(sessions: Sessions) -> None:
    list_id = _list(sessions)
    with transaction(sessions) as s:
        assert lists.get(s, list_id).slug == "back-care"
        assert lists.get_by_slug(s, "back-care").id == list_id
        assert [m.slug for m in lists.all_lists(s)] == ["back-care"]
    with pytest.raises(ConflictError, match="back-care"), transaction(sessions) as s:
        lists.create(s, slug="back-care", name="Again")
    with pytest.raises(NotFoundError, match=r"'nope'.*back-care"), transaction(sessions) as s:
        lists.get_by_slug(s, "nope")
    with pytest.raises(NotFoundError), transaction(sessions) as s:
        lists.get(s, 999_999)


# ---------------------------------------------------------------- subscribers


def test_subscriber_ensure_is_unique_by_key(sessions: Sessions) -> None:
    with transaction(sessions) as s:
        first, created = subscribers.ensure(s, email="Ann@x.org", email_key="ann@x.org")
        assert created
        again, created_again = subscribers.ensure(s, email="ANN@x.org", email_key="ann@x.org")
        assert not created_again
        assert again.id == first.id
        assert again.email == "Ann@x.org"
        assert subscribers.get(s, first.id).email_key == "ann@x.org"
        assert subscribers.get_by_key(s, "nobody@x.org") is None
    with pytest.raises(NotFoundError), transaction(sessions) as s:
        subscribers.get(s, 999_999)


def test_subscriber_bulk_functions(sessions: Sessions) -> None:
    now = utcnow()
    rows = [
        {
            "email": f"p{i}@x.org",
            "email_key": f"p{i}@x.org",
            "name": f"P {i}",
            "first_name": "P",
            "attributes": {"i": str(i)},
            "created_at": now,
        }
        for i in range(5)
    ]
    with transaction(sessions) as s:
        subscribers.insert_many(s, rows)
        subscribers.insert_many(s, rows[:2])  # conflicts are ignored, not errors
        ids = subscribers.ids_by_key(s, ["p0@x.org", "p4@x.org", "missing@x.org"])
        assert set(ids) == {"p0@x.org", "p4@x.org"}
        subscribers.update_profiles(
            s,
            [{"b_id": ids["p0@x.org"], "b_name": "Zed", "b_first_name": None, "b_attributes": {}}],
        )
    with transaction(sessions) as s:
        found = subscribers.profiles_by_key(s, [f"p{i}@x.org" for i in range(5)])
        assert len(found) == 5
        assert found["p0@x.org"].name == "Zed"
        assert found["p0@x.org"].attributes == {}
        assert found["p1@x.org"].attributes == {"i": "1"}
        assert s.scalar(select(func.count()).select_from(Subscriber)) == 5


def test_iter_list_members_filters_by_status(sessions: Sessions) -> None:
    list_id = _list(sessions)
    a, b = _person(sessions, "a@x.org"), _person(sessions, "b@x.org")
    _member(sessions, list_id, a)
    _member(sessions, list_id, b, MembershipStatus.UNSUBSCRIBED)
    with transaction(sessions) as s:
        got = list(subscribers.iter_list_members(s, list_id, [MembershipStatus.SUBSCRIBED]))
        assert [p.email for p in got] == ["a@x.org"]
        both = subscribers.iter_list_members(s, list_id, list(MembershipStatus), chunk_size=1)
        assert [p.email for p in both] == ["a@x.org", "b@x.org"]


# ---------------------------------------------------------------- memberships


def test_membership_lifecycle(sessions: Sessions) -> None:
    list_id = _list(sessions)
    other = _list(sessions, "sciatica")
    sid = _person(sessions, "a@x.org")
    with transaction(sessions) as s:
        row, created = memberships.ensure(
            s,
            list_id=list_id,
            subscriber_id=sid,
            status=MembershipStatus.PENDING,
            consent_source="web",
            consent_ip="203.0.113.9",
        )
        assert created and row.status == MembershipStatus.PENDING
        assert row.consent_ip == "203.0.113.9"
        _, created_again = memberships.ensure(
            s, list_id=list_id, subscriber_id=sid, status=MembershipStatus.SUBSCRIBED
        )
        assert not created_again
        assert memberships.statuses(s, list_id, [sid, 12345]) == {sid: MembershipStatus.PENDING}
        memberships.confirm_pending(s, list_id, [sid], source="import:x.csv")
    with transaction(sessions) as s:
        row2 = memberships.get(s, list_id, sid)
        assert row2 is not None
        assert row2.status == MembershipStatus.SUBSCRIBED
        assert row2.confirmed_at is not None and row2.consent_source == "import:x.csv"
        memberships.ensure(s, list_id=other, subscriber_id=sid, status=MembershipStatus.PENDING)
        assert memberships.unsubscribe(s, sid, list_id, source="link") == 1
        assert memberships.unsubscribe(s, sid, list_id, source="link") == 0  # idempotent
        assert memberships.statuses(s, other, [sid]) == {sid: MembershipStatus.PENDING}
        assert memberships.unsubscribe(s, sid, None, source="cli") == 1
        pairs = memberships.for_subscriber(s, sid)
        assert [(ml.slug, m.status) for m, ml in pairs] == [
            ("back-care", MembershipStatus.UNSUBSCRIBED),
            ("sciatica", MembershipStatus.UNSUBSCRIBED),
        ]
        assert pairs[0][0].unsubscribe_source == "link"
        assert pairs[0][0].unsubscribed_at is not None
        member = memberships.get(s, list_id, sid)
        assert member is not None
        memberships.confirm(s, member, source="confirm-link", ip="198.51.100.1", user_agent="UA")
    with transaction(sessions) as s:
        back = memberships.get(s, list_id, sid)
        assert back is not None and back.status == MembershipStatus.SUBSCRIBED
        assert back.unsubscribed_at is None and back.consent_user_agent == "UA"
        counts = memberships.counts_by_status(s)
        assert counts[list_id][MembershipStatus.SUBSCRIBED] == 1
        assert counts[other][MembershipStatus.UNSUBSCRIBED] == 1
        assert counts[other][MembershipStatus.PENDING] == 0


def test_membership_bulk_insert_ignores_existing(sessions: Sessions) -> None:
    list_id = _list(sessions)
    sid = _person(sessions, "a@x.org")
    _member(sessions, list_id, sid, MembershipStatus.UNSUBSCRIBED)
    now = utcnow()
    row = {
        "list_id": list_id,
        "subscriber_id": sid,
        "status": "subscribed",
        "created_at": now,
        "updated_at": now,
        "consent_source": "import",
        "consent_ip": None,
        "consent_user_agent": None,
        "confirmed_at": now,
        "unsubscribed_at": None,
        "unsubscribe_source": None,
    }
    with transaction(sessions) as s:
        memberships.insert_many(s, [row, row])
        assert memberships.statuses(s, list_id, [sid]) == {sid: MembershipStatus.UNSUBSCRIBED}


# ---------------------------------------------------------------- suppressions


def test_suppressions(sessions: Sessions) -> None:
    with transaction(sessions) as s:
        row, created = suppressions.add(
            s, email="B@x.org", email_key="b@x.org", reason=SuppressionReason.BOUNCE, source="hook"
        )
        assert created and row.reason == SuppressionReason.BOUNCE
        again, created_again = suppressions.add(
            s, email="b@x.org", email_key="b@x.org", reason=SuppressionReason.MANUAL, source="cli"
        )
        assert not created_again and again.reason == SuppressionReason.BOUNCE  # first one kept
        suppressions.add_many(
            s,
            [
                ("c@x.org", "c@x.org", SuppressionReason.SPAMREPORT, "hook"),
                ("d@x.org", "d@x.org", SuppressionReason.INVALID, "hook"),
            ],
        )
        assert suppressions.count(s) == 3
        assert suppressions.suppressed_keys(s, ["b@x.org", "z@x.org", "d@x.org"]) == {
            "b@x.org",
            "d@x.org",
        }
        only = suppressions.list_all(s, reason=SuppressionReason.SPAMREPORT)
        assert [r.email for r in only] == ["c@x.org"]
        assert len(suppressions.list_all(s, limit=2)) == 2
        assert suppressions.remove(s, "b@x.org")
        assert not suppressions.remove(s, "b@x.org")
        assert suppressions.get(s, "b@x.org") is None


# ---------------------------------------------------------------- the audience query


def _audience_fixture(sessions: Sessions) -> tuple[int, dict[str, int]]:
    list_id = _list(sessions)
    other = _list(sessions, "other")
    ids = {
        name: _person(sessions, f"{name}@x.org", name=name.title())
        for name in ("ok1", "ok2", "ok3", "pending", "unconfirmed", "gone", "bounced", "elsewhere")
    }
    for name in ("ok1", "ok2", "ok3", "bounced"):
        _member(sessions, list_id, ids[name])
    _member(sessions, list_id, ids["pending"], MembershipStatus.PENDING, confirmed=False)
    _member(sessions, list_id, ids["unconfirmed"], confirmed=False)
    _member(sessions, list_id, ids["gone"], MembershipStatus.UNSUBSCRIBED)
    _member(sessions, other, ids["elsewhere"])
    with transaction(sessions) as s:
        suppressions.add(
            s,
            email="BOUNCED@x.org",
            email_key="bounced@x.org",
            reason=SuppressionReason.BOUNCE,
            source="hook",
        )
    return list_id, ids


@pytest.mark.parametrize("chunk_size", [1, 2, 5000])
def test_iter_sendable(sessions: Sessions, engine: Engine, chunk_size: int) -> None:
    list_id, ids = _audience_fixture(sessions)
    got = list(audience.iter_sendable(engine, list_id, chunk_size=chunk_size))
    assert [r.email for r in got] == ["ok1@x.org", "ok2@x.org", "ok3@x.org"]
    assert [r.subscriber_id for r in got] == sorted(r.subscriber_id for r in got)
    assert got[0] == audience.Recipient(ids["ok1"], "ok1@x.org", "Ok1", None)


def test_sendable_ids_and_count(sessions: Sessions) -> None:
    list_id, ids = _audience_fixture(sessions)
    with transaction(sessions) as s:
        assert audience.sendable_ids(s, list_id, list(ids.values())) == {
            ids["ok1"],
            ids["ok2"],
            ids["ok3"],
        }
        assert audience.count_sendable(s, list_id) == 3
        memberships.unsubscribe(s, ids["ok2"], list_id, source="link")
        assert audience.sendable_ids(s, list_id, [ids["ok1"], ids["ok2"]]) == {ids["ok1"]}
        assert audience.sendable_ids(s, list_id, []) == set()


# ---------------------------------------------------------------- concurrency


def _run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_concurrent_upserts_of_one_address(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=8)
    sessions = session_factory(engine)
    try:
        _list(sessions)
        results: list[service.SubscribeResult] = []

        def work(i: int) -> None:
            results.append(
                service.subscribe_pending(
                    sessions,
                    "back-care",
                    "Race@Example.org" if i % 2 else "race@EXAMPLE.org",
                    "Racer",
                    source="web",
                    ip=None,
                    user_agent=None,
                )
            )

        errors = _run_threads(8, work)
        assert errors == []
        with transaction(sessions) as s:
            keys = s.scalars(select(Subscriber.email_key)).all()
            assert keys == ["race@example.org"]
            assert s.scalar(select(func.count()).select_from(Membership)) == 1
        outcomes = sorted(r.outcome.value for r in results)
        assert outcomes.count("created") == 1
        assert outcomes.count("already_pending") == 7
    finally:
        engine.dispose()


def test_service_subscribe_confirm_unsubscribe(sessions: Sessions) -> None:
    list_id = _list(sessions)
    first = service.subscribe_pending(
        sessions, "back-care", "Pat@x.org", "Pat", source="web", ip="192.0.2.1", user_agent="UA"
    )
    assert first.outcome is service.SubscribeOutcome.CREATED and first.needs_confirmation
    assert first.subscriber_id is not None
    done = service.confirm(
        sessions, first.subscriber_id, list_id, ip="192.0.2.2", user_agent="UA2", source="confirm"
    )
    assert done.confirmed
    again = service.confirm(
        sessions, first.subscriber_id, list_id, ip=None, user_agent=None, source="confirm"
    )
    assert not again.confirmed
    repeat = service.subscribe_pending(
        sessions, "back-care", "pat@x.org", None, source="web", ip=None, user_agent=None
    )
    assert repeat.outcome is service.SubscribeOutcome.ALREADY_SUBSCRIBED
    assert not repeat.needs_confirmation
    assert service.unsubscribe(sessions, first.subscriber_id, list_id, source="link").changed == 1
    assert service.unsubscribe(sessions, first.subscriber_id, None, source="link").changed == 0
    back = service.subscribe_pending(
        sessions, "back-care", "pat@x.org", None, source="web", ip=None, user_agent=None
    )
    # Still unsubscribed until the person confirms again.
    assert back.outcome is service.SubscribeOutcome.UNSUBSCRIBED_BEFORE and back.needs_confirmation
    view = service.show_subscriber(sessions, "PAT@x.org")
    assert view.memberships[0].status is MembershipStatus.UNSUBSCRIBED
    assert view.memberships[0].unsubscribe_source == "link"
    service.add_suppression(sessions, "pat@x.org", SuppressionReason.SPAMREPORT, source="hook")
    blocked = service.subscribe_pending(
        sessions, "back-care", "pat@x.org", None, source="web", ip=None, user_agent=None
    )
    assert blocked.outcome is service.SubscribeOutcome.SUPPRESSED
    assert not blocked.needs_confirmation
    [counts] = service.lists_with_counts(sessions)
    assert (counts.pending, counts.subscribed, counts.unsubscribed, counts.sendable) == (0, 0, 1, 0)


def test_confirm_timestamps_are_utc(sessions: Sessions) -> None:
    list_id = _list(sessions)
    result = service.add_subscriber(sessions, "back-care", "t@x.org", confirmed=True)
    assert result.subscriber_id is not None
    with transaction(sessions) as s:
        member = memberships.get(s, list_id, result.subscriber_id)
        assert member is not None and member.confirmed_at is not None
        assert member.confirmed_at.tzinfo is not None
        assert abs(member.confirmed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
        assert member.consent_source == "cli:add (consent given elsewhere)"
