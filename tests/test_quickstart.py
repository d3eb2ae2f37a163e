"""The README's run command: a fresh directory ends with this week's issue in the outbox."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.services import users
from newsletter.settings import load_settings
from newsletter.storage.db import make_engine, session_factory
from newsletter.storage.models import UserRole

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CSV = REPO / "examples" / "subscribers.csv"
runner = CliRunner()


def _outbox_recipients(outbox: Path) -> list[str]:
    emails = []
    for body in sorted(outbox.glob("*.json")):
        for personalization in json.loads(body.read_text("utf-8"))["personalizations"]:
            emails.extend(to["email"] for to in personalization["to"])
    return emails


def test_quickstart_sends_once_to_the_outbox_and_is_idempotent(tmp_path: Path) -> None:
    first = runner.invoke(app, ["quickstart", "--csv", str(EXAMPLE_CSV), "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["list_created"] is True
    assert report["imported"]["added"] == 50
    assert report["issue"]["status_before"] == "draft"
    assert report["send"]["status"] == "sent"

    outbox = tmp_path / "outbox"
    sent = _outbox_recipients(outbox)
    assert len(sent) == 50
    assert len(set(sent)) == 50
    assert list(outbox.glob("*.eml")), "a readable copy of the first recipient is written"
    preview = Path(report["preview_html"])
    assert preview.is_file()
    assert report["issue"]["subject"] in preview.read_text("utf-8")

    console = report["console"]
    assert console["url"] == "http://127.0.0.1:8000/admin"
    _can_sign_in(console["email"], console["password"])

    second = runner.invoke(app, ["quickstart", "--csv", str(EXAMPLE_CSV)])
    assert second.exit_code == 0, second.output
    assert "Already sent" in second.stdout
    # The password is shown once, on the run that made the account.
    assert f"sign in as {console['email']} (its password was shown" in second.stdout
    assert console["password"] not in second.stdout
    assert "50 unchanged" in second.stdout
    assert len(_outbox_recipients(outbox)) == 50


def test_quickstart_with_a_missing_csv_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["quickstart", "--csv", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert "nope.csv" in result.output
    assert "Traceback" not in result.output


def _can_sign_in(email: str, password: str) -> None:
    cfg = load_settings()
    engine = make_engine(cfg.database_url)
    try:
        user = users.authenticate(session_factory(engine), email, password, client="test")
        assert user.role == UserRole.ADMIN
    finally:
        engine.dispose()
