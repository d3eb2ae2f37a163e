"""Editing content from the console: content check's validation, atomic writes, conflicts."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.content.loader import check_library
from newsletter.errors import ContentConflictError, NotFoundError
from newsletter.services import audience, content_edit
from newsletter.services.content_library import LibraryFilter, browse, library_items
from newsletter.settings import load_settings
from newsletter.storage.db import transaction
from newsletter.storage.models import Issue, IssueStatus

REPO = Path(__file__).resolve().parent.parent
ARTICLE = "core-bracing-made-simple"
TIP = "cat-cow-stretch"


@pytest.fixture
def content(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(REPO / "content", target)
    return target


def _article_path(content: Path, slug: str = ARTICLE) -> Path:
    return content / "articles" / f"{slug}.md"


def test_saving_an_unchanged_form_keeps_the_article_valid(content: Path) -> None:
    form = content_edit.open_form(content, "article", ARTICLE)
    assert form.values["title"] == "Core Bracing Made Simple"
    assert form.values["published"] == "2026-11-17"
    before = check_library(content).library.articles[ARTICLE]
    result = content_edit.save(
        content, "article", ARTICLE, values=form.values, body=form.body, version=form.version
    )
    assert result.saved, result.form.problems
    assert check_library(content).library.articles[ARTICLE] == before


def test_every_problem_is_shown_by_field_and_nothing_is_written(content: Path) -> None:
    path = _article_path(content)
    original = path.read_bytes()
    form = content_edit.open_form(content, "article", ARTICLE)
    values = form.values | {"title": "", "url": "http://insecure.example.org", "expires": "soon"}
    result = content_edit.save(
        content, "article", ARTICLE, values=values, body="", version=form.version
    )
    assert not result.saved
    assert set(result.form.problems) >= {"title", "url", "expires"}
    assert "https://" in result.form.problems["url"][0]
    assert path.read_bytes() == original
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_file_changed_on_disk_since_opening_is_a_conflict(content: Path) -> None:
    path = _article_path(content)
    form = content_edit.open_form(content, "article", ARTICLE)
    theirs = path.read_text().replace("Core Bracing Made Simple", "Someone else's title")
    path.write_text(theirs)
    with pytest.raises(ContentConflictError, match="changed on disk since you opened it"):
        content_edit.save(
            content,
            "article",
            ARTICLE,
            values=form.values | {"title": "Mine"},
            body=form.body,
            version=form.version,
        )
    assert path.read_text() == theirs


def test_creating_a_tip_writes_a_valid_file_and_refuses_an_existing_name(content: Path) -> None:
    values = {
        "title": "Walk after lunch",
        "category": "movement",
        "tags": "walking, habits",
        "season": "spring",
        "months": "",
        "caution": "",
    }
    body = "A ten-minute walk loosens the hips. See [our guide](https://clinic.example.org/walk)."
    result = content_edit.save(
        content, "tip", "walk-after-lunch", values=values, body=body, version=""
    )
    assert result.saved, result.form.problems
    tip = check_library(content).library.tips["walk-after-lunch"]
    assert tip.tags == ("walking", "habits")
    assert tip.season == "spring"
    assert "our guide" in tip.body_html
    with pytest.raises(ContentConflictError, match="already exists"):
        content_edit.save(content, "tip", "walk-after-lunch", values=values, body=body, version="")


def test_a_bad_slug_is_a_field_problem_and_never_a_path(content: Path) -> None:
    result = content_edit.save(
        content, "tip", "../../escape", values={"title": "x"}, body="y", version=""
    )
    assert not result.saved
    assert "slug" in result.form.problems
    assert not (content.parent / "escape.md").exists()
    with pytest.raises(NotFoundError):
        content_edit.open_form(content, "tip", "../articles/x")


def test_a_failed_rename_leaves_the_old_file_and_no_temp_file(
    content: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = content / "tips" / f"{TIP}.md"
    original = path.read_bytes()
    form = content_edit.open_form(content, "tip", TIP)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        content_edit.save(
            content, "tip", TIP, values=form.values, body="New text.", version=form.version
        )
    assert path.read_bytes() == original
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_preview_renders_the_item_in_the_email_or_lists_problems(content: Path) -> None:
    cfg = load_settings(content_dir=content, templates_dir=REPO / "templates")
    form = content_edit.open_form(content, "tip", TIP)
    shown = content_edit.preview(cfg, "tip", TIP, form.values, "Breathe **slowly**.")
    assert shown.html is not None and re.search(r"<strong[^>]*>slowly</strong>", shown.html)
    assert "Cat-Cow" in shown.html
    broken = content_edit.preview(cfg, "tip", TIP, form.values | {"title": ""}, "")
    assert broken.html is None
    assert {"title", "body"} <= set(broken.problems)


def _issue(
    sessions: sessionmaker[Session],
    list_id: int,
    day: dt.date,
    *,
    status: IssueStatus,
    articles: list[str],
    tips: list[str],
) -> int:
    with transaction(sessions) as session:
        issue = Issue(
            list_id=list_id,
            issue_date=day,
            status=status,
            subject="s",
            html="h",
            text="t",
            content_hash="0" * 64,
            article_slugs=articles,
            tip_slugs=tips,
        )
        session.add(issue)
        session.flush()
        return issue.id


def test_library_states_fresh_scheduled_used_expired_invalid(
    content: Path, sessions: sessionmaker[Session]
) -> None:
    info = audience.create_list(sessions, "back-care", "Back Care")
    sent = _issue(
        sessions,
        info.id,
        dt.date(2026, 11, 24),
        status=IssueStatus.SENT,
        articles=[ARTICLE],
        tips=[TIP],
    )
    draft = _issue(
        sessions,
        info.id,
        dt.date(2026, 12, 1),
        status=IssueStatus.DRAFT,
        articles=["heat-or-ice-for-back-pain"],
        tips=[],
    )
    _issue(
        sessions,
        info.id,
        dt.date(2026, 12, 8),
        status=IssueStatus.CANCELLED,
        articles=["desk-posture-for-a-happier-back"],
        tips=[],
    )
    (content / "tips" / "broken-tip.md").write_text("---\ntitle: [unclosed\n---\nx\n")
    items = {(i.kind, i.slug): i for i in library_items(content, sessions, dt.date(2026, 12, 10))}
    used = items[("article", ARTICLE)]
    assert used.state == "used" and [u.issue_id for u in used.used_on] == [sent]
    assert items[("tip", TIP)].state == "used"
    scheduled = items[("article", "heat-or-ice-for-back-pain")]
    assert scheduled.state == "scheduled" and scheduled.scheduled_on[0].issue_id == draft
    assert items[("article", "desk-posture-for-a-happier-back")].state == "fresh"
    assert items[("article", "winter-back-care-workshop")].state == "expired"
    broken = items[("tip", "broken-tip")]
    assert broken.state == "invalid" and broken.problems

    winter = browse(
        content, sessions, dt.date(2026, 12, 10), LibraryFilter(kind="tip", season="winter")
    )
    assert ("tip", "warm-up-before-shoveling-snow") in {(i.kind, i.slug) for i in winter.items}
    assert ("tip", "hydration-on-summer-walks") not in {(i.kind, i.slug) for i in winter.items}
    found = browse(content, sessions, dt.date(2026, 12, 10), LibraryFilter(query="BRACING"))
    assert [i.slug for i in found.items] == [ARTICLE]
    assert found.total == len(items)


def test_saving_an_imported_article_keeps_its_source_fields(content: Path) -> None:
    path = _article_path(content)
    text = path.read_text().replace(
        "author:",
        "source_url: https://riverbendclinic.example.org/blog/core\nsource_guid: blog-17\nauthor:",
    )
    path.write_text(text)
    form = content_edit.open_form(content, "article", ARTICLE)
    result = content_edit.save(
        content,
        "article",
        ARTICLE,
        values=form.values | {"title": "Core bracing"},
        body=form.body,
        version=form.version,
    )
    assert result.saved, result.form.problems
    article = check_library(content).library.articles[ARTICLE]
    assert article.title == "Core bracing"
    assert article.source_guid == "blog-17"
    assert article.source_url == "https://riverbendclinic.example.org/blog/core"


def test_the_library_check_sees_a_quick_same_length_rewrite(content: Path) -> None:
    # The loader keeps parsed files by their text, so a rewrite within the same clock
    # tick and of the same length must still be seen.
    path = content / "tips" / f"{TIP}.md"
    assert check_library(content).library.tips[TIP].title == "Cat-Cow for a Stiff Back"
    path.write_text(path.read_text().replace("Cat-Cow for a Stiff Back", "Cat-Cow for a Sore Back"))
    path.write_text(path.read_text().replace("Sore Back", "Sore Neck"))
    assert check_library(content).library.tips[TIP].title == "Cat-Cow for a Sore Neck"
