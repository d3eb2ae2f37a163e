"""``newsletter issue build|approve|send|test|list|show`` through the real CLI."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from test_issues_support import seed_audience
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.storage.db import make_engine, session_factory

runner = CliRunner()
DATE = "2026-11-24"


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _json(*args: str) -> object:
    return json.loads(_ok(*args, "--json"))


@pytest.fixture
def members() -> int:
    return 5


@pytest.fixture
def ready(members: int) -> None:
    """A migrated database with a list of ``members`` confirmed members."""
    _ok("db", "upgrade")
    _ok("lists", "create", "backcare", "--name", "Back care")
    engine = make_engine(os.environ["NEWSLETTER_DATABASE_URL"])
    seed_audience(session_factory(engine), members)
    engine.dispose()


def test_build_approve_send_show_through_the_outbox(ready: None, tmp_path: Path) -> None:
    built = _json("issue", "build", "--list", "backcare", "--date", DATE)
    assert isinstance(built, dict) and built["status"] == "draft"
    issue_id = str(built["id"])
    assert built["articles"] and built["date"] == DATE

    # Building the same list and date again is refused, unless replacing.
    again = runner.invoke(app, ["issue", "build", "--list", "backcare", "--date", DATE])
    assert again.exit_code == 1
    assert f"already has issue {issue_id}" in again.output
    replaced = _json("issue", "build", "--list", "backcare", "--date", DATE, "--replace")
    assert isinstance(replaced, dict)
    issue_id = str(replaced["id"])

    not_yet = runner.invoke(app, ["issue", "send", issue_id, "--yes"])
    assert not_yet.exit_code == 1 and "approve it first" in not_yet.output

    assert f"Approved issue {issue_id}" in _ok("issue", "approve", issue_id, "--by", "Dr. Lee")
    shown = _json("issue", "show", issue_id)
    assert isinstance(shown, dict)
    assert (shown["status"], shown["approved_by"]) == ("approved", "Dr. Lee")

    report = _json("issue", "send", issue_id, "--yes")
    assert isinstance(report, dict)
    assert (report["status"], report["accepted"], report["ok"]) == ("sent", 5, True)
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert any(name.endswith(".json") for name in files)

    shown = _json("issue", "show", issue_id)
    assert isinstance(shown, dict)
    assert shown["ledger"]["recipients"]["accepted"] == 5
    listed = _json("issue", "list")
    assert isinstance(listed, list)
    assert [(i["id"], i["status"]) for i in listed] == [
        (int(issue_id), "sent"),
        (int(built["id"]), "cancelled"),
    ]
    text = _ok("issue", "show", issue_id)
    assert "accepted" in text and "sent" in text

    # A finished send has nothing left to do: that is success, said plainly.
    rerun = runner.invoke(app, ["issue", "send", issue_id, "--yes"])
    assert rerun.exit_code == 0, rerun.output
    assert "already sent" in rerun.stdout and "nothing to do" in rerun.stdout
    as_json = _json("issue", "send", issue_id, "--yes")
    assert as_json == {"id": int(issue_id), "status": "sent", "ok": True, "nothing_to_do": True}


def test_next_issue_does_not_repeat_what_the_list_received(ready: None) -> None:
    first = _json("issue", "build", "--list", "backcare", "--date", DATE)
    assert isinstance(first, dict)
    _ok("issue", "approve", str(first["id"]))
    _ok("issue", "send", str(first["id"]), "--yes")
    second = _json("issue", "build", "--list", "backcare", "--date", "2026-12-01")
    assert isinstance(second, dict)
    assert not set(first["articles"]) & set(second["articles"])


def test_send_asks_before_sending(ready: None) -> None:
    built = _json("issue", "build", "--list", "backcare", "--date", DATE)
    assert isinstance(built, dict)
    issue_id = str(built["id"])
    _ok("issue", "approve", issue_id)
    declined = runner.invoke(app, ["issue", "send", issue_id], input="n\n")
    assert declined.exit_code == 1
    assert "5 sendable members" in declined.output and "Not sent" in declined.output
    # The question names the issue's date and when SendGrid will deliver it (staged).
    assert "dated Tue 24 Nov 2026" in declined.output
    assert "Stage issue" in declined.output and "SendGrid delivers it" in declined.output
    accepted = runner.invoke(app, ["issue", "send", issue_id], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "accepted" in accepted.stdout
    # The date is past: SendGrid delivers it the stage lead (30 min) from now.
    assert re.search(r"staged; SendGrid delivers at .* 3[01] min from now", accepted.stdout)


@pytest.mark.parametrize("members", [0])
def test_send_to_nobody_exits_1_with_a_clear_message(ready: None) -> None:
    built = _json("issue", "build", "--list", "backcare", "--date", DATE)
    assert isinstance(built, dict)
    _ok("issue", "approve", str(built["id"]))
    result = runner.invoke(app, ["issue", "send", str(built["id"]), "--yes"])
    assert result.exit_code == 1
    assert "'backcare' has no sendable members" in result.output
    assert "Traceback" not in result.output


def test_test_send_goes_only_to_the_given_addresses(ready: None, tmp_path: Path) -> None:
    built = _json("issue", "build", "--list", "backcare", "--date", DATE)
    assert isinstance(built, dict)
    issue_id = str(built["id"])
    result = _json("issue", "test", issue_id, "--to", "me@example.org", "--to", "Boss@Example.org")
    assert isinstance(result, dict)
    assert result["subject"].startswith("[TEST] ")
    assert result["to"] == ["me@example.org", "Boss@example.org"]
    bodies = [json.loads(p.read_text()) for p in (tmp_path / "outbox").glob("*.json")]
    assert len(bodies) == 1
    body = bodies[0]
    assert [p["to"][0]["email"] for p in body["personalizations"]] == result["to"]
    subs = body["personalizations"][0]["substitutions"]
    assert subs["-first_name-"] == "there"
    assert subs["-unsubscribe_url-"].endswith("/u/test-send-preview")
    # No ledger rows: the issue is still a draft with no counts.
    shown = _json("issue", "show", issue_id)
    assert isinstance(shown, dict)
    assert shown["status"] == "draft" and "ledger" not in shown


def test_usage_and_missing_issue_errors(ready: None) -> None:
    assert runner.invoke(app, ["issue", "show", "abc"]).exit_code == 2
    assert runner.invoke(app, ["issue", "build"]).exit_code == 2
    missing = runner.invoke(app, ["issue", "show", "42"])
    assert missing.exit_code == 1 and "issue 42 does not exist" in missing.output
    bad_address = runner.invoke(app, ["issue", "test", "42", "--to", "not-an-address"])
    assert bad_address.exit_code == 1


def test_pause_resume_and_cancel_a_staged_issue(ready: None) -> None:
    built = _json("issue", "build", "--list", "backcare", "--date", DATE)
    assert isinstance(built, dict)
    issue_id = str(built["id"])
    _ok("issue", "approve", issue_id)
    _ok("issue", "send", issue_id, "--yes")
    paused = runner.invoke(app, ["issue", "pause", issue_id, "--yes"])
    assert paused.exit_code == 0
    assert "1 staged batch(es) (5 people) were paused at SendGrid" in paused.output
    resumed = runner.invoke(app, ["issue", "resume", issue_id, "--yes", "--json"])
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["done"] == [1]
    cancelled = runner.invoke(app, ["issue", "cancel", issue_id, "--yes"])
    assert cancelled.exit_code == 0 and "cancelled at SendGrid" in cancelled.output
    shown = json.loads(runner.invoke(app, ["issue", "show", issue_id, "--json"]).stdout)
    notes = [b["settled_by"] for b in shown["problem_batches"]]
    assert notes and all("cancelled at SendGrid by an operator" in n for n in notes)
