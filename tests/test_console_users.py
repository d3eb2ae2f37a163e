"""``/admin/users``: admins add people (with a one-time link), change roles, disable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import EMAILS, PASSWORD, Console, csrf_of, open_console

from newsletter.services import audit, users
from newsletter.storage.models import UserRole


@pytest.fixture
def console(db_url: str, tmp_path: Path) -> Iterator[Console]:
    with open_console(db_url, tmp_path) as found:
        yield found


def test_admin_adds_a_person_who_sets_a_password_and_signs_in(console: Console) -> None:
    admin, token = console.signed_in(UserRole.ADMIN)
    page = admin.post(
        "/admin/users",
        data={"csrf_token": token, "email": "Nina@Clinic.org", "name": "Nina", "role": "editor"},
    )
    assert page.status_code == 200 and "Added nina@clinic.org as editor." in page.text
    link = re.search(r"https://newsletter\.example\.org(/admin/set-password/[^<\s]+)", page.text)
    assert link
    newcomer = console.client()
    form = csrf_of(newcomer, link.group(1))
    done = newcomer.post(
        link.group(1), data={"csrf_token": form, "password": PASSWORD, "confirm": PASSWORD}
    )
    assert done.status_code == 303 and done.headers["location"] == "/admin/login?done=password"
    assert users.authenticate(console.web.sessions, "nina@clinic.org", PASSWORD, client="t")
    assert (
        next(e.actor for e in audit.entries(console.web.sessions, action="user.add"))
        == (EMAILS[UserRole.ADMIN])
    )


def test_admin_changes_a_role_and_disables_an_account(console: Console) -> None:
    admin, token = console.signed_in(UserRole.ADMIN)
    editor, _ = console.signed_in(UserRole.EDITOR)
    done = admin.post(
        "/admin/users/role",
        data={"csrf_token": token, "email": EMAILS[UserRole.EDITOR], "role": "approver"},
    )
    assert done.status_code == 303
    assert users.get_user(console.web.sessions, EMAILS[UserRole.EDITOR]).role == "approver"
    assert editor.get("/admin").status_code == 303  # a role change ends their session
    done = admin.post(
        "/admin/users/disable", data={"csrf_token": token, "email": EMAILS[UserRole.EDITOR]}
    )
    assert done.status_code == 303
    page = admin.get(done.headers["location"])
    assert "Account disabled" in page.text and "disabled" in page.text


def test_bad_input_is_shown_in_the_form(console: Console) -> None:
    admin, token = console.signed_in(UserRole.ADMIN)
    dup = admin.post(
        "/admin/users",
        data={"csrf_token": token, "email": EMAILS[UserRole.EDITOR], "role": "editor"},
    )
    assert dup.status_code == 400 and "already exists" in dup.text
    role = admin.post(
        "/admin/users", data={"csrf_token": token, "email": "x@clinic.org", "role": "boss"}
    )
    assert role.status_code == 400 and 'id="role-error"' in role.text
    last = admin.post(
        "/admin/users/disable", data={"csrf_token": token, "email": EMAILS[UserRole.ADMIN]}
    )
    assert last.status_code == 409 and "last active admin" in last.text


def test_the_users_page_is_for_admins_only(console: Console) -> None:
    approver, _ = console.signed_in(UserRole.APPROVER)
    assert approver.get("/admin/users").status_code == 403
    assert ">Users<" not in approver.get("/admin").text  # not offered in the navigation
