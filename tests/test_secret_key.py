"""No built-in signing key: every token-making command refuses a missing, public or short key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from newsletter.audience.tokens import TokenSigner
from newsletter.cli import app
from newsletter.errors import SettingsError
from newsletter.scheduling.entry import main as scheduler_main
from newsletter.services.quickstart import ensure_demo_key
from newsletter.settings import (
    DEMO_SECRET_KEY_FILE,
    DEV_SECRET_KEY,
    MAKE_SECRET_KEY,
    load_settings,
)
from newsletter.web import create_app

runner = CliRunner()
GOOD = "k" * 32
BAD_KEYS = {"unset": "", "development": DEV_SECRET_KEY, "short": "k" * 31}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_missing_public_or_short_key_is_refused_with_the_recipe(key: str) -> None:
    cfg = load_settings(secret_key=SecretStr(key))
    with pytest.raises(SettingsError) as caught:
        cfg.signing_key()
    assert MAKE_SECRET_KEY in str(caught.value)
    assert "NEWSLETTER_SECRET_KEY" in str(caught.value)
    with pytest.raises(SettingsError):
        TokenSigner.from_settings(cfg)


def test_32_bytes_is_enough_and_multibyte_characters_count_as_bytes() -> None:
    assert load_settings(secret_key=SecretStr(GOOD)).signing_key() == GOOD
    assert load_settings(secret_key=SecretStr("é" * 16)).signing_key() == "é" * 16
    with pytest.raises(SettingsError, match="31 bytes"):
        load_settings(secret_key=SecretStr("é" * 15 + "x")).signing_key()


def test_the_development_key_is_refused_as_a_fallback_too() -> None:
    cfg = load_settings(secret_key=SecretStr(GOOD), secret_key_fallbacks=[DEV_SECRET_KEY])
    with pytest.raises(SettingsError, match="FALLBACKS holds the built-in development key"):
        TokenSigner.from_settings(cfg)


@pytest.mark.parametrize(
    "args",
    [
        ["issue", "send", "1", "--yes"],
        ["issue", "test", "1", "--to", "me@example.org"],
        ["serve", "--port", "8765"],
    ],
    ids=["issue-send", "issue-test", "serve"],
)
@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_commands_refuse_to_run_on_a_bad_key(
    monkeypatch: pytest.MonkeyPatch, args: list[str], key: str
) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", key)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "secrets.token_urlsafe(48)" in result.output
    assert "Traceback" not in result.output


def test_the_scheduler_refuses_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", DEV_SECRET_KEY)
    assert scheduler_main(["--once"]) == 1
    assert "built-in development key" in capsys.readouterr().err


def test_the_web_app_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "too-short")
    with pytest.raises(SettingsError, match="9 bytes long"):
        create_app()


def test_quickstart_makes_a_private_demo_key_once_and_other_commands_use_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    assert not DEMO_SECRET_KEY_FILE.exists()
    cfg = ensure_demo_key(load_settings())
    key = cfg.signing_key()
    assert len(key) >= 60
    path = tmp_path / DEMO_SECRET_KEY_FILE
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The next run, and `newsletter serve` after it, use the same key: old demo links work.
    later = load_settings()
    assert later.secret_key_from_file and later.signing_key() == key
    assert ensure_demo_key(load_settings()).signing_key() == key
    # A key that is set is never replaced by the demo's.
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "x" * 40)
    assert ensure_demo_key(load_settings()).signing_key() == "x" * 40
