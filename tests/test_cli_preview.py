"""``newsletter issue preview`` against the real content library and templates."""

from __future__ import annotations

import json
import webbrowser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.render import FIRST_NAME_TAG, UNSUBSCRIBE_URL_TAG
from newsletter.services.preview import list_display_name

runner = CliRunner()
# A date the real library covers (articles published well before it).
DATE = "2026-11-24"


def test_preview_writes_html_and_text_with_sample_values(tmp_path: Path) -> None:
    result = runner.invoke(app, ["issue", "preview", "--list", "wellness", "--date", DATE])
    assert result.exit_code == 0, result.output
    html_path = Path("var/preview") / f"{DATE}-wellness.html"
    text_path = html_path.with_suffix(".txt")
    assert str(html_path) in result.output and str(text_path) in result.output
    assert "Subject" in result.output
    html = html_path.read_text(encoding="utf-8")
    text = text_path.read_text(encoding="utf-8")
    assert "Hi Alex," in text and "Hi Alex," in html
    assert "https://newsletter.riverbendclinic.example.org/u/preview" in html
    assert "Unsubscribe: https://newsletter.riverbendclinic.example.org/u/preview" in text
    for part in (html, text):
        assert FIRST_NAME_TAG not in part and UNSUBSCRIBE_URL_TAG not in part
    assert "subscribed to Wellness" in text


def test_preview_json_with_output_file(tmp_path: Path) -> None:
    out = tmp_path / "out" / "week.html"
    result = runner.invoke(
        app, ["issue", "preview", "--list", "wellness", "--date", DATE, "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["html"] == str(out) and data["text"] == str(out.with_suffix(".txt"))
    assert data["date"] == DATE and data["list"] == "wellness"
    assert data["subject"] and len(data["articles"]) == 3 and len(data["tips"]) == 2
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert out.with_suffix(".txt").exists()


def test_preview_open_hands_the_file_to_the_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []

    def fake_open(url: str, *args: object, **kwargs: object) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(webbrowser, "open", fake_open)
    result = runner.invoke(
        app, ["issue", "preview", "--list", "wellness", "--date", DATE, "--open"]
    )
    assert result.exit_code == 0, result.output
    assert opened == [(tmp_path / "var/preview" / f"{DATE}-wellness.html").resolve().as_uri()]


def test_preview_bad_date_is_a_usage_error() -> None:
    result = runner.invoke(app, ["issue", "preview", "--list", "wellness", "--date", "24/11/2026"])
    assert result.exit_code == 2


def test_preview_txt_output_name_is_a_usage_error() -> None:
    result = runner.invoke(app, ["issue", "preview", "--list", "wellness", "-o", "x.txt"])
    assert result.exit_code == 2


def test_preview_without_live_content_exits_1() -> None:
    result = runner.invoke(app, ["issue", "preview", "--list", "wellness", "--date", "1990-01-01"])
    assert result.exit_code == 1
    assert "error:" in result.output
    assert not Path("var/preview").exists()


def test_preview_with_broken_templates_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-templates"
    empty.mkdir()
    monkeypatch.setenv("NEWSLETTER_TEMPLATES_DIR", str(empty))
    result = runner.invoke(app, ["issue", "preview", "--list", "wellness", "--date", DATE])
    assert result.exit_code == 1
    assert "not found" in result.output


def test_list_display_name() -> None:
    assert list_display_name("wellness") == "Wellness"
    assert list_display_name("back-care") == "Back Care"


def test_preview_of_a_built_issue_writes_its_stored_snapshot(tmp_path: Path) -> None:
    for args in (
        ["db", "upgrade"],
        ["lists", "create", "wellness", "--name", "Wellness Weekly"],
        ["issue", "build", "--list", "wellness", "--date", "2026-11-23"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    out = tmp_path / "stored.html"
    result = runner.invoke(app, ["issue", "preview", "1", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["id"] == 1
    html = out.read_text("utf-8")
    assert "Wellness Weekly" in html  # the stored list's name, not the slug titled
    assert FIRST_NAME_TAG not in html
    assert UNSUBSCRIBE_URL_TAG not in html
    assert (tmp_path / "stored.txt").read_text("utf-8").count("Hi Alex,") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["issue", "preview"],
        ["issue", "preview", "1", "--list", "wellness"],
        ["issue", "preview", "1", "--date", "2026-11-23"],
    ],
)
def test_preview_needs_exactly_one_of_issue_or_list(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2


def test_preview_of_a_missing_issue_exits_1() -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["issue", "preview", "42"])
    assert result.exit_code == 1
    assert "issue 42 does not exist" in result.output
