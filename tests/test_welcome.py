"""The welcome email: after a confirmation, once per membership, whatever races or fails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_support import LIST_NAME, LIST_SLUG, Web, make_issue, open_web

from newsletter.delivery.senders import MemorySender
from newsletter.errors import DeliveryError
from newsletter.services import audience
from newsletter.services.welcome import send_welcome


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        yield app


def welcomes(sender: MemorySender) -> list[dict[str, Any]]:
    return [r.decoded() for r in sender.sent if r.decoded().get("categories") == ["welcome"]]


def sign_up_and_confirm(web: Web, *, times: int) -> None:
    web.client.post(
        "/subscribe", data={"email": "ana@example.org", "name": "Ana", "list": LIST_SLUG}
    )
    (token,) = web.confirm_links()
    for _ in range(times):
        web.client.post(f"/confirm/{token}")


def test_double_confirm_sends_one_welcome_with_unsubscribe_headers(web: Web) -> None:
    make_issue(web.sessions, web.list_id)  # sent on 2025-03-04: the latest archived issue
    sign_up_and_confirm(web, times=2)
    (body,) = welcomes(web.sender)
    (person,) = body["personalizations"]
    assert person["to"] == [{"email": "ana@example.org", "name": "Ana"}]
    assert body["subject"] == f"Welcome to {LIST_NAME}"
    headers = person["headers"]
    assert headers["List-Unsubscribe"].startswith("<https://newsletter.example.org/u/")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert person["substitutions"]["-first_name-"] == "Ana"
    text, html = (part["value"] for part in body["content"])
    latest = f"https://newsletter.example.org/archive/{LIST_SLUG}/2025-03-04"
    assert latest in text and f'href="{latest}"' in html
    assert "Welcome, -first_name-!" in text and "-first_name_html-" in html


def test_racing_confirmations_get_one_welcome(web: Web) -> None:
    result = audience.add_subscriber(web.sessions, LIST_SLUG, "bo@example.org", confirmed=True)
    assert result.subscriber_id is not None
    barrier = threading.Barrier(4)
    outcomes: list[bool] = []

    def welcome() -> None:
        barrier.wait()
        outcomes.append(
            send_welcome(
                web.settings,
                web.sessions,
                web.signer,
                web.sender,
                subscriber_id=result.subscriber_id or 0,
                list_id=web.list_id,
            )
        )

    threads = [threading.Thread(target=welcome) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False, False, False, True]
    assert len(welcomes(web.sender)) == 1


class _Broken(MemorySender):
    def send(self, body: bytes, *, batch_key: str, **kwargs: Any) -> Any:
        raise DeliveryError("connection reset")


def test_a_welcome_that_failed_is_never_repeated(web: Web) -> None:
    result = audience.add_subscriber(web.sessions, LIST_SLUG, "cy@example.org", confirmed=True)
    args = (web.settings, web.sessions, web.signer)
    ids = {"subscriber_id": result.subscriber_id or 0, "list_id": web.list_id}
    assert send_welcome(*args, _Broken(), **ids) is False
    assert send_welcome(*args, web.sender, **ids) is False  # claimed before the crash
    assert welcomes(web.sender) == []


def test_no_archive_yet_says_the_first_issue_is_coming(web: Web) -> None:
    sign_up_and_confirm(web, times=1)
    (body,) = welcomes(web.sender)
    assert "/archive/" not in body["content"][0]["value"]
    assert "Your first issue arrives" in body["content"][0]["value"]
