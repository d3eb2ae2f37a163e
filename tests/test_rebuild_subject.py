"""A rebuild follows the lead article's new title unless a person chose the subject."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.services import issues, queue, review
from newsletter.settings import load_settings
from tests.test_scheduler_send import ISSUE_DAY, LIST, make_list

REPO_CONTENT = Path(__file__).resolve().parent.parent / "content"


@pytest.fixture
def content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "content"
    shutil.copytree(REPO_CONTENT, copy)
    monkeypatch.setenv("NEWSLETTER_CONTENT_DIR", str(copy))
    return copy


def _retitle(content: Path, slug: str, title: str) -> None:
    path = content / "articles" / f"{slug}.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^title: .*$", f'title: "{title}"', text, count=1), "utf-8")


def test_an_auto_subject_follows_the_edited_lead_article(engine: Engine, content: Path) -> None:
    make_list(engine)
    cfg = load_settings()
    built = issues.build_issue(cfg, engine, LIST, ISSUE_DAY)
    lead = built.article_slugs[0]
    _retitle(content, lead, "Sitting Less, Moving More")

    rebuilt = review.rebuild_for_approval(cfg, engine, built.id)

    assert rebuilt.id != built.id
    assert rebuilt.article_slugs == built.article_slugs
    assert rebuilt.subject == "Sitting Less, Moving More"
    assert not rebuilt.subject_chosen


def test_a_subject_a_person_typed_is_kept(engine: Engine, content: Path) -> None:
    make_list(engine)
    cfg = load_settings()
    queued = queue.queue_issue(
        cfg,
        engine,
        LIST,
        ISSUE_DAY,
        subject="Your back in winter",
        off_schedule=True,
        today=ISSUE_DAY,
    )
    _retitle(content, queued.article_slugs[0], "A New Title Nobody Asked For")

    rebuilt = review.rebuild_for_approval(cfg, engine, queued.id)

    assert rebuilt.subject == "Your back in winter"
    assert rebuilt.subject_chosen and not rebuilt.preheader_chosen
