"""The lists / subscribers / suppressions commands, end to end on the default SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def migrated() -> None:
    code, out = run("db", "upgrade")
    assert code == 0, out
    code, out = run("lists", "create", "back-care", "--name", "Back care")
    assert code == 0, out


def test_commands_refuse_an_empty_database() -> None:
    for args in (
        ["lists", "show"],
        ["subscribers", "show", "a@x.org"],
        ["suppressions", "list"],
        ["subscribers", "export", "--list", "x"],
    ):
        code, out = run(*args)
        assert code == 1, args
        assert "no schema yet: run `newsletter db upgrade`" in out


@pytest.mark.usefixtures("migrated")
def test_lists_create_and_show() -> None:
    code, out = run("lists", "create", "back-care", "--name", "Again")
    assert code == 1 and "already exists" in out
    code, out = run("lists", "create", "Bad Slug", "--name", "X")
    assert code == 2 and "lower-case" in out
    code, out = run("lists", "create", "sciatica", "--name", "Sciatica", "--json")
    assert code == 0 and json.loads(out)["slug"] == "sciatica"
    run("subscribers", "add", "a@x.org", "--list", "back-care", "--confirmed")
    run("subscribers", "add", "b@x.org", "--list", "back-care")
    code, out = run("lists", "show", "--json")
    assert code == 0
    shown = {item["slug"]: item for item in json.loads(out)}
    assert (shown["back-care"]["subscribed"], shown["back-care"]["pending"]) == (1, 1)
    assert shown["back-care"]["sendable"] == 1
    code, out = run("lists", "show")
    assert code == 0 and "back-care" in out and "sciatica" in out
    code, out = run("lists", "show", "nope")
    assert code == 1 and "no list with slug 'nope'" in out


@pytest.mark.usefixtures("migrated")
def test_import_export_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text(
        "\ufeffEmail;Name;City\nann@x.org;Ann Lee;Springfield\nbroken;X;Y\nANN@x.org;Dup;Z\n",
        encoding="utf-8",
    )
    code, out = run(
        "subscribers", "import", str(source), "--list", "back-care", "--report", "rej.csv"
    )
    assert code == 0, out
    assert "added (pending until confirmed)" in out and "rej.csv" in out
    assert Path("rej.csv").read_text(encoding="utf-8-sig").count("\n") == 3

    code, out = run(
        "subscribers", "import", str(source), "--list", "back-care", "--confirmed", "--json"
    )
    summary = json.loads(out)
    assert code == 0
    assert (summary["updated"], summary["skipped"]["invalid"], summary["skipped"]["duplicate"]) == (
        1,
        1,
        1,
    )
    assert summary["skipped_rows"] == {"invalid": [3], "duplicate": [4]}

    code, out = run("subscribers", "export", "--list", "back-care", "-o", "out.csv")
    assert code == 0 and "Exported 1 subscribers" in out
    assert Path("out.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    code, out = run("subscribers", "import", "out.csv", "--list", "back-care", "--json")
    assert json.loads(out)["unchanged"] == 1

    code, out = run("subscribers", "export", "--list", "back-care")
    assert code == 0
    assert "ann@x.org,Ann Lee,,,Springfield" in out

    code, out = run("subscribers", "import", str(tmp_path / "missing.csv"), "--list", "back-care")
    assert code == 1 and "cannot open" in out
    code, out = run("subscribers", "export", "--list", "back-care", "--status", "bogus")
    assert code == 2


@pytest.mark.usefixtures("migrated")
def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text("email\nz@x.org\n", encoding="utf-8")
    code, out = run("subscribers", "import", str(source), "--list", "back-care", "--dry-run")
    assert code == 0 and "Dry run" in out
    code, out = run("subscribers", "show", "z@x.org")
    assert code == 1 and "no subscriber" in out


@pytest.mark.usefixtures("migrated")
def test_add_show_remove_and_suppressions() -> None:
    code, out = run("subscribers", "add", "Pat@X.org", "--list", "back-care", "--name", "Pat")
    assert code == 0 and "pending" in out
    code, out = run("subscribers", "add", "pat@x.org", "--list", "back-care", "--confirmed")
    assert code == 0 and "now subscribed" in out
    code, out = run("subscribers", "show", "PAT@x.org", "--json")
    view = json.loads(out)
    assert view["name"] == "Pat" and view["memberships"][0]["status"] == "subscribed"
    assert view["memberships"][0]["consent"]["confirmed_at"] is not None

    code, out = run("subscribers", "remove", "pat@x.org")
    assert code == 0 and "Unsubscribed" in out
    code, out = run("subscribers", "remove", "pat@x.org", "--list", "back-care")
    assert code == 0 and "nothing changed" in out
    code, out = run("subscribers", "add", "pat@x.org", "--list", "back-care", "--confirmed")
    assert code == 1 and "not re-subscribed" in out
    code, out = run("subscribers", "remove", "nobody@x.org")
    assert code == 1 and "no subscriber" in out

    code, out = run("suppressions", "add", "pat@x.org", "--reason", "spamreport")
    assert code == 0 and "Suppressed" in out
    code, out = run("suppressions", "add", "pat@x.org")
    assert code == 0 and "already suppressed" in out
    code, out = run("suppressions", "add", "x@x.org", "--reason", "because")
    assert code == 2
    code, out = run("suppressions", "list", "--json")
    assert [(s["email"], s["reason"]) for s in json.loads(out)] == [("pat@x.org", "spamreport")]
    code, out = run("subscribers", "show", "pat@x.org")
    assert code == 0 and "suppressed" in out and "spamreport" in out
    code, out = run("suppressions", "remove", "pat@x.org")
    assert code == 0 and "Removed" in out
    code, out = run("suppressions", "remove", "pat@x.org")
    assert code == 1 and "not suppressed" in out
    code, out = run("subscribers", "show", "not an address")
    assert code == 1 and "not a valid email address" in out
