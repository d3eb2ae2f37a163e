"""The public archive: web versions of sent issues with nothing personal left in them."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_web_support import LIST_NAME, LIST_SLUG, Web, open_web

from newsletter.services import audience, issues, issues_send
from newsletter.storage.db import make_engine

FIRST_DAY = dt.date(2026, 11, 24)
SECOND_DAY = dt.date(2026, 12, 1)
PEOPLE = [
    ("zelda.quintero@example.org", "Zelda", "Zelda Quintero"),
    ("o.brien@example.net", "Róisín & Co", "Róisín O'Brien"),
]


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        yield app


def send(web: Web, day: dt.date) -> list[dict[str, object]]:
    """Build, approve and send the list's issue for ``day``; the outbox bodies it wrote."""
    engine = make_engine(web.settings.database_url)
    try:
        view = issues.build_issue(web.settings, engine, LIST_SLUG, day)
        issues.approve_issue(engine, view.id, by="test")
        issues_send.send_issue(web.settings, engine, view.id, send_now=True)
    finally:
        engine.dispose()
    outbox = web.settings.outbox_dir
    return [json.loads(p.read_text()) for p in sorted(outbox.glob("*.json"))]


def test_archive_pages_hold_no_personal_data(web: Web) -> None:
    for email, first, name in PEOPLE:
        audience.add_subscriber(
            web.sessions, LIST_SLUG, email, first_name=first, name=name, confirmed=True
        )
    bodies = send(web, FIRST_DAY)
    send(web, SECOND_DAY)
    personal = [value for p in PEOPLE for value in p]
    for body in bodies:
        for person in body["personalizations"]:  # type: ignore[attr-defined]
            personal.extend(person["substitutions"].values())
    tokens = [re.search(r"/u/([\w-]+)", v) for v in personal]
    personal.extend(t.group(1) for t in tokens if t)
    personal = [v for v in personal if v not in ("there",)]

    index = web.client.get(f"/archive/{LIST_SLUG}")
    assert index.status_code == 200
    assert f"{LIST_NAME}: past issues" in index.text
    links = re.findall(rf'href="/archive/{LIST_SLUG}/([\d-]+)"', index.text)
    assert links == [SECOND_DAY.isoformat(), FIRST_DAY.isoformat()]  # newest first

    page = web.client.get(f"/archive/{LIST_SLUG}/{FIRST_DAY.isoformat()}")
    assert page.status_code == 200
    assert "Hi there," in page.text
    assert f"{web.settings.public_url}/signup?list={LIST_SLUG}" in page.text
    assert ">Sign up</a>" in page.text and ">Unsubscribe<" not in page.text
    assert "View in your browser" not in page.text  # the page would link to itself
    assert "script-src" not in page.headers["content-security-policy"]
    for text in (index.text, page.text):
        assert "-first_name" not in text and "-unsubscribe_url-" not in text
        assert "/u/" not in text
        for value in personal:
            assert value not in text, value


def test_every_email_links_to_its_web_version(web: Web) -> None:
    audience.add_subscriber(web.sessions, LIST_SLUG, "ana@example.org", confirmed=True)
    (body,) = send(web, FIRST_DAY)
    url = f"https://newsletter.example.org/archive/{LIST_SLUG}/{FIRST_DAY.isoformat()}"
    text, html = (part["value"] for part in body["content"])  # type: ignore[attr-defined]
    assert f"View in your browser: {url}" in text
    assert f'href="{url}"' in html and "View in your browser" in html
    assert web.client.get(url.removeprefix("https://newsletter.example.org")).status_code == 200


def test_unknown_lists_and_unsent_issues_are_not_found(web: Web) -> None:
    assert web.client.get("/archive/no-such-list").status_code == 404
    assert web.client.get(f"/archive/{LIST_SLUG}/2026-11-24").status_code == 404
    empty = web.client.get(f"/archive/{LIST_SLUG}")
    assert empty.status_code == 200 and "Nothing has been sent yet" in empty.text
    assert web.client.get(f"/archive/{LIST_SLUG}/not-a-date").status_code == 422


def test_archive_off_means_no_pages_and_no_links(db_url: str, tmp_path: Path) -> None:
    with open_web(db_url, tmp_path, archive=False) as web:
        audience.add_subscriber(web.sessions, LIST_SLUG, "ana@example.org", confirmed=True)
        (body,) = send(web, FIRST_DAY)
        assert "View in your browser" not in json.dumps(body)
        assert web.client.get(f"/archive/{LIST_SLUG}").status_code == 404
        assert web.client.get(f"/archive/{LIST_SLUG}/2026-11-24").status_code == 404
