"""One sign-up limit across real server processes on one database (SQLite and PostgreSQL).

Two ``newsletter serve`` processes on two ports, one of them with ``--workers 2``: three
uvicorn workers in all, sharing nothing but the database. The limit (5 a minute per
client address) must hold for the sum of their traffic, not for each.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from newsletter.services.signup import SIGNUP_WINDOWS

pytestmark = pytest.mark.slow

CLI = "import sys; from newsletter.cli import main; sys.argv[0] = 'newsletter'; main()"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(
    db_url: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """``newsletter serve`` in a child process (output in ``tmp_path/serve-PORT.log``)."""
    port = _free_port()
    env = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": db_url,
        "NEWSLETTER_SECRET_KEY": "shared-limit-test-secret-0123456789",
        "NEWSLETTER_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    log = (tmp_path / f"serve-{port}.log").open("wb")
    command = [sys.executable, "-c", CLI, "serve", "--port", str(port), *args]
    proc = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"server did not start: {(tmp_path / log.name).read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _signup(base: str, ip: str) -> int:
    # A new connection each time, so the kernel may hand it to either worker.
    response = httpx.post(
        f"{base}/subscribe",
        json={"email": "someone@example.org", "list": "no-such-list"},
        headers={"X-Forwarded-For": ip, "Connection": "close"},
        timeout=10,
    )
    return response.status_code


def test_two_servers_and_two_workers_enforce_one_limit(db_url: str, tmp_path: Path) -> None:
    limit = SIGNUP_WINDOWS[0].limit
    assert limit == 5
    with (
        _server(db_url, tmp_path, "--workers", "2") as first,
        _server(db_url, tmp_path) as second,
    ):
        ip = "203.0.113.7"
        answers = [_signup(first, ip), _signup(second, ip), _signup(first, ip)]
        answers += [_signup(second, ip), _signup(first, ip)]
        # Every attempt counts, whatever became of it (here: an unknown list, 422).
        assert answers == [422] * limit
        assert _signup(second, ip) == 429
        assert _signup(first, ip) == 429
        # Another address has its own budget on both servers.
        assert _signup(second, "203.0.113.8") == 422
