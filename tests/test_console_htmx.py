"""htmx partial answers: the subscriber search and the content filters swap only their results."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import Console, open_console
from test_web_support import LIST_SLUG

from newsletter.services import audience
from newsletter.storage.models import UserRole
from newsletter.web.console.sessions import CSRF_HEADER

HTMX = {"HX-Request": "true"}


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    # The web layer only: SQLite is enough (the storage reads are tested on both).
    from newsletter.storage import migrate
    from newsletter.storage.db import make_engine

    url = f"sqlite:///{tmp_path / 'console.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    with open_console(url, tmp_path) as found:
        for email in ("ana@example.org", "anabel@example.org", "bo@example.org"):
            audience.add_subscriber(found.web.sessions, LIST_SLUG, email, confirmed=True)
        yield found


def test_subscriber_search_answers_htmx_with_the_results_only(console: Console) -> None:
    client, _ = console.signed_in(UserRole.EDITOR)
    part = client.get(
        "/admin/subscribers?q=ana", headers=HTMX | {"HX-Target": "subscriber-results"}
    )
    assert part.status_code == 200
    assert part.text.startswith('<div id="subscriber-results"')
    assert "<html" not in part.text and "<nav" not in part.text
    assert "ana@example.org" in part.text and "anabel@example.org" in part.text
    assert "bo@example.org" not in part.text
    assert "HX-Request" in part.headers["vary"]

    # Without htmx (no JavaScript), a history restore, or another target: the whole page.
    for headers in (
        {},
        HTMX | {"HX-Target": "subscriber-results", "HX-History-Restore-Request": "true"},
        HTMX | {"HX-Target": "main"},
    ):
        page = client.get("/admin/subscribers?q=ana", headers=headers)
        assert page.text.startswith("<!doctype html>"), headers
        assert 'hx-get="/admin/subscribers"' in page.text
        assert '<div id="subscriber-results"' in page.text and "anabel@example.org" in page.text


def test_user_text_in_a_partial_is_escaped(console: Console) -> None:
    client, _ = console.signed_in(UserRole.EDITOR)
    part = client.get(
        "/admin/subscribers",
        params={"q": "<b>x"},
        headers=HTMX | {"HX-Target": "subscriber-results"},
    )
    assert "&lt;b&gt;x" in part.text and "<b>x" not in part.text


def test_content_filters_answer_htmx_with_the_table_only(console: Console) -> None:
    client, _ = console.signed_in(UserRole.EDITOR)
    part = client.get("/admin/content?kind=tip", headers=HTMX | {"HX-Target": "content-results"})
    assert part.status_code == 200
    assert part.text.startswith('<div id="content-results"')
    assert "<form" not in part.text  # the filter form stays as the person left it
    assert "/admin/content/tip/" in part.text and "/admin/content/article/" not in part.text
    page = client.get("/admin/content?kind=tip")
    assert page.text.startswith("<!doctype html>") and 'hx-target="#content-results"' in page.text


def test_an_htmx_post_is_accepted_with_the_meta_token_in_its_header(console: Console) -> None:
    """What console.js does for every htmx request: the token travels as X-CSRF-Token."""
    client, _ = console.signed_in(UserRole.ADMIN)
    page = client.get("/admin/users")
    meta = page.text.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
    answer = client.post(
        "/admin/users",
        data={"email": "new.person@example.org", "name": "New", "role": "editor"},
        headers=HTMX | {CSRF_HEADER: meta},
    )
    assert answer.status_code in (200, 303), answer.text[:300]
    assert "new.person@example.org" in client.get("/admin/users").text
