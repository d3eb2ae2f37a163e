"""The content problems ``newsletter status`` shows: remembered, never stale."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from newsletter.content import loader
from newsletter.content.loader import check_library
from newsletter.services.content_problems import content_problems
from tests.conftest import REPO_ROOT


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    shutil.copytree(REPO_ROOT / "content", folder)
    return folder


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every real library check, by folder."""
    done: list[Path] = []
    real = loader.check_library

    def counting(content_dir: Path) -> loader.LibraryCheck:
        done.append(content_dir)
        return real(content_dir)

    monkeypatch.setattr(loader, "check_library", counting)
    return done


def _expected(content: Path) -> list[str]:
    return [str(p) for p in check_library(content).problems]


def _article(content: Path) -> Path:
    return sorted((content / "articles").glob("*.md"))[0]


def test_an_unchanged_library_is_checked_once(content: Path, checks: list[Path]) -> None:
    first = content_problems(content)
    assert first == _expected(content)
    assert content_problems(content) == first
    assert checks == [content]


def test_an_edit_that_keeps_size_and_time_is_seen(content: Path, checks: list[Path]) -> None:
    assert content_problems(content) == []
    article = _article(content)
    before = article.stat()
    text = article.read_text("utf-8")
    broken = text.replace("title:", "titel:", 1)
    assert len(broken) == len(text) and broken != text
    article.write_text(broken, "utf-8")
    os.utime(article, ns=(before.st_atime_ns, before.st_mtime_ns))
    problems = content_problems(content)
    assert problems == _expected(content) and problems
    assert len(checks) == 2


def test_new_removed_and_renamed_files_are_seen(content: Path, checks: list[Path]) -> None:
    assert content_problems(content) == []
    (content / "tips" / "draft.md").write_text("no front matter\n", "utf-8")
    with_new = content_problems(content)
    assert with_new == _expected(content) and with_new
    (content / "tips" / "draft.md").rename(content / "tips" / "draft.txt")
    assert content_problems(content) == _expected(content) == []
    (content / "tips" / "draft.txt").unlink()
    shutil.rmtree(content / "issues")
    gone = content_problems(content)
    assert gone == _expected(content) and "issues/ folder is missing" in gone[0]
    assert len(checks) == 4


def test_a_missing_folder_and_its_return(content: Path, tmp_path: Path) -> None:
    away = tmp_path / "elsewhere"
    content.rename(away)
    missing = content_problems(content)
    assert missing == _expected(content) and "does not exist" in missing[0]
    away.rename(content)
    assert content_problems(content) == []


def test_an_upgraded_checker_checks_again(
    content: Path, checks: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsletter.services import content_problems as module

    content_problems(content)
    monkeypatch.setattr(module, "_CHECKER_PACKAGES", (*module._CHECKER_PACKAGES, "orjson"))
    content_problems(content)
    assert len(checks) == 2


def test_a_damaged_cache_file_is_checked_again(content: Path, tmp_path: Path) -> None:
    content_problems(content)
    (stored,) = (tmp_path / "cache" / "newsletter").glob("content-*.json")
    stored.write_text('{"key": "x", "problems": ["stale"]}')
    assert content_problems(content) == []
    stored.write_text("garbage")
    assert content_problems(content) == []


def test_no_cache_folder_still_gives_the_problems(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    (content / "tips" / "draft.md").write_text("no front matter\n", "utf-8")
    assert content_problems(content) == _expected(content)
