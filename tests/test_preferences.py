"""The preference centre on /u/TOKEN: lists, a pause that ends by itself, and the record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from test_web_support import LIST_SLUG, Web, open_web, subscribed

from newsletter.services import audience
from newsletter.storage.db import make_engine, transaction
from newsletter.storage.models import Membership, MembershipStatus, PreferenceChange, Subscriber
from newsletter.storage.repositories.audience import count_sendable, iter_sendable, sendable_ids

UA = {"user-agent": "PrefsTest/1.0"}


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        audience.create_list(app.sessions, "sciatica", "Sciatica Notes", description="Monthly")
        yield app


def token_for(web: Web, email: str = "ana@example.org") -> tuple[int, str]:
    person = subscribed(web, email)
    return person, web.signer.unsubscribe_token(person, web.list_id)


def statuses(web: Web) -> dict[str, MembershipStatus]:
    view = audience.show_subscriber(web.sessions, "ana@example.org")
    return {m.list_slug: m.status for m in view.memberships}


def save(web: Web, token: str, **form: object) -> str:
    answer = web.client.post(f"/u/{token}/preferences", data=form, headers=UA)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    return answer.text


def sendable(web: Web) -> set[int]:
    engine = make_engine(web.settings.database_url)
    try:
        streamed = {r.subscriber_id for r in iter_sendable(engine, web.list_id)}
        with transaction(web.sessions) as session:
            assert count_sendable(session, web.list_id) == len(streamed)
            assert sendable_ids(session, web.list_id, sorted(streamed | {0})) == streamed
        return streamed
    finally:
        engine.dispose()


def test_page_shows_every_list_and_changes_nothing(web: Web) -> None:
    _, token = token_for(web)
    page = web.client.get(f"/u/{token}")
    assert page.status_code == 200
    assert 'value="back-care" checked' in page.text
    assert 'value="sciatica">' in page.text and "Monthly" in page.text
    assert f'action="./{token}/preferences"' in page.text
    assert "Unsubscribe" in page.text
    assert statuses(web) == {LIST_SLUG: MembershipStatus.SUBSCRIBED}


def test_choosing_lists_subscribes_and_leaves_with_a_record(web: Web) -> None:
    person, token = token_for(web)
    text = save(web, token, list=["sciatica"], pause="keep")
    assert "Saved." in text
    assert statuses(web) == {
        LIST_SLUG: MembershipStatus.UNSUBSCRIBED,
        "sciatica": MembershipStatus.SUBSCRIBED,
    }
    with transaction(web.sessions) as session:
        joined = session.scalars(
            select(Membership).where(
                Membership.subscriber_id == person, Membership.list_id != web.list_id
            )
        ).one()
        assert joined.consent_source == "web:preferences" and joined.confirmed_at is not None
        assert joined.consent_user_agent == "PrefsTest/1.0"
        left = session.scalars(select(Membership).where(Membership.list_id == web.list_id)).one()
        assert left.unsubscribe_source == "web:preferences"
        rows = session.scalars(select(PreferenceChange).order_by(PreferenceChange.id)).all()
        assert [(r.action, r.detail) for r in rows] == [
            ("unsubscribe", LIST_SLUG),
            ("subscribe", "sciatica"),
        ]
        assert {(r.source, r.user_agent, r.ip) for r in rows} == {
            ("web:preferences", "PrefsTest/1.0", "testclient")
        }
    again = save(web, token, list=["sciatica"], pause="keep")
    assert "Nothing to change" in again


def test_pause_skips_the_person_until_it_ends_by_itself(web: Web) -> None:
    person, token = token_for(web)
    other = subscribed(web, "bo@example.org")
    assert sendable(web) == {person, other}

    text = save(web, token, list=[LIST_SLUG], pause="4-weeks")
    resume = web.settings.today() + dt.timedelta(days=28)
    assert f"{resume:%A, %B} {resume.day}" in text
    assert sendable(web) == {other}
    with transaction(web.sessions) as session:
        until = session.get(Subscriber, person).paused_until  # type: ignore[union-attr]
        assert until is not None
        assert until.astimezone(web.settings.zone).date() == resume
        assert until.astimezone(web.settings.zone).time() == dt.time(0)
        # Time passes: the pause ends with no job and no click.
        session.execute(
            update(Subscriber)
            .where(Subscriber.id == person)
            .values(paused_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))
        )
    assert sendable(web) == {person, other}
    assert statuses(web) == {LIST_SLUG: MembershipStatus.SUBSCRIBED}


def test_pause_until_a_date_then_resume_now(web: Web) -> None:
    person, token = token_for(web)
    day = web.settings.today() + dt.timedelta(days=10)
    save(web, token, list=[LIST_SLUG], pause="until", until=day.isoformat())
    assert sendable(web) == set()
    page = web.client.get(f"/u/{token}").text
    assert "Your emails are paused" in page and 'value="resume"' in page
    save(web, token, list=[LIST_SLUG], pause="resume")
    assert sendable(web) == {person}
    with transaction(web.sessions) as session:
        actions = [
            r.action
            for r in session.scalars(select(PreferenceChange).order_by(PreferenceChange.id))
        ]
    assert actions == ["pause", "resume"]


@pytest.mark.parametrize("until", ["2001-01-01", "not-a-date", "", "2999-01-01"])
def test_a_bad_pause_date_changes_nothing(web: Web, until: str) -> None:
    person, token = token_for(web)
    answer = web.client.post(
        f"/u/{token}/preferences", data={"list": "sciatica", "pause": "until", "until": until}
    )
    assert answer.status_code == 422
    assert "Nothing was changed" in answer.text or "valid date" in answer.text
    assert statuses(web) == {LIST_SLUG: MembershipStatus.SUBSCRIBED}
    assert sendable(web) == {person}


def test_one_click_still_unsubscribes_a_paused_person(web: Web) -> None:
    _, token = token_for(web)
    save(web, token, list=[LIST_SLUG], pause="4-weeks")
    answer = web.client.post(
        f"/u/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    assert statuses(web) == {LIST_SLUG: MembershipStatus.UNSUBSCRIBED}


def test_forged_token_is_refused_whatever_the_form_says(web: Web) -> None:
    for form in ({"pause": "bogus"}, {"pause": "until", "until": "x"}, {}):
        answer = web.client.post("/u/not-a-token/preferences", data=form)
        assert answer.status_code == 400, form


def test_an_unknown_pause_choice_changes_nothing(web: Web) -> None:
    person, token = token_for(web)
    answer = web.client.post(f"/u/{token}/preferences", data={"pause": "forever"})
    assert answer.status_code == 422
    assert sendable(web) == {person}


def test_forged_token_is_refused(web: Web) -> None:
    assert (
        web.client.post("/u/not-a-token/preferences", data={"pause": "4-weeks"}).status_code == 400
    )
