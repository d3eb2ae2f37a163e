from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.errors import SettingsError
from newsletter.settings import Settings, env_name, load_settings

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_env_example_lists_every_setting_with_a_comment() -> None:
    lines = (REPO / ".env.example").read_text("utf-8").splitlines()
    for field in Settings.model_fields:
        name = env_name(field)
        index = next((i for i, line in enumerate(lines) if re.match(rf"^#?\s*{name}=", line)), None)
        assert index is not None, f"{name} missing from .env.example"
        # The comment may sit above a commented-out alternative of the same variable.
        above = [line for line in lines[:index] if not re.match(rf"^#?\s*{name}=", line)]
        assert above and above[-1].startswith("# "), f"{name} has no comment above it"


def test_defaults_use_sqlite_and_outbox() -> None:
    cfg = load_settings(database_url="sqlite:///var/newsletter.db")
    assert cfg.effective_sender == "outbox"
    assert cfg.database_url.startswith("sqlite")


def test_sendgrid_key_keeps_its_conventional_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key-for-unit-tests")
    cfg = load_settings()
    assert cfg.sendgrid_api_key is not None
    assert cfg.effective_sender == "sendgrid"
    monkeypatch.setenv("NEWSLETTER_SENDER", "outbox")
    assert load_settings().effective_sender == "outbox"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("NEWSLETTER_BATCH_SIZE", "5000", "less than or equal to 1000"),
        ("NEWSLETTER_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("NEWSLETTER_SEND_SCHEDULE", "every tuesday", "5-field cron"),
        ("NEWSLETTER_PUBLIC_URL", "newsletter.example.org", "http:// or https://"),
        ("NEWSLETTER_SENDER", "carrier-pigeon", "sendgrid"),
        ("NEWSLETTER_REQUEST_TIMEOUT", "-1", "greater than 0"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert variable in str(info.value)
    assert expected in str(info.value)
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 1
    assert variable in result.output
    assert "Traceback" not in result.output


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "NEWSLETTER_BATCH_SIZE=250\nNEWSLETTER_REVIEW_EMAILS=a@example.com, b@example.com\n"
    )
    cfg = load_settings()
    assert cfg.batch_size == 250
    assert cfg.review_emails == ["a@example.com", "b@example.com"]


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.very-secret-value-123456")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "another-secret-signing-key-987")
    monkeypatch.setenv(
        "NEWSLETTER_DATABASE_URL", "postgresql+psycopg://app:hunter2@127.0.0.1:5432/news"
    )
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = orjson.loads(result.stdout)
    assert "very-secret" not in result.output
    assert "signing-key" not in result.output
    assert "hunter2" not in result.output
    assert shown["SENDGRID_API_KEY"].startswith("SG.v")
    assert shown["NEWSLETTER_DATABASE_URL"].endswith("app:******@127.0.0.1:5432/news")
    assert shown["(effective sender)"] == "sendgrid"


def test_usage_error_exits_2() -> None:
    result = runner.invoke(app, ["config", "show", "--no-such-flag"])
    assert result.exit_code == 2


def test_the_environment_wins_over_dotenv_and_arguments_over_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "# a comment\n"
        "NEWSLETTER_BATCH_SIZE=7\n"
        'export NEWSLETTER_FROM_NAME="Quoted Name"\n'
        "SENDGRID_API_KEY=SG.from-the-dotenv-file-000\n"
        "NEWSLETTER_TIPS_PER_ISSUE\n"  # no value: as if absent
    )
    monkeypatch.setenv("NEWSLETTER_BATCH_SIZE", "5")
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", "SG.from-the-environment-111")
    cfg = load_settings()
    assert cfg.batch_size == 5
    assert cfg.from_name == "Quoted Name"
    assert cfg.tips_per_issue == 2
    assert cfg.sendgrid_api_key is not None
    assert cfg.sendgrid_api_key.get_secret_value() == "SG.from-the-environment-111"
    assert load_settings(batch_size=3).batch_size == 3


def test_variable_names_are_not_case_sensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("newsletter_batch_size", "9")
    assert load_settings().batch_size == 9


def test_a_bad_value_in_dotenv_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("NEWSLETTER_SEND_CONCURRENCY=lots\n")
    with pytest.raises(SettingsError, match="NEWSLETTER_SEND_CONCURRENCY: Input should be"):
        load_settings()


def test_reading_the_settings_imports_no_pydantic_settings() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, newsletter.settings as s\n"
        "s.load_settings()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pydantic_settings', 'asyncio'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
