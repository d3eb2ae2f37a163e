"""``newsletter content check`` through the CLI runner."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from newsletter.cli import app

ARTICLE = """\
---
title: Walking for a stronger back
summary: Short daily walks keep the spine moving.
url: https://clinic.example.org/walking
category: exercise
published: 2024-05-01
author: Dr. Lee
---
"""

TIP = """\
---
title: Short walks add up
category: exercise
---
- Walk for 10 minutes after lunch.
"""

OVERRIDE = """\
---
subject: Spring walking
articles: [walking]
---
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "content"
    for folder in ("articles", "tips", "issues"):
        (root / folder).mkdir(parents=True)
    (root / "articles" / "walking.md").write_text(ARTICLE, encoding="utf-8")
    (root / "tips" / "short-walks.md").write_text(TIP, encoding="utf-8")
    (root / "issues" / "2025-04-01-back-care.md").write_text(OVERRIDE, encoding="utf-8")
    monkeypatch.setenv("NEWSLETTER_CONTENT_DIR", str(root))
    return root


def break_files(content: Path) -> None:
    (content / "articles" / "walking.md").write_text(
        ARTICLE.replace("summary:", "sumary:"), encoding="utf-8"
    )
    (content / "tips" / "short-walks.md").write_text(
        TIP.replace("- Walk", "- [Walk](/walk)"), encoding="utf-8"
    )


def test_clean_library_prints_counts_and_exits_0(runner: CliRunner, content: Path) -> None:
    result = runner.invoke(app, ["content", "check"])
    assert result.exit_code == 0, result.output
    assert f"Content OK in {content}: 1 article, 1 tip, 1 override." in result.stdout


def test_problems_are_listed_and_exit_1(runner: CliRunner, content: Path) -> None:
    break_files(content)
    result = runner.invoke(app, ["content", "check"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    article = content / "articles" / "walking.md"
    tip = content / "tips" / "short-walks.md"
    assert lines == [
        f"{article}: summary: missing required field 'summary'",
        f"{article}:3: sumary: unknown key 'sumary' (did you mean 'summary'?)",
        f"{tip}:5: body: link '/walk' must be an absolute https:// URL",
        "",
        "3 content problems in 2 files.",
    ]


def test_json_when_clean(runner: CliRunner, content: Path) -> None:
    result = runner.invoke(app, ["content", "check", "--json"])
    assert result.exit_code == 0
    data = orjson.loads(result.stdout)
    assert data == {
        "ok": True,
        "content_dir": str(content),
        "articles": 1,
        "tips": 1,
        "overrides": 1,
        "problems": [],
        "warnings": [],
    }


def test_json_with_problems_exits_1(runner: CliRunner, content: Path) -> None:
    break_files(content)
    result = runner.invoke(app, ["content", "check", "--json"])
    assert result.exit_code == 1
    data = orjson.loads(result.stdout)
    assert data["ok"] is False
    # The override still counts: the article it names exists, even though it is broken.
    assert (data["articles"], data["tips"], data["overrides"]) == (0, 0, 1)
    assert data["problems"][1] == {
        "path": str(content / "articles" / "walking.md"),
        "line": 3,
        "field": "sumary",
        "message": "unknown key 'sumary' (did you mean 'summary'?)",
    }
    assert len(data["problems"]) == 3


def test_messages_with_brackets_are_printed_verbatim(runner: CliRunner, content: Path) -> None:
    # Rich markup must not eat "[first, second]" out of a message.
    (content / "articles" / "walking.md").write_text(
        ARTICLE.replace("author:", "tags: back\nauthor:"), encoding="utf-8"
    )
    result = runner.invoke(app, ["content", "check"])
    assert result.exit_code == 1
    assert "tags: must be a list, e.g. [first, second] (got 'back')" in result.stdout


def test_warnings_go_to_stderr_and_do_not_fail(runner: CliRunner, content: Path) -> None:
    (content / "tips" / "notes.txt").write_text("todo", encoding="utf-8")
    result = runner.invoke(app, ["content", "check"])
    assert result.exit_code == 0
    assert "warning:" not in result.stdout
    assert f"warning: {content / 'tips' / 'notes.txt'}: ignored" in result.stderr


def test_missing_content_dir_exits_1(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_CONTENT_DIR", str(tmp_path / "nope"))
    result = runner.invoke(app, ["content", "check"])
    assert result.exit_code == 1
    assert "the content folder does not exist" in result.stdout


def test_usage_error_exits_2(runner: CliRunner, content: Path) -> None:
    result = runner.invoke(app, ["content", "check", "--bogus"])
    assert result.exit_code == 2


def test_shipped_content_passes(runner: CliRunner) -> None:
    # The autouse fixture points NEWSLETTER_CONTENT_DIR at the repository's content/.
    result = runner.invoke(app, ["content", "check", "--json"])
    data = orjson.loads(result.stdout)
    assert result.exit_code == 0, data["problems"]
    assert data["ok"] is True and data["articles"] > 0 and data["tips"] > 0
