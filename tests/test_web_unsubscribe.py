"""GET /u/{token} (changes nothing) and POST /u/{token} (RFC 8058 one-click and the button)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_web_support import LIST_NAME, LIST_SLUG, Web, open_web, subscribed

from newsletter.audience.tokens import TokenSigner
from newsletter.services import audience
from newsletter.storage.models import MembershipStatus

ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        yield app


@pytest.fixture
def two_lists(web: Web) -> tuple[int, int, str]:
    """Ana on both lists; (subscriber id, sciatica list id, back-care token)."""
    other = audience.create_list(web.sessions, "sciatica", "Sciatica Notes")
    ana = subscribed(web, "ana@example.org")
    subscribed(web, "ana@example.org", slug="sciatica")
    return ana, other.id, web.signer.unsubscribe_token(ana, web.list_id)


def _statuses(web: Web, email: str = "ana@example.org") -> dict[str, MembershipStatus]:
    view = audience.show_subscriber(web.sessions, email)
    return {m.list_slug: m.status for m in view.memberships}


def test_get_shows_a_confirm_page_and_changes_nothing(
    web: Web, two_lists: tuple[int, int, str]
) -> None:
    _, _, token = two_lists
    for _ in range(3):  # link scanners fetch more than once
        page = web.client.get(f"/u/{token}")
        assert page.status_code == 200
    assert LIST_NAME in page.text
    assert "a•••@example.org" in page.text
    assert "ana@example.org" not in page.text
    assert f'action="./{token}"' in page.text
    assert 'value="all"' in page.text  # "unsubscribe from all lists"
    assert set(_statuses(web).values()) == {MembershipStatus.SUBSCRIBED}
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


def test_rfc8058_one_click_post_unsubscribes_from_that_list_only(
    web: Web, two_lists: tuple[int, int, str]
) -> None:
    _, _, token = two_lists
    web.client.cookies.clear()
    answer = web.client.post(f"/u/{token}", content=ONE_CLICK, headers=FORM)
    assert answer.status_code == 200
    assert "set-cookie" not in answer.headers
    assert _statuses(web) == {
        LIST_SLUG: MembershipStatus.UNSUBSCRIBED,
        "sciatica": MembershipStatus.SUBSCRIBED,
    }
    view = audience.show_subscriber(web.sessions, "ana@example.org")
    back_care = next(m for m in view.memberships if m.list_slug == LIST_SLUG)
    assert back_care.unsubscribe_source == "web:one-click"


def test_page_button_unsubscribes_from_the_list(web: Web, two_lists: tuple[int, int, str]) -> None:
    _, _, token = two_lists
    answer = web.client.post(f"/u/{token}", data={"scope": "list"})
    assert answer.status_code == 200
    assert re.search(r"<h1>You are unsubscribed</h1>", answer.text)
    assert _statuses(web)[LIST_SLUG] == MembershipStatus.UNSUBSCRIBED
    assert _statuses(web)["sciatica"] == MembershipStatus.SUBSCRIBED


def test_unsubscribe_from_all_lists(web: Web, two_lists: tuple[int, int, str]) -> None:
    _, _, token = two_lists
    answer = web.client.post(f"/u/{token}", data={"scope": "all"})
    assert answer.status_code == 200
    assert set(_statuses(web).values()) == {MembershipStatus.UNSUBSCRIBED}


def test_post_is_idempotent(web: Web, two_lists: tuple[int, int, str]) -> None:
    _, _, token = two_lists
    answers = [web.client.post(f"/u/{token}", content=ONE_CLICK, headers=FORM) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert _statuses(web)[LIST_SLUG] == MembershipStatus.UNSUBSCRIBED


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"", {}),
        (b"whatever=1", FORM),
        (b"--x\r\nbroken", {"content-type": "multipart/form-data; boundary=x"}),
        (b'{"List-Unsubscribe": "One-Click"}', {"content-type": "application/json"}),
    ],
)
def test_any_body_still_unsubscribes(
    web: Web, two_lists: tuple[int, int, str], content: bytes, headers: dict[str, str]
) -> None:
    _, _, token = two_lists
    answer = web.client.post(f"/u/{token}", content=content, headers=headers)
    assert answer.status_code == 200
    assert _statuses(web)[LIST_SLUG] == MembershipStatus.UNSUBSCRIBED


def test_old_tokens_keep_working_after_a_key_rotation(db_url: str, tmp_path: Path) -> None:
    old_secret = "the-key-we-used-in-2019-0123456789"
    with open_web(
        db_url,
        tmp_path,
        secret_key="the-key-we-use-now-0123456789-abcdef",
        secret_key_fallbacks=old_secret,
    ) as web:
        ana = subscribed(web, "ana@example.org")
        token = TokenSigner(old_secret).unsubscribe_token(ana, web.list_id)
        assert web.client.post(f"/u/{token}", content=ONE_CLICK, headers=FORM).status_code == 200
        assert _statuses(web)[LIST_SLUG] == MembershipStatus.UNSUBSCRIBED


def test_token_of_a_deleted_subscriber_still_answers_200(web: Web) -> None:
    token = web.signer.unsubscribe_token(987_654, web.list_id)
    assert web.client.get(f"/u/{token}").status_code == 200
    assert web.client.post(f"/u/{token}", content=ONE_CLICK, headers=FORM).status_code == 200


@pytest.mark.parametrize("token", ["nope", "A" * 36, "%F0%9F%92%A9" * 9, "a" * 3000])
def test_forged_tokens_get_a_friendly_400(web: Web, token: str) -> None:
    page = web.client.get(f"/u/{token}")
    post = web.client.post(f"/u/{token}", content=ONE_CLICK, headers=FORM)
    for answer in (page, post):
        assert answer.status_code == 400
        assert "This link is not valid" in answer.text
        assert "Traceback" not in answer.text


def test_a_confirm_token_is_not_an_unsubscribe_token(web: Web) -> None:
    ana = subscribed(web, "ana@example.org")
    confirm = web.signer.confirm_token(ana, web.list_id)
    assert web.client.post(f"/u/{confirm}", content=ONE_CLICK, headers=FORM).status_code == 400
    assert _statuses(web)[LIST_SLUG] == MembershipStatus.SUBSCRIBED
