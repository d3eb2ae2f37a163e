"""The embeddable sign-up examples in docs/web.md work as written."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_web_support import REPO, Web, open_web

DOC = (REPO / "docs" / "web.md").read_text("utf-8")


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        yield app


def _section(title: str) -> str:
    start = DOC.index(title)
    return DOC[start : DOC.index("\n#", start + len(title))]


def test_the_smallest_form_signs_up(web: Web) -> None:
    form = _section("### The smallest form")
    action = re.search(r'action="https://[^/"]+(/[^"]*)"', form)
    assert action is not None and action.group(1) == "/subscribe"
    names = re.findall(r'name="([a-z]+)"', form)
    assert names == ["email", "list"]
    listed = re.search(r'name="list" value="([a-z-]+)"', form)
    assert listed is not None
    answer = web.client.post(
        "/subscribe", data={"email": "ana@example.org", "list": listed.group(1)}
    )
    assert answer.status_code == 200 and len(web.confirm_links()) == 1
    assert "<script" not in form


def test_the_json_example_signs_up(web: Web) -> None:
    example = _section("### From a script: the JSON endpoint")
    payload = re.search(r"-d '(\{.*?\})'", example)
    assert payload is not None
    answer = web.client.post("/subscribe", json=json.loads(payload.group(1)))
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    assert len(web.confirm_links()) == 1
