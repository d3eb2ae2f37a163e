"""Command output for scripts and logs: full table values in a pipe, usage errors exit 2."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.scheduling import entry
from newsletter.services import issues
from newsletter.settings import load_settings
from newsletter.storage.db import session_factory
from newsletter.storage.models import Issue
from tests.test_queue import cli_engine
from tests.test_scheduler_send import ISSUE_DAY, LIST

_ = cli_engine  # the fixture: a migrated database with the list and three members
LONG_SUBJECT = "A subject long enough that an 80-column table would cut it " + "x" * 60 + " END"


def test_tables_print_full_values_when_stdout_is_not_a_terminal(cli_engine: Engine) -> None:
    view = issues.build_issue(load_settings(), cli_engine, LIST, ISSUE_DAY)
    with session_factory(cli_engine).begin() as session:
        session.execute(update(Issue).where(Issue.id == view.id).values(subject=LONG_SUBJECT))

    result = CliRunner().invoke(app, ["issue", "list"])

    assert result.exit_code == 0, result.output
    assert LONG_SUBJECT in result.stdout
    assert "…" not in result.stdout


def test_a_malformed_now_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        entry.main(["--once", "--now", "next tuesday"])
    assert stopped.value.code == 2
    assert "not an ISO date-time" in capsys.readouterr().err

    result = CliRunner().invoke(app, ["scheduler", "--once", "--now", "24/11/2026"])
    assert result.exit_code == 2
    assert "not an ISO date-time" in result.output
    assert "Traceback" not in result.output
