"""GET /issues/{id}/preview and .txt: admin token (Bearer or Basic), tags filled in."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_web_support import ADMIN_TOKEN, Web, make_issue, open_web

from newsletter.render.model import FIRST_NAME_TAG, UNSUBSCRIBE_URL_TAG

BEARER = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def _basic(password: str, user: str = "marketing") -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {encoded}"}


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        yield app


@pytest.fixture
def issue(web: Web) -> int:
    return make_issue(web.sessions, web.list_id)


def test_bearer_token_shows_the_html_with_sample_values(web: Web, issue: int) -> None:
    answer = web.client.get(f"/issues/{issue}/preview", headers=BEARER)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "Hi Alex," in answer.text
    assert "https://newsletter.example.org/u/preview-sample" in answer.text
    assert FIRST_NAME_TAG not in answer.text and UNSUBSCRIBE_URL_TAG not in answer.text
    # Email HTML needs inline styles; scripts stay forbidden.
    csp = answer.headers["content-security-policy"]
    assert "style-src 'unsafe-inline'" in csp and "script-src" not in csp
    assert "default-src 'none'" in csp


def test_basic_auth_with_the_token_as_password_shows_the_text(web: Web, issue: int) -> None:
    answer = web.client.get(f"/issues/{issue}/preview.txt", headers=_basic(ADMIN_TOKEN))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text.startswith("Subject: Sciatica: what helps\n")
    assert "Hi Alex," in answer.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"authorization": f"Token {ADMIN_TOKEN}"},
        {"authorization": "Basic !!!notbase64"},
        {"authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        _basic("wrong"),
        _basic(ADMIN_TOKEN[:-1]),
    ],
)
def test_missing_or_wrong_credentials_get_401(
    web: Web, issue: int, headers: dict[str, str]
) -> None:
    for suffix in ("preview", "preview.txt"):
        answer = web.client.get(f"/issues/{issue}/{suffix}", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic")
        assert "Hi Alex" not in answer.text


def test_without_a_configured_token_previews_are_403(db_url: str, tmp_path: Path) -> None:
    with open_web(db_url, tmp_path, admin_token=None) as web:
        issue = make_issue(web.sessions, web.list_id)
        answer = web.client.get(f"/issues/{issue}/preview", headers=BEARER)
    assert answer.status_code == 403
    assert "NEWSLETTER_ADMIN_TOKEN" in answer.json()["detail"]


def test_missing_issue_is_404(web: Web) -> None:
    answer = web.client.get("/issues/424242/preview", headers=BEARER)
    assert answer.status_code == 404
    assert "424242" in answer.json()["detail"]


@pytest.mark.parametrize("issue_id", ["abc", "0", "-1", "99999999999999999999", "1.5"])
def test_bad_issue_ids_are_422(web: Web, issue_id: str) -> None:
    assert web.client.get(f"/issues/{issue_id}/preview", headers=BEARER).status_code == 422
