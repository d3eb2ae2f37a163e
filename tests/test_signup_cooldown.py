"""Confirmation emails per address and list: at most 1 in 6 hours and 3 in a week."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from newsletter.services import audience
from newsletter.services.signup import SignupRequest, request_signup

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def _ask(
    sessions: sessionmaker[Session],
    at: dt.datetime,
    *,
    email: str = "ana@example.org",
    slug: str = "back-care",
    ip: str = "198.51.100.1",
) -> bool:
    """Whether this sign-up is due a confirmation email."""
    request = SignupRequest(email, "Ana", slug, ip, "Browser/1")
    return request_signup(sessions, request, now=at) is not None


def test_one_confirmation_per_six_hours_and_three_a_week_whoever_asks(
    sessions: sessionmaker[Session],
) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    assert _ask(sessions, T0)
    # Another client, another spelling of the address: still the same recipient.
    assert not _ask(sessions, T0 + HOUR, ip="203.0.113.9")
    assert not _ask(sessions, T0 + 5 * HOUR, email="Ana@Example.org")
    assert _ask(sessions, T0 + 6 * HOUR + dt.timedelta(seconds=1))
    assert _ask(sessions, T0 + 12 * HOUR + dt.timedelta(seconds=2))
    # The fourth in a week is refused even though six hours have passed.
    assert not _ask(sessions, T0 + 18 * HOUR + dt.timedelta(seconds=3))
    assert not _ask(sessions, T0 + 6 * 24 * HOUR)
    assert _ask(sessions, T0 + 7 * 24 * HOUR + dt.timedelta(seconds=1))


def test_the_cooldown_is_per_address_and_per_list(sessions: sessionmaker[Session]) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    audience.create_list(sessions, "sciatica", "Sciatica")
    assert _ask(sessions, T0)
    assert _ask(sessions, T0, slug="sciatica")
    assert _ask(sessions, T0, email="bo@example.org")
    assert not _ask(sessions, T0 + HOUR, slug="sciatica")


def test_refused_signups_do_not_use_up_the_budget(sessions: sessionmaker[Session]) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    assert _ask(sessions, T0)
    for minutes in range(1, 30):
        assert not _ask(sessions, T0 + dt.timedelta(minutes=minutes))
    assert _ask(sessions, T0 + 6 * HOUR + dt.timedelta(seconds=1))
