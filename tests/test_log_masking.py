"""A full run's logs never hold a token or key it made: serve (access log included) and CLI.

Quickstart (CLI) sends the demo issue to the outbox; ``newsletter serve`` then takes a
sign-up, shows and confirms the link, shows and uses an unsubscribe link, and is asked
for a preview with the admin token in the query string. Every token found in the
outbox, and every secret setting, is then looked for in everything that was logged.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import REPO_ROOT
from test_shared_limits import _server

pytestmark = pytest.mark.slow

CLI = "import sys; from newsletter.cli import main; sys.argv[0] = 'newsletter'; main()"
SECRET = "log-masking-secret-key-0123456789-abcdefgh"
ADMIN = "log-masking-admin-token-0123456789"


def _tokens(outbox: Path) -> set[str]:
    found: set[str] = set()
    for path in outbox.glob("*.json"):
        text = path.read_text("utf-8")
        found.update(re.findall(r"/(?:u|confirm)/([A-Za-z0-9_-]{20,})", text))
    return found


def test_no_token_or_key_reaches_any_log(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_ADMIN_TOKEN": ADMIN,
        "NEWSLETTER_LOG_LEVEL": "DEBUG",
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path / 'flow.db'}",
        "NEWSLETTER_OUTBOX_DIR": str(tmp_path / "outbox"),
        "NEWSLETTER_CONTENT_DIR": str(REPO_ROOT / "content"),
        "NEWSLETTER_TEMPLATES_DIR": str(REPO_ROOT / "templates"),
    }
    csv = REPO_ROOT / "examples" / "subscribers.csv"
    quick = subprocess.run(
        [sys.executable, "-c", CLI, "quickstart", "--csv", str(csv)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert quick.returncode == 0, quick.stdout + quick.stderr
    with (
        _server(env["NEWSLETTER_DATABASE_URL"], tmp_path, env=env) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        client.post("/subscribe", json={"email": "maria@example.org", "name": "Maria"})
        deadline = time.monotonic() + 20
        while not list((tmp_path / "outbox").glob("confirm-*.json")):
            assert time.monotonic() < deadline, "no confirmation in the outbox"
            time.sleep(0.1)
        tokens = _tokens(tmp_path / "outbox")
        for token in tokens:
            for kind in ("confirm", "u"):
                client.get(f"/{kind}/{token}")
                client.post(f"/{kind}/{token}")
        client.get(f"/issues/1/preview?token={ADMIN}")
        client.get("/issues/1/preview", headers={"authorization": f"Bearer {ADMIN}"})
    (log_path,) = tmp_path.glob("serve-*.log")
    logged = log_path.read_text("utf-8") + quick.stderr
    assert "GET /confirm/" in logged and "POST /u/" in logged, "no access log: test is blind"
    assert len(tokens) >= 5, tokens  # the demo's unsubscribe tokens and Maria's confirm token
    for secret in (*tokens, SECRET, ADMIN):
        assert secret not in logged, secret[:8]
