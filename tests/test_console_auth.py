"""Console sign-in: sessions, CSRF, the login throttle, roles, set-password links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import EMAILS, PASSWORD, Console, csrf_of, open_console

from newsletter.errors import ConflictError, LoginError, LoginThrottledError
from newsletter.services import audit, users
from newsletter.storage.models import UserRole
from newsletter.web.console.sessions import COOKIE_NAME


@pytest.fixture
def console(db_url: str, tmp_path: Path) -> Iterator[Console]:
    with open_console(db_url, tmp_path) as found:
        yield found


def test_console_pages_redirect_to_login_without_a_session(console: Console) -> None:
    client = console.client()
    answer = client.get("/admin/audit?who=x")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login?next=/admin/audit%3Fwho%3Dx"
    htmx = client.get("/admin", headers={"hx-request": "true"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"].startswith("/admin/login")


def test_login_sets_a_hardened_cookie_and_lands_on_next(console: Console) -> None:
    client = console.client()
    token = csrf_of(client, "/admin/login")
    answer = client.post(
        "/admin/login",
        data={
            "email": EMAILS[UserRole.EDITOR].upper(),
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/admin/audit",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/audit"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    for flag in ("HttpOnly", "SameSite=lax", "Secure", "Path=/admin", "Max-Age="):
        assert flag.lower() in cookie.lower()
    home = client.get("/admin")
    assert home.status_code == 200
    assert '<meta name="csrf-token"' in home.text and "Editor" in home.text
    # The CSRF token seen before sign-in is replaced at sign-in.
    assert csrf_of(client, "/admin") != token


def test_login_refuses_an_outside_next(console: Console) -> None:
    for target in ("https://evil.example/", "//evil.example/admin", "/signup"):
        client = console.client()
        token = csrf_of(client, "/admin/login")
        answer = client.post(
            "/admin/login",
            data={
                "email": EMAILS[UserRole.EDITOR],
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
        )
        assert answer.headers["location"] == "/admin"


def test_login_without_csrf_is_refused(console: Console) -> None:
    client = console.client()
    csrf_of(client, "/admin/login")
    answer = client.post(
        "/admin/login", data={"email": EMAILS[UserRole.EDITOR], "password": PASSWORD}
    )
    assert answer.status_code == 403
    assert "text/html" in answer.headers["content-type"]
    assert COOKIE_NAME not in answer.headers.get("set-cookie", "") or "csrf" not in answer.text


def test_wrong_password_and_unknown_account_read_the_same(console: Console) -> None:
    client = console.client()
    token = csrf_of(client, "/admin/login")
    wrong = client.post(
        "/admin/login",
        data={"email": EMAILS[UserRole.EDITOR], "password": "nope", "csrf_token": token},
    )
    unknown = client.post(
        "/admin/login", data={"email": "ghost@clinic.org", "password": "nope", "csrf_token": token}
    )
    assert wrong.status_code == unknown.status_code == 400
    message = users.LOGIN_REFUSED
    assert message in wrong.text and message in unknown.text
    assert "ghost@clinic.org" in unknown.text  # the form keeps what was typed


def test_disabled_account_cannot_sign_in_and_its_session_ends(console: Console) -> None:
    client, _ = console.signed_in(UserRole.EDITOR)
    users.disable_user(console.web.sessions, EMAILS[UserRole.EDITOR])
    assert client.get("/admin").status_code == 303
    with pytest.raises(LoginError):
        users.authenticate(
            console.web.sessions, EMAILS[UserRole.EDITOR], PASSWORD, client="127.0.0.1"
        )


def test_logout_ends_the_session_even_for_a_copied_cookie(console: Console) -> None:
    client, token = console.signed_in(UserRole.EDITOR)
    copied = client.cookies.get(COOKIE_NAME)
    answer = client.post("/admin/logout", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/login"
    thief = console.client()
    thief.cookies.set(COOKIE_NAME, copied or "", domain="testserver", path="/admin")
    assert thief.get("/admin").status_code == 303


def test_a_forged_cookie_is_ignored(console: Console) -> None:
    client, _ = console.signed_in(UserRole.ADMIN)
    value = client.cookies.get(COOKIE_NAME) or ""
    forged = console.client()
    forged.cookies.set(COOKIE_NAME, value[:-2] + "xx", domain="testserver", path="/admin")
    assert forged.get("/admin").status_code == 303


def test_login_is_throttled_per_account(console: Console) -> None:
    sessions = console.web.sessions
    email = EMAILS[UserRole.EDITOR]
    for n in range(users.ACCOUNT_WINDOWS[0].limit):
        with pytest.raises(LoginError):
            users.authenticate(sessions, email, "wrong", client=f"10.0.0.{n}")
    with pytest.raises(LoginThrottledError) as caught:
        users.authenticate(sessions, email, PASSWORD, client="10.0.1.1")
    assert caught.value.retry_after > 0
    # Another account is not affected by this one's lockout.
    users.authenticate(sessions, EMAILS[UserRole.ADMIN], PASSWORD, client="10.0.1.1")


def test_login_is_throttled_per_address_and_the_page_says_429(console: Console) -> None:
    sessions = console.web.sessions
    for n in range(users.ADDRESS_WINDOWS[0].limit):
        with pytest.raises(LoginError):
            users.authenticate(sessions, f"nobody{n}@clinic.org", "x", client="testclient")
    client = console.client()
    token = csrf_of(client, "/admin/login")
    answer = client.post(
        "/admin/login",
        data={"email": EMAILS[UserRole.ADMIN], "password": PASSWORD, "csrf_token": token},
    )
    assert answer.status_code == 429
    assert "Too many sign-in attempts" in answer.text and int(answer.headers["retry-after"]) > 0


def test_success_clears_the_account_count(console: Console) -> None:
    sessions = console.web.sessions
    email = EMAILS[UserRole.EDITOR]
    for _ in range(3):
        for _ in range(users.ACCOUNT_WINDOWS[0].limit - 1):
            with pytest.raises(LoginError):
                users.authenticate(sessions, email, "wrong", client="10.9.9.9")
        users.authenticate(sessions, email, PASSWORD, client="10.9.9.9")


def test_set_password_link_works_once(console: Console) -> None:
    cfg, sessions = console.web.settings, console.web.sessions
    new = users.add_user(sessions, "newbie@clinic.org", UserRole.EDITOR)
    with pytest.raises(LoginError):
        users.authenticate(sessions, "newbie@clinic.org", "", client="x")
    path = users.setup_url(cfg, new).removeprefix(cfg.public_url)
    client = console.client()
    token = csrf_of(client, path)
    short = client.post(path, data={"password": "short", "confirm": "short", "csrf_token": token})
    assert short.status_code == 400 and "at least 12 characters" in short.text
    done = client.post(path, data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": token})
    assert done.status_code == 303
    users.authenticate(sessions, "newbie@clinic.org", PASSWORD, client="x")
    again = client.get(path)
    assert again.status_code == 400 and "already used" in again.text


def test_the_last_admin_cannot_be_disabled_or_demoted(console: Console) -> None:
    sessions = console.web.sessions
    with pytest.raises(ConflictError, match="last active admin"):
        users.disable_user(sessions, EMAILS[UserRole.ADMIN])
    with pytest.raises(ConflictError, match="last active admin"):
        users.set_role(sessions, EMAILS[UserRole.ADMIN], UserRole.EDITOR)
    users.set_role(sessions, EMAILS[UserRole.EDITOR], UserRole.ADMIN)
    users.set_role(sessions, EMAILS[UserRole.ADMIN], UserRole.EDITOR)


def test_user_changes_are_audited_and_the_audit_page_shows_them(console: Console) -> None:
    users.set_role(console.web.sessions, EMAILS[UserRole.EDITOR], UserRole.APPROVER, actor="ops")
    client, _ = console.signed_in(UserRole.EDITOR)
    page = client.get("/admin/audit")
    assert page.status_code == 200
    assert "user.set_role" in page.text and "editor -&gt; approver" in page.text
    entries = audit.entries(console.web.sessions, actor="ops")
    assert [e.action for e in entries] == ["user.set_role"]
    assert "user.login" in {e.action for e in audit.entries(console.web.sessions)}


def test_passwords_are_hashed_with_argon2(console: Console) -> None:
    from newsletter.storage.db import transaction
    from newsletter.storage.repositories import users as repo

    with transaction(console.web.sessions) as session:
        stored = repo.get_by_email(session, EMAILS[UserRole.EDITOR]).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_console_errors_are_friendly_html(console: Console) -> None:
    client, _ = console.signed_in(UserRole.EDITOR)
    missing = client.get("/admin/no-such-page")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "There is no console page at this address." in missing.text
    bad = client.get("/admin/audit?before=zero")
    assert bad.status_code == 400 and "before" in bad.text
    assert re.search(r"<nav class=\"nav\"", missing.text)  # inside the console layout


def test_root_redirects_to_signup_or_console(console: Console) -> None:
    assert console.client().get("/").headers["location"] == "/signup"
    client, _ = console.signed_in(UserRole.EDITOR)
    # The cookie is scoped to /admin, so "/" sees no session: the signup page it is.
    assert client.get("/").status_code == 303
