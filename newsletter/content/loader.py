"""Load ``content/`` into a validated ``Library``, reporting every problem at once.

Layout: ``articles/<slug>.md``, ``tips/<slug>.md`` and ``issues/YYYY-MM-DD-<list>.md``.
Files are read in path order so that problems and the library come out the same way
on every machine.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from newsletter.content.frontmatter import Document, FrontMatterError, parse, read_text
from newsletter.content.models import IssueOverride, Library
from newsletter.content.validate import SLUG_RE, article_from, override_from, tip_from
from newsletter.errors import ContentError, ContentProblem

ARTICLES_DIR = "articles"
TIPS_DIR = "tips"
ISSUES_DIR = "issues"
FOLDERS = (ARTICLES_DIR, TIPS_DIR, ISSUES_DIR)

T = TypeVar("T")


@dataclass(frozen=True)
class LibraryCheck:
    """The outcome of reading ``content/``: the valid part, problems and warnings.

    ``library`` holds only the files that passed, so counts are still meaningful
    when there are problems; build an issue from it only through ``library_for_issue``,
    which refuses when a problem touches that issue.
    """

    library: Library
    problems: tuple[ContentProblem, ...]
    warnings: tuple[ContentProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def load_library(content_dir: Path) -> Library:
    """The whole library, or ``ContentError`` listing every problem found."""
    result = check_library(content_dir)
    if result.problems:
        raise ContentError(list(result.problems))
    return result.library


def library_for_issue(
    content_dir: Path,
    list_slug: str,
    issue_date: dt.date,
    *,
    wanted: Collection[str] = (),
) -> tuple[Library, tuple[ContentProblem, ...]]:
    """The library one issue is built from, and the problems of the files left out of it.

    A broken file only stops an issue that depends on it: a problem with a folder, with
    this list's override file for ``issue_date``, or with an article or tip the issue
    names (``wanted``, plus what that override file names) raises ``ContentError``. Any
    other broken file is left out, so one typo in an unrelated tip does not cost a week's
    issue; the caller reports the returned problems (issue notes, review notice, status).
    """
    check = check_library(content_dir)
    override = check.library.overrides.get((list_slug, issue_date))
    names = set(wanted)
    if override is not None:
        names.update(override.articles, override.tips)
    own_file = content_dir / ISSUES_DIR / f"{issue_date.isoformat()}-{list_slug}.md"
    blocking = [p for p in check.problems if _blocks(p.path, content_dir, own_file, names)]
    if blocking:
        raise ContentError(blocking)
    return check.library, check.problems


def _blocks(path: Path, content_dir: Path, own_file: Path, names: set[str]) -> bool:
    if path == own_file:
        return True
    if path.parent.parent != content_dir or path.parent.name not in FOLDERS:
        return True  # the folder itself (missing, not a folder): nothing is safe to use
    return path.parent.name in (ARTICLES_DIR, TIPS_DIR) and path.stem in names


def check_library(content_dir: Path) -> LibraryCheck:
    """Read and validate every content file without raising on content problems."""
    problems: list[ContentProblem] = []
    warnings: list[ContentProblem] = []
    if not content_dir.is_dir():
        what = "is not a folder" if content_dir.exists() else "does not exist"
        problems.append(
            ContentProblem(
                content_dir,
                f"the content folder {what} (set NEWSLETTER_CONTENT_DIR to the folder "
                "holding articles/, tips/ and issues/)",
            )
        )
        return LibraryCheck(Library(), tuple(problems), ())

    files = {name: _markdown_files(content_dir / name, problems, warnings) for name in FOLDERS}
    articles = _load_all(files[ARTICLES_DIR], article_from, problems)
    tips = _load_all(files[TIPS_DIR], tip_from, problems)
    overrides = _load_all(files[ISSUES_DIR], override_from, problems)

    # Cross-check against every file name, not only the valid files: a broken article
    # already has its own problem, and calling it "unknown" as well would mislead.
    article_names = {p.stem for p in files[ARTICLES_DIR] if SLUG_RE.fullmatch(p.stem)}
    tip_names = {p.stem for p in files[TIPS_DIR] if SLUG_RE.fullmatch(p.stem)}
    good_overrides: dict[tuple[str, dt.date], IssueOverride] = {}
    for doc, override in overrides.values():
        found = _unknown_refs(content_dir, doc, article_names, tip_names)
        problems.extend(found)
        if override is not None and not found:
            good_overrides[(override.list_slug, override.issue_date)] = override

    library = Library(
        articles={a.slug: a for _, a in articles.values() if a is not None},
        tips={t.slug: t for _, t in tips.values() if t is not None},
        overrides={key: good_overrides[key] for key in sorted(good_overrides)},
    )
    return LibraryCheck(library, tuple(_ordered(problems)), tuple(_ordered(warnings)))


def _markdown_files(
    folder: Path, problems: list[ContentProblem], warnings: list[ContentProblem]
) -> list[Path]:
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "is missing"
        problems.append(
            ContentProblem(folder, f"the {folder.name}/ folder {what}; create it (it may be empty)")
        )
        return []
    found: list[Path] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue  # .gitkeep, editor swap files, .DS_Store
        if path.is_dir():
            warnings.append(ContentProblem(path, "ignored: sub-folders are not read"))
        elif path.suffix != ".md":
            warnings.append(ContentProblem(path, "ignored: only files ending in .md are read"))
        else:
            found.append(path)
    return found


def _load_all(
    paths: Iterable[Path],
    build: Callable[[Document], tuple[T | None, list[ContentProblem]]],
    problems: list[ContentProblem],
) -> dict[Path, tuple[Document, T | None]]:
    """Every file that parsed, in path order, with its model (None when invalid)."""
    loaded: dict[Path, tuple[Document, T | None]] = {}
    for path in paths:
        try:
            text = read_text(path)
            doc, item, found = _checked(path, text, build)
        except FrontMatterError as exc:
            problems.append(exc.problem)
            continue
        problems.extend(found)
        loaded[path] = (doc, item)
    return loaded


# Checked files by path, validator and a digest of their text: YAML and Markdown parsing
# is nearly all of a library check, and the console and the scheduler check the library
# again and again while its files rarely change. Keyed by content, not by modification
# time, because file times tick coarsely and two quick saves of one length would look
# the same.
_CHECKED: dict[tuple[Path, str, bytes], tuple[object, object, tuple[ContentProblem, ...]]] = {}
_CHECKED_LIMIT = 20_000


def _checked(
    path: Path, text: str, build: Callable[[Document], tuple[T | None, list[ContentProblem]]]
) -> tuple[Document, T | None, list[ContentProblem]]:
    key = (path, build.__qualname__, hashlib.blake2b(text.encode("utf-8")).digest())
    hit = _CHECKED.get(key)
    if hit is not None:
        doc, item, found = hit
        return doc, item, list(found)  # type: ignore[return-value]  # stored below for build
    parsed = parse(path, text)
    built, problems = build(parsed)
    if len(_CHECKED) >= _CHECKED_LIMIT:
        _CHECKED.clear()
    _CHECKED[key] = (parsed, built, tuple(problems))
    return parsed, built, problems


def _unknown_refs(
    content_dir: Path,
    doc: Document,
    article_names: set[str],
    tip_names: set[str],
) -> list[ContentProblem]:
    # Reads the raw front matter so that references are checked even in a file with
    # other problems; non-text items were already reported as type errors.
    problems: list[ContentProblem] = []
    for key, known, folder in (
        ("articles", article_names, ARTICLES_DIR),
        ("tips", tip_names, TIPS_DIR),
    ):
        slugs = doc.data.get(key)
        if not isinstance(slugs, list):
            continue
        for index, slug in enumerate(slugs):
            if not isinstance(slug, str) or slug in known:
                continue
            noun = key.removesuffix("s")
            message = f"unknown {noun} {slug!r}: there is no {content_dir / folder / slug}.md"
            close = difflib.get_close_matches(slug, sorted(known), n=1, cutoff=0.6)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            problems.append(
                ContentProblem(doc.path, message, field=key, line=doc.line_of((key, index)))
            )
    return problems


def _ordered(problems: list[ContentProblem]) -> list[ContentProblem]:
    # Stable: within one file, problems stay in the order they were found unless a line
    # number says otherwise, so the list reads top to bottom like the file.
    return sorted(problems, key=lambda p: (str(p.path), p.line or 0))
