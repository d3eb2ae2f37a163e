"""NEWSLETTER_FEEDS: the assemble job imports the blog first and the notice says what came in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.errors import SettingsError
from newsletter.services import issues
from newsletter.services.schedule import assemble_upcoming
from newsletter.settings import load_settings
from tests.conftest import REPO_ROOT
from tests.feeds.fixtures import WORDPRESS_RSS
from tests.feeds.server import serve
from tests.test_scheduler_send import ASSEMBLE_AT, env_at, make_list, notices

NEW_POST = "sciatica-whats-normal-when-to-call-us"


def test_assemble_imports_feeds_and_the_notice_names_them(engine: Engine, tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(REPO_ROOT / "content", content)
    make_list(engine)
    with serve({"/feed/": (WORDPRESS_RSS, "application/rss+xml")}) as site:
        dead = "http://127.0.0.1:9/feed/"
        env = env_at(
            engine,
            ASSEMBLE_AT,
            review_emails=["marketing@example.com"],
            feeds=[site.url("/feed/"), dead],
            content_dir=content,
        )
        counts = assemble_upcoming(env, ASSEMBLE_AT)
        again = assemble_upcoming(env, ASSEMBLE_AT)

    assert counts["imported"] == 2 and again["imported"] == 0
    assert (content / "articles" / f"{NEW_POST}.md").exists()
    (view,) = issues.list_issues(engine)
    assert view.subject == "Sciatica: What’s Normal & When to Call Us"  # fresh posts lead
    text = notices(tmp_path / "outbox")[0]["content"][0]["value"]
    assert "New from the blog feed" in text
    assert f"From the feed: {NEW_POST}" in text
    assert f"feed not imported: {dead}: cannot connect" in text


def test_feeds_setting_is_a_comma_separated_list_of_web_urls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSLETTER_FEEDS", "https://a.example/feed/, http://b.example/rss ,")
    assert load_settings().feeds == ["https://a.example/feed/", "http://b.example/rss"]
    monkeypatch.setenv("NEWSLETTER_FEEDS", "ftp://a.example/feed")
    with pytest.raises(SettingsError, match="NEWSLETTER_FEEDS"):
        load_settings()
