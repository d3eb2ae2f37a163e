"""``newsletter users add|list|disable|set-role`` through the CLI runner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.errors import LoginError
from newsletter.services import users
from newsletter.settings import load_settings
from newsletter.storage.db import make_engine, session_factory

runner = CliRunner()
PASSWORD = "twelve chars or more"


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def migrated() -> None:
    code, out = run("db", "upgrade")
    assert code == 0, out


def _login(email: str, password: str) -> users.UserView:
    engine = make_engine(load_settings().database_url)
    try:
        return users.authenticate(session_factory(engine), email, password, client="cli-test")
    finally:
        engine.dispose()


def test_add_with_password_from_stdin_and_sign_in() -> None:
    code, out = run(
        "users", "add", "Maria@Clinic.org", "--role", "approver", "--name", "Maria",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, out
    assert "Added maria@clinic.org as approver." in out
    assert PASSWORD not in out
    assert _login("maria@clinic.org", PASSWORD).display_name == "Maria"


def test_add_without_password_prints_a_one_time_link() -> None:
    code, out = run("users", "add", "sam@clinic.org", "--role", "editor", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["has_password"] is False
    assert "/admin/set-password/" in data["set_password_url"]
    with pytest.raises(LoginError):
        _login("sam@clinic.org", "")


def test_list_set_role_and_disable() -> None:
    run("users", "add", "a@clinic.org", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    run("users", "add", "b@clinic.org", "--role", "editor", "--password-stdin", stdin=PASSWORD)
    code, out = run("users", "set-role", "b@clinic.org", "approver")
    assert code == 0 and "b@clinic.org is now approver." in out
    code, out = run("users", "disable", "b@clinic.org")
    assert code == 0 and "Disabled b@clinic.org" in out
    code, out = run("users", "list", "--json")
    listed = {u["email"]: u for u in json.loads(out)}
    assert listed["b@clinic.org"]["role"] == "approver" and listed["b@clinic.org"]["disabled"]
    code, out = run("users", "list")
    assert "disabled" in out and "a@clinic.org" in out
    with pytest.raises(LoginError):
        _login("b@clinic.org", PASSWORD)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["users", "add", "x@clinic.org", "--role", "boss"], 2, "use editor|approver|admin"),
        (["users", "set-role", "nobody@clinic.org", "admin"], 1, "no console user"),
        (["users", "disable", "nobody@clinic.org"], 1, "no console user"),
        (["users", "add", "not-an-address", "--role", "editor"], 1, "not a valid email"),
    ],
)
def test_errors_are_clear(args: list[str], code: int, message: str) -> None:
    got, out = run(*args)
    assert got == code, out
    assert message in out and "Traceback" not in out


def test_duplicate_and_short_password_are_refused() -> None:
    run("users", "add", "a@clinic.org", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    code, out = run("users", "add", "A@clinic.org", "--role", "editor")
    assert code == 1 and "already exists" in out
    code, out = run("users", "add", "c@clinic.org", "--role", "editor", "--password-stdin",
                    stdin="short")  # fmt: skip
    assert code == 1 and "at least 12 characters" in out
