"""Names are checked where they enter: the signup form, ``subscribers add``, CSV import."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from test_cli_audience import run
from test_web_support import LIST_SLUG, Web, open_web

from newsletter.audience.csv_import import SkipReason
from newsletter.audience.names import clean_name, name_problem
from newsletter.errors import PersonNameError
from newsletter.services import audience

INJECTION = "<a href=https://evil.example/login>Verify your account</a>"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Ana María O'Brien-Núñez", None),
        ("李小龍", None),
        ("x" * 100, None),
        ("x" * 101, "longer than 100"),
        (INJECTION, "< or >"),
        ("Ana>", "< or >"),
        ("Ana\x1b[31m", "U+001B"),
        ("Ana\nBcc: x", "U+000A"),
        ("Ana\x85", "U+0085"),
        ("Ana\u202egnp.exe", "U+202E"),
    ],
)
def test_name_rules(name: str, problem: str | None) -> None:
    found = name_problem(name)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_clean_name_names_the_field() -> None:
    assert clean_name("  Ana  ") == "Ana"
    assert clean_name("   ") is None
    with pytest.raises(PersonNameError, match="first name must not contain < or >"):
        clean_name("<b>", "first name")


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[Web]:
    with open_web(db_url, tmp_path) as app:
        yield app


@pytest.mark.parametrize(
    ("name", "problem"), [(INJECTION, "< or >"), ("n" * 101, "100"), ("Ana\u2028", "control")]
)
def test_signup_refuses_a_bad_name_and_stores_nothing(web: Web, name: str, problem: str) -> None:
    body = {"email": "ana@example.org", "name": name, "list": LIST_SLUG}
    as_json = web.client.post("/subscribe", json=body)
    assert as_json.status_code == 422
    assert problem in as_json.json()["detail"]
    as_form = web.client.post("/subscribe", data=body)
    assert as_form.status_code == 422 and "Please check the form" in as_form.text
    assert web.sender.sent == []
    with pytest.raises(Exception, match="no subscriber"):
        audience.show_subscriber(web.sessions, "ana@example.org")


def test_the_service_refuses_a_bad_name_too(sessions: sessionmaker[Session]) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    with pytest.raises(PersonNameError, match="name must not contain < or >"):
        audience.add_subscriber(sessions, "back-care", "ana@example.org", name=INJECTION)
    with pytest.raises(PersonNameError, match="first name is longer than 100"):
        audience.add_subscriber(sessions, "back-care", "ana@example.org", first_name="a" * 101)


def test_csv_import_reports_bad_names_like_any_bad_row(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    path = tmp_path / "people.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "first_name", "last_name"])
        out.writerow(["ok@example.org", "Ana", "Lopez"])
        out.writerow(["bad@example.org", INJECTION, ""])
        out.writerow(["ctl@example.org", "Bo", "B\x07"])
        out.writerow(["ok2@example.org", "Cy", ""])
    summary = audience.import_csv(sessions, path, "back-care")
    assert summary.added == 2
    assert summary.skipped[SkipReason.INVALID] == 2
    assert summary.skipped_rows[SkipReason.INVALID] == [3, 4]
    assert audience.show_subscriber(sessions, "ok@example.org").first_name == "Ana"
    with pytest.raises(Exception, match="no subscriber"):
        audience.show_subscriber(sessions, "bad@example.org")


def test_subscribers_add_refuses_a_bad_name_with_exit_1() -> None:
    assert run("db", "upgrade")[0] == 0
    assert run("lists", "create", "back-care", "--name", "Back care")[0] == 0
    code, out = run("subscribers", "add", "a@x.org", "--list", "back-care", "--name", INJECTION)
    assert code == 1
    assert "name must not contain < or >" in out and "Traceback" not in out
    code, out = run(
        "subscribers", "add", "a@x.org", "--list", "back-care", "--first-name", "Ana\x1b"
    )
    assert code == 1 and "control characters" in out
    code, out = run("subscribers", "show", "a@x.org")
    assert code == 1
