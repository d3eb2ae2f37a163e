"""Double opt-in through the web: POST /subscribe, GET and POST /confirm/{token}, GET /signup."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_support import LIST_NAME, LIST_SLUG, Web, open_web, subscribed

from newsletter.services import audience
from newsletter.services.signup import SIGNUP_SOURCE
from newsletter.storage.models import MembershipStatus, SuppressionReason
from newsletter.web.routes.signup import CHECK_INBOX

FORM = {"email": "ana@example.org", "name": "Ana Lopez", "list": LIST_SLUG, "website": ""}


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        yield app


def _membership(web: Web, email: str) -> audience.MembershipView:
    return audience.show_subscriber(web.sessions, email).memberships[0]


def _h1(html: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", html)
    assert found is not None, html
    return found.group(1)


# ------------------------------------------------------------------ signup


def test_form_signup_creates_pending_and_sends_one_confirmation(web: Web) -> None:
    answer = web.client.post("/subscribe", data=FORM)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert _h1(answer.text) == "Check your inbox"
    assert _membership(web, "ana@example.org").status == MembershipStatus.PENDING
    assert len(web.sender.sent) == 1
    body = web.sender.sent[0].decoded()
    assert body["personalizations"][0]["to"] == [{"email": "ana@example.org", "name": "Ana Lopez"}]
    assert body["subject"] == f"Please confirm your subscription to {LIST_NAME}"
    assert "Hi Ana Lopez" in body["content"][0]["value"]
    assert len(web.confirm_links()) == 1


def test_json_signup_answers_json(web: Web) -> None:
    answer = web.client.post("/subscribe", json={"email": "ana@example.org", "list": LIST_SLUG})
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "message": CHECK_INBOX}
    assert _membership(web, "ana@example.org").status == MembershipStatus.PENDING


def test_list_may_be_left_out_when_only_one_exists(web: Web) -> None:
    answer = web.client.post("/subscribe", json={"email": "ana@example.org"})
    assert answer.status_code == 200
    assert _membership(web, "ana@example.org").list_slug == LIST_SLUG


def test_every_address_state_gets_the_identical_answer(web: Web) -> None:
    subscribed(web, "known@example.org")
    audience.add_suppression(
        web.sessions, "gone@example.org", SuppressionReason.BOUNCE, source="test"
    )
    answers = [
        web.client.post("/subscribe", json={"email": email, "list": LIST_SLUG})
        for email in ("new@example.org", "known@example.org", "gone@example.org")
    ]
    assert {(a.status_code, a.text) for a in answers} == {(200, answers[0].text)}
    # Only the new address is sent a confirmation; nothing tells the caller so.
    assert [r.recipients() for r in web.sender.sent] == [["new@example.org"]]
    forms = [
        web.client.post("/subscribe", data=dict(FORM, email=email)).text
        for email in ("new2@example.org", "known@example.org")
    ]
    assert forms[0] == forms[1]


def test_signing_up_again_soon_gets_the_same_answer_but_no_second_email(web: Web) -> None:
    first = web.client.post("/subscribe", data=FORM)
    again = web.client.post("/subscribe", data=dict(FORM, email="ANA@example.org"))
    assert (first.status_code, first.text) == (again.status_code, again.text)
    assert len(web.sender.sent) == 1


def test_honeypot_is_accepted_silently_and_ignored(web: Web) -> None:
    answer = web.client.post("/subscribe", data=dict(FORM, website="http://spam.example"))
    assert answer.status_code == 200
    assert _h1(answer.text) == "Check your inbox"
    assert web.sender.sent == []
    with pytest.raises(Exception, match="no subscriber"):
        audience.show_subscriber(web.sessions, "ana@example.org")


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"email": "not-an-address"}, "does not look like an email address"),
        ({"email": "ana@"}, "does not look like an email address"),
        ({"email": ""}, "does not look like an email address"),
        ({"email": "a" * 400 + "@example.org"}, "email"),
        ({"email": "ana@example.org", "name": "Ana\x00"}, "control characters"),
        ({"email": "ana@example.org", "list": "no-such-list"}, "no list called"),
        ({"email": "ana@example.org", "list": "Bad Slug!"}, "choose a newsletter list"),
        ({"name": "Ana"}, "email"),
    ],
)
def test_bad_signups_get_a_friendly_422(web: Web, fields: dict[str, str], problem: str) -> None:
    body = {"list": LIST_SLUG} | fields
    as_json = web.client.post("/subscribe", json=body)
    assert as_json.status_code == 422
    assert problem in as_json.json()["detail"]
    as_form = web.client.post("/subscribe", data=body)
    assert as_form.status_code == 422
    assert "Traceback" not in as_form.text
    assert as_form.headers["content-type"].startswith("text/html")
    assert web.sender.sent == []


def test_list_is_required_when_several_exist(web: Web) -> None:
    audience.create_list(web.sessions, "sciatica", "Sciatica Notes")
    answer = web.client.post("/subscribe", json={"email": "ana@example.org"})
    assert answer.status_code == 422


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{broken", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"email=ana@example.org", "text/plain", 415),
        (b"", "", 415),
    ],
)
def test_unreadable_bodies_are_refused(
    web: Web, content: bytes, content_type: str, status: int
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    answer = web.client.post("/subscribe", content=content, headers=headers)
    assert answer.status_code == status


def test_oversized_form_is_413(web: Web) -> None:
    answer = web.client.post("/subscribe", data=dict(FORM, name="x" * 70_000))
    assert answer.status_code == 413


def test_rate_limit_answers_429_with_retry_after(db_url: str, tmp_path: Path) -> None:
    with open_web(db_url, tmp_path, limit=3) as web:
        codes = [
            web.client.post("/subscribe", json={"email": f"p{i}@example.org"}).status_code
            for i in range(4)
        ]
        limited = web.client.post("/subscribe", data=FORM)
    assert codes == [200, 200, 200, 429]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "try again" in limited.text
    assert len(web.sender.sent) == 3


def test_a_failing_sender_still_gives_the_same_answer(web: Web) -> None:
    from newsletter.errors import SendRetryableError

    web.sender.fail_next(SendRetryableError("connection refused"))
    answer = web.client.post("/subscribe", json={"email": "ana@example.org"})
    assert answer.status_code == 200
    assert _membership(web, "ana@example.org").status == MembershipStatus.PENDING


# ------------------------------------------------------------------ confirm


def _confirm(web: Web, token: str, **headers: str) -> Any:
    return web.client.post(f"/confirm/{token}", headers=headers)


def test_opening_a_confirm_link_changes_nothing(web: Web) -> None:
    web.client.post("/subscribe", data=FORM)
    (token,) = web.confirm_links()
    for _ in range(2):  # a mail scanner, then the person
        page = web.client.get(f"/confirm/{token}", headers={"user-agent": "LinkScanner/1"})
        assert page.status_code == 200
        assert _h1(page.text) == "Confirm your subscription"
        assert "a•••@example.org" in page.text and LIST_NAME in page.text
        assert f'<form method="post" action="./{token}"' in page.text
        assert ">Confirm</button>" in page.text
    member = _membership(web, "ana@example.org")
    assert member.status == MembershipStatus.PENDING
    assert member.confirmed_at is None


def test_confirm_post_subscribes_and_records_its_own_consent(web: Web) -> None:
    web.client.post("/subscribe", data=FORM, headers={"user-agent": "Signup/1"})
    (token,) = web.confirm_links()
    web.client.get(f"/confirm/{token}", headers={"user-agent": "LinkScanner/1"})
    answer = _confirm(web, token, **{"user-agent": "Firefox/128 test"})
    assert answer.status_code == 200
    assert _h1(answer.text) == "You are subscribed"
    assert LIST_NAME in answer.text
    member = _membership(web, "ana@example.org")
    assert member.status == MembershipStatus.SUBSCRIBED
    assert member.consent_source == SIGNUP_SOURCE
    assert member.consent_user_agent == "Firefox/128 test"
    assert member.consent_ip == "testclient"
    assert member.confirmed_at is not None
    assert abs(member.confirmed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_used_link_gets_a_friendly_410(web: Web) -> None:
    web.client.post("/subscribe", data=FORM)
    (token,) = web.confirm_links()
    assert _confirm(web, token).status_code == 200
    for again in (_confirm(web, token), web.client.get(f"/confirm/{token}")):
        assert again.status_code == 410
        assert _h1(again.text) == "This link has already been used"


def _token(web: Web, email: str, *, ago: dt.timedelta) -> str:
    person = audience.show_subscriber(web.sessions, email)
    assert person.subscriber_id is not None
    issued = dt.datetime.now(dt.UTC) - ago
    return web.signer.confirm_token(person.subscriber_id, web.list_id, now=issued)


def test_expired_link_gets_a_friendly_410(web: Web) -> None:
    web.client.post("/subscribe", data=FORM)
    token = _token(web, "ana@example.org", ago=dt.timedelta(hours=73))
    for answer in (web.client.get(f"/confirm/{token}"), _confirm(web, token)):
        assert answer.status_code == 410
        assert _h1(answer.text) == "This link has expired"
    assert _membership(web, "ana@example.org").status == MembershipStatus.PENDING


def test_a_link_made_before_an_unsubscribe_cannot_undo_it(web: Web) -> None:
    web.client.post("/subscribe", data=FORM)
    token = _token(web, "ana@example.org", ago=dt.timedelta(minutes=5))
    audience.unsubscribe_email(web.sessions, "ana@example.org", LIST_SLUG, source="test")
    for answer in (web.client.get(f"/confirm/{token}"), _confirm(web, token)):
        assert answer.status_code == 410
        assert _h1(answer.text) == "This link can no longer be used"
    assert _membership(web, "ana@example.org").status == MembershipStatus.UNSUBSCRIBED


def test_a_link_made_before_a_suppression_cannot_undo_it(web: Web) -> None:
    web.client.post("/subscribe", data=FORM)
    (token,) = web.confirm_links()
    audience.add_suppression(
        web.sessions, "ana@example.org", SuppressionReason.SPAMREPORT, source="test"
    )
    assert _confirm(web, token).status_code == 410
    assert _membership(web, "ana@example.org").status == MembershipStatus.PENDING


def test_signing_up_again_after_leaving_gives_a_link_that_works(web: Web) -> None:
    subscribed(web, "ana@example.org")
    audience.unsubscribe_email(web.sessions, "ana@example.org", None, source="test")
    web.client.post("/subscribe", data=FORM)
    assert _membership(web, "ana@example.org").status == MembershipStatus.UNSUBSCRIBED
    # The new link is made after the unsubscribe (a second later: tokens hold seconds).
    token = _token(web, "ana@example.org", ago=-dt.timedelta(seconds=1))
    assert _confirm(web, token).status_code == 200
    assert _membership(web, "ana@example.org").status == MembershipStatus.SUBSCRIBED


@pytest.mark.parametrize(
    "token",
    ["garbage", "A" * 44, "%00%01", "../../etc/passwd", "x" * 5000],
)
def test_forged_confirm_links_get_a_friendly_400(web: Web, token: str) -> None:
    for answer in (web.client.get(f"/confirm/{token}"), _confirm(web, token)):
        assert answer.status_code in (400, 404)
        if answer.status_code == 400:
            assert _h1(answer.text) == "This link is not valid"
            assert "Traceback" not in answer.text


def test_altered_confirm_link_is_refused(web: Web) -> None:
    web.client.post("/subscribe", data=FORM)
    (token,) = web.confirm_links()
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert web.client.get(f"/confirm/{flipped}").status_code == 400
    assert _confirm(web, flipped).status_code == 400
    assert _membership(web, "ana@example.org").status == MembershipStatus.PENDING


def test_confirm_token_for_a_deleted_list_is_refused(web: Web) -> None:
    token = web.signer.confirm_token(12345, 67890)
    assert web.client.get(f"/confirm/{token}").status_code == 400
    assert _confirm(web, token).status_code == 400


# ------------------------------------------------------------------ the demo page


def test_signup_page_embeds_the_documented_snippet(web: Web) -> None:
    page = web.client.get("/signup")
    assert page.status_code == 200
    assert 'action="subscribe"' in page.text
    assert f'name="list" value="{LIST_SLUG}"' in page.text
    assert 'name="website"' in page.text
    docs = (Path(__file__).resolve().parent.parent / "docs" / "web.md").read_text("utf-8")
    snippet = (
        Path(__file__).resolve().parent.parent / "newsletter/web/templates/signup_form.html"
    ).read_text("utf-8")
    # Every form line of the template appears in the docs, URL and list filled in.
    for line in snippet.splitlines():
        if line.startswith("{#") or "#}" in line or not line.strip():
            continue
        expected = line.replace(
            "{{ action }}", "https://newsletter.riverbendclinic.example.org/subscribe"
        )
        expected = expected.replace("{{ list_slug }}", "back-care")
        expected = expected.replace(
            "{{ script_url }}", "https://newsletter.riverbendclinic.example.org/static/timezone.js"
        )
        assert expected in docs, expected


def test_signup_page_names_the_list_from_the_query(web: Web) -> None:
    page = web.client.get("/signup", params={"list": "sciatica"})
    assert 'name="list" value="sciatica"' in page.text
    assert web.client.get("/signup", params={"list": "x" * 500}).status_code == 422


def test_the_browser_time_zone_is_stored_and_an_unknown_one_ignored(web: Web) -> None:
    page = web.client.get("/signup")
    assert 'name="timezone" value=""' in page.text
    assert 'src="static/timezone.js"' in page.text
    assert "resolvedOptions().timeZone" in web.client.get("/static/timezone.js").text
    web.client.post("/subscribe", data={**FORM, "timezone": "pacific/auckland"})
    assert audience.show_subscriber(web.sessions, FORM["email"]).timezone == "Pacific/Auckland"
    other = {**FORM, "email": "bo@example.org", "timezone": "Mars/Olympus_Mons"}
    assert web.client.post("/subscribe", data=other).status_code == 200
    assert audience.show_subscriber(web.sessions, "bo@example.org").timezone is None
