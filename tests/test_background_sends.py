"""Confirmations to any address, and no background failure lost or logged with a token."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest
from test_web_support import LIST_NAME, LIST_SLUG, open_web

from newsletter.delivery.senders import OutboxSender
from newsletter.delivery.senders.base import SendResult
from newsletter.delivery.senders.memory import MemorySender
from newsletter.logs import configure_logging
from newsletter.settings import load_settings


def test_a_confirmation_to_a_non_ascii_address_reaches_the_outbox(
    db_url: str, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    with open_web(db_url, tmp_path) as web:
        web.client.app.state.web.sender = OutboxSender(outbox)  # type: ignore[attr-defined]
        answer = web.client.post(
            "/subscribe", json={"email": "josé@bücher.de", "name": "José", "list": LIST_SLUG}
        )
        assert answer.status_code == 200
    (eml,) = outbox.glob("confirm-*.eml")
    message = eml.read_bytes().decode("utf-8")
    # RFC 6532: the local part as UTF-8, the domain in its IDNA (ASCII) form.
    assert "To: José <josé@xn--bcher-kva.de>" in message
    assert f"Please confirm your subscription to {LIST_NAME}" in message


class _Exploding(MemorySender):
    """A sender with a bug: fails with something that is not a NewsletterError."""

    def send(self, body: bytes, *, batch_key: str) -> SendResult:
        text = body.decode("utf-8")
        raise RuntimeError(f"could not send {text[text.index('https://'):][:120]}")


def test_a_failed_background_send_is_logged_as_an_error_with_tokens_masked(
    db_url: str, tmp_path: Path
) -> None:
    stream = io.StringIO()
    handler = configure_logging("kv", "INFO", stream=stream)
    try:
        with open_web(db_url, tmp_path) as web:
            web.client.app.state.web.sender = _Exploding()  # type: ignore[attr-defined]
            answer = web.client.post("/subscribe", json={"email": "ana@example.org"})
            assert answer.status_code == 200
    finally:
        logging.getLogger().removeHandler(handler)
    logged = stream.getvalue()
    failed = [line for line in logged.splitlines() if "event=signup.failed" in line]
    assert len(failed) == 1, logged
    assert "level=error" in failed[0] and "RuntimeError: could not send" in failed[0]
    assert "/confirm/" in failed[0] or "/u/" in failed[0]
    # Only a six-character prefix of any token is shown.
    for token in re.findall(r"/(?:confirm|u)/([A-Za-z0-9_-]+)", failed[0]):
        assert len(token) <= 6, failed[0]


def test_an_http_public_url_is_refused_unless_loopback_and_allowed() -> None:
    from newsletter.errors import SettingsError

    for url in ("http://newsletter.example.org", "https://"):
        with pytest.raises(SettingsError, match="must be an https:// URL"):
            load_settings(public_url=url, allow_insecure_public_url=True)
    with pytest.raises(SettingsError, match="NEWSLETTER_ALLOW_INSECURE_PUBLIC_URL=1"):
        load_settings(public_url="http://127.0.0.1:8000")
    for host in ("127.0.0.1", "localhost", "[::1]"):
        cfg = load_settings(public_url=f"http://{host}:8000", allow_insecure_public_url=True)
        assert cfg.public_url.startswith("http://")


def test_every_command_refuses_an_http_public_url_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from newsletter.cli import app

    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "http://newsletter.example.org")
    for args in (["serve"], ["status"], ["issue", "send", "1", "--yes"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert "NEWSLETTER_PUBLIC_URL must be an https:// URL" in result.output


def test_a_local_trial_on_http_loopback_still_sends_its_confirmation(
    db_url: str, tmp_path: Path
) -> None:
    with open_web(
        db_url,
        tmp_path,
        public_url="http://127.0.0.1:8000",
        allow_insecure_public_url=True,
    ) as web:
        answer = web.client.post("/subscribe", json={"email": "ana@example.org"})
        assert answer.status_code == 200
        (token,) = web.confirm_links()
        text = web.sender.sent[0].decoded()["content"][0]["value"]
        assert f"http://127.0.0.1:8000/confirm/{token}" in text
