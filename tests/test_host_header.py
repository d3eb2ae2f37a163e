"""Pages never build a URL from the request's Host header, which the client chooses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_web_support import LIST_SLUG, Web, open_web, subscribed

EVIL = {"host": "evil.example"}


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        yield app


def _pages(web: Web) -> dict[str, str]:
    ana = subscribed(web, "ana@example.org")
    web.client.post("/subscribe", json={"email": "bo@example.org", "list": LIST_SLUG})
    (confirm,) = web.confirm_links()
    unsubscribe = web.signer.unsubscribe_token(ana, web.list_id)
    return {
        "/signup": "subscribe",
        f"/confirm/{confirm}": f"./{confirm}",
        f"/u/{unsubscribe}": f"./{unsubscribe}",
    }


def test_form_actions_are_relative_whatever_the_host_header_says(web: Web) -> None:
    for path, action in _pages(web).items():
        page = web.client.get(path, headers=EVIL)
        assert page.status_code == 200, path
        assert "evil.example" not in page.text, path
        assert f'action="{action}"' in page.text, path


def test_no_answer_or_redirect_carries_the_host_header(web: Web) -> None:
    paths = [*_pages(web), "/admin", "/admin/login", "/healthz", "/nowhere"]
    for path in paths:
        answer = web.client.get(path, headers=EVIL, follow_redirects=False)
        assert "evil.example" not in answer.text, path
        for name, value in answer.headers.items():
            assert "evil.example" not in value, (path, name)
