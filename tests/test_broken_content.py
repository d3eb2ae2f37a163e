"""A broken content file stops only the issues that need it (issue #10, item 12).

Every other issue is built from the valid files; the problem is named in the issue's
notes, the reviewers' notice and ``newsletter status`` until someone fixes it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.errors import ContentError, FieldError
from newsletter.services import issues, queue
from newsletter.services.schedule import assemble_upcoming
from newsletter.settings import load_settings
from tests.test_scheduler_send import ASSEMBLE_AT, ISSUE_DAY, LIST, env_at, make_list, notices

REPO_CONTENT = Path(__file__).resolve().parent.parent / "content"
BROKEN_TIP = "title: Heat: or ice\nseasons: [winter]\n---\nAn unquoted colon breaks the YAML.\n"


@pytest.fixture
def content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the starter library with one unrelated tip broken."""
    copy = tmp_path / "content"
    shutil.copytree(REPO_CONTENT, copy)
    (copy / "tips" / "zz-broken-tip.md").write_text("---\n" + BROKEN_TIP, encoding="utf-8")
    monkeypatch.setenv("NEWSLETTER_CONTENT_DIR", str(copy))
    return copy


def test_an_unused_broken_file_does_not_block_the_build(engine: Engine, content: Path) -> None:
    make_list(engine)

    built = issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)

    assert built.article_slugs and built.tip_slugs
    assert "zz-broken-tip" not in built.tip_slugs
    [note] = [n for n in built.notes if "problems" in n]
    assert str(content / "tips" / "zz-broken-tip.md") in note
    assert "newsletter content check" in note


def test_a_broken_file_the_issue_names_still_blocks_it(engine: Engine, content: Path) -> None:
    make_list(engine)
    article = sorted((content / "articles").glob("*.md"))[0]
    article.write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")

    with pytest.raises(ContentError) as caught:
        queue.queue_issue(
            load_settings(),
            engine,
            LIST,
            ISSUE_DAY,
            articles=[article.stem],
            off_schedule=True,
            today=ISSUE_DAY,
        )
    assert str(article) in str(caught.value)


def test_a_broken_override_file_for_the_date_blocks_that_issue(
    engine: Engine, content: Path
) -> None:
    make_list(engine)
    own = content / "issues" / f"{ISSUE_DAY.isoformat()}-{LIST}.md"
    own.write_text("---\nsubject: Hello: world\n---\n", encoding="utf-8")

    with pytest.raises(ContentError) as caught:
        issues.build_issue(load_settings(), engine, LIST, ISSUE_DAY)
    assert str(own) in str(caught.value)


def test_the_review_notice_lists_the_left_out_file(
    engine: Engine, content: Path, tmp_path: Path
) -> None:
    make_list(engine)

    counts = assemble_upcoming(
        env_at(engine, ASSEMBLE_AT, review_emails=["marketing@example.com"]), ASSEMBLE_AT
    )

    assert counts["built"] == 1 and counts.get("status") != "failed"
    [notice] = notices(tmp_path / "outbox")
    assert notice["subject"].startswith("Review (1 problem(s) need attention)")
    text = " ".join(str(notice["content"][0]["value"]).split())
    assert "content problem (file left out)" in text
    assert "zz-broken-tip.md" in text


def test_status_lists_content_problems(content: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    shown = runner.invoke(app, ["status"])
    data = runner.invoke(app, ["status", "--json"])

    assert shown.exit_code == 0, shown.output
    assert "Content problems" in shown.output
    assert "zz-broken-tip.md" in " ".join(shown.output.split())
    problems = json.loads(data.output)["content_problems"]
    assert any("zz-broken-tip.md" in p for p in problems)


def test_queue_still_reports_field_problems_with_a_broken_library(
    engine: Engine, content: Path
) -> None:
    make_list(engine)
    with pytest.raises(FieldError) as caught:
        queue.queue_issue(
            load_settings(),
            engine,
            LIST,
            ISSUE_DAY,
            articles=["no-such-article"],
            off_schedule=True,
            today=ISSUE_DAY,
        )
    assert "no-such-article" in str(caught.value)
