"""Helpers for the console tests: an app with users of each role, and signed-in clients.

Plain functions (pytest collects this module but it holds no tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from test_web_support import Web, open_web

from newsletter.services import users
from newsletter.storage.models import UserRole

PASSWORD = "a long enough password 42"
EMAILS = {
    UserRole.EDITOR: "eddie@clinic.org",
    UserRole.APPROVER: "april@clinic.org",
    UserRole.ADMIN: "adam@clinic.org",
}
# Real argon2, with parameters cheap enough for a test to hash dozens of passwords.
users.HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Console:
    web: Web

    @property
    def app(self) -> Any:
        return self.web.client.app

    def client(self) -> TestClient:
        # https: the session cookie is Secure because the public URL is https.
        return TestClient(self.app, base_url="https://testserver", follow_redirects=False)

    def signed_in(self, role: UserRole) -> tuple[TestClient, str]:
        """A client signed in as the user of ``role``, and its CSRF token."""
        client = self.client()
        token = csrf_of(client, "/admin/login")
        answer = client.post(
            "/admin/login",
            data={"email": EMAILS[role], "password": PASSWORD, "csrf_token": token},
        )
        assert answer.status_code == 303, answer.text
        return client, csrf_of(client, "/admin")


def csrf_of(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = _CSRF.search(page.text)
    assert found, f"no csrf_token field on {path}"
    return found.group(1)


@contextmanager
def open_console(db_url: str, tmp_path: Path, **overrides: Any) -> Iterator[Console]:
    with open_web(db_url, tmp_path, **overrides) as web:
        for role, email in EMAILS.items():
            users.add_user(web.sessions, email, role, name=role.value.title(), password=PASSWORD)
        yield Console(web)
