"""Import the clinic's blog into ``content/articles/``: ``import-feed`` and ``import-page``.

A post becomes a new article file at most once: each file records the post's identity
(``source_guid``) and every existing file is read for it (and for its ``url``) before
anything is written. Nothing is ever overwritten, each file is checked with the same
rules as ``newsletter content check`` before it is written, and a feed that cannot be
fetched or read writes nothing at all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from newsletter.content.frontmatter import FrontMatterError, parse, read_text
from newsletter.content.loader import ARTICLES_DIR
from newsletter.content.validate import article_from
from newsletter.errors import FeedError
from newsletter.feeds import fetch as fetching
from newsletter.feeds.draft import Draft
from newsletter.feeds.page import read_page
from newsletter.feeds.posts import read_feed
from newsletter.feeds.text import slugify
from newsletter.settings import Settings

Fetcher = Callable[..., fetching.Fetched]


@dataclass(frozen=True)
class Written:
    slug: str
    path: Path
    title: str
    url: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    title: str
    url: str
    reason: str


@dataclass
class ImportResult:
    """What one import did (or, with ``dry_run``, would do)."""

    source: str
    title: str
    dry_run: bool
    written: list[Written] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    already: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "title": self.title,
            "dry_run": self.dry_run,
            "imported": [
                {
                    "slug": w.slug,
                    "path": str(w.path),
                    "title": w.title,
                    "url": w.url,
                    "notes": list(w.notes),
                }
                for w in self.written
            ],
            "skipped": [{"title": s.title, "url": s.url, "reason": s.reason} for s in self.skipped],
            "already_imported": self.already,
        }


@dataclass
class _Known:
    """What ``content/articles`` already holds: post identities, links and slugs."""

    ids: set[str] = field(default_factory=set)
    slugs: set[str] = field(default_factory=set)

    def has(self, draft: Draft) -> bool:
        return draft.guid in self.ids or draft.url in self.ids

    def add(self, draft: Draft, slug: str) -> None:
        self.ids.update((draft.guid, draft.url))
        self.slugs.add(slug)

    def free_slug(self, base: str) -> str:
        slug, n = base, 2
        while slug in self.slugs:
            slug = f"{base}-{n}"
            n += 1
        return slug


Reader = Callable[[fetching.Fetched, Settings, str | None, dt.date], tuple[str, Sequence[Draft]]]


def import_feed(
    cfg: Settings,
    url: str,
    *,
    category: str | None = None,
    dry_run: bool = False,
    today: dt.date | None = None,
    fetcher: Fetcher = fetching.fetch,
) -> ImportResult:
    """Write one article file per new https post of the RSS/Atom feed at ``url``."""
    return _run(cfg, url, _feed_drafts, category, dry_run, today, fetcher)


def import_page(
    cfg: Settings,
    url: str,
    *,
    category: str | None = None,
    dry_run: bool = False,
    today: dt.date | None = None,
    fetcher: Fetcher = fetching.fetch,
) -> ImportResult:
    """Write one article file for the web page at ``url`` (unless it was imported before)."""
    return _run(cfg, url, _page_drafts, category, dry_run, today, fetcher)


def _feed_drafts(
    fetched: fetching.Fetched, cfg: Settings, category: str | None, today: dt.date
) -> tuple[str, Sequence[Draft]]:
    feed = read_feed(fetched, category=category, zone=cfg.zone, today=today)
    return feed.title, feed.drafts


def _page_drafts(
    fetched: fetching.Fetched, cfg: Settings, category: str | None, today: dt.date
) -> tuple[str, Sequence[Draft]]:
    draft = read_page(fetched, category=category, today=today)
    if draft.skip:
        raise FeedError(f"{fetched.url}: cannot import the page: {draft.skip}")
    return draft.title, (draft,)


def _run(  # noqa: PLR0917 - private; the two public entry points name every argument
    cfg: Settings,
    url: str,
    reader: Reader,
    category: str | None,
    dry_run: bool,
    today: dt.date | None,
    fetcher: Fetcher,
) -> ImportResult:
    today = today or cfg.today()
    articles = _articles_dir(cfg)
    fetched = fetcher(url, timeout=cfg.request_timeout)
    title, drafts = reader(fetched, cfg, category, today)
    return _import(
        articles, source=fetched.url, title=title, drafts=drafts, dry_run=dry_run, today=today
    )


def _articles_dir(cfg: Settings) -> Path:
    folder = cfg.content_dir / ARTICLES_DIR
    if not folder.is_dir():
        raise FeedError(
            f"{folder} is not a folder: set NEWSLETTER_CONTENT_DIR to the folder holding "
            "articles/, tips/ and issues/"
        )
    return folder


def _import(
    folder: Path,
    *,
    source: str,
    title: str,
    drafts: Iterable[Draft],
    dry_run: bool,
    today: dt.date,
) -> ImportResult:
    result = ImportResult(source=source, title=title, dry_run=dry_run)
    known = _scan(folder)
    planned: list[tuple[Path, str, Written]] = []
    for draft in drafts:
        if known.has(draft):
            result.already += 1
            continue
        if draft.skip:
            result.skipped.append(Skipped(draft.label, draft.url, draft.skip))
            continue
        slug = known.free_slug(_base_slug(draft))
        path = folder / f"{slug}.md"
        body = article_file(draft, source, today)
        problems = _problems(path, body)
        if problems:
            result.skipped.append(
                Skipped(draft.label, draft.url, "would not pass content check: " + problems)
            )
            continue
        known.add(draft, slug)
        written = Written(slug, path, draft.title, draft.url, tuple(draft.notes))
        planned.append((path, body, written))
    for path, body, written in planned:
        if not dry_run:
            write_new(path, body)
        result.written.append(written)
    return result


def _base_slug(draft: Draft) -> str:
    return slugify(draft.title) or "post"


def _scan(folder: Path) -> _Known:
    known = _Known()
    for path in folder.iterdir():
        known.slugs.add(path.stem)
        if path.suffix != ".md" or path.name.startswith("."):
            continue
        try:
            data = parse(path, read_text(path)).data
        except FrontMatterError:
            continue  # content check reports it; the slug is taken all the same
        for key in ("source_guid", "url"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                known.ids.add(value.strip())
    return known


def article_file(draft: Draft, source: str, today: dt.date) -> str:
    """The article file's text: front matter in the documented key order, then a note."""
    data: dict[str, Any] = {"title": draft.title, "summary": draft.summary, "url": draft.url}
    if draft.image is not None:
        data["image"] = {"src": draft.image[0], "alt": draft.image[1]}
    data["category"] = draft.category
    if draft.tags:
        data["tags"] = list(draft.tags)
    data["published"] = draft.published.isoformat()
    data["author"] = draft.author
    data["source_url"] = source
    data["source_guid"] = draft.guid
    # One key at a time so that tags read like the hand-written files ("tags: [a, b]")
    # while the image stays a block; a wide line keeps the summary on one line.
    front = "".join(
        yaml.safe_dump(
            {key: value},
            allow_unicode=True,
            width=10_000,
            default_flow_style=None if key == "tags" else False,
        )
        for key, value in data.items()
    )
    note = f"Imported from {source} on {today.isoformat()}."
    if draft.notes:
        note += " " + " ".join(f"{n[:1].upper()}{n[1:]}." for n in draft.notes)
    return f"---\n{front}---\n{note}\n"


def _problems(path: Path, body: str) -> str:
    try:
        _, problems = article_from(parse(path, body))
    except FrontMatterError as exc:
        return exc.problem.message
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)


def write_new(path: Path, body: str) -> None:
    """Write ``path`` atomically, and only if it does not exist yet."""
    # A dot-named temporary file is skipped by the content loader, and a hard link
    # publishes it in one step that fails, instead of overwriting, if the name is taken.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError as exc:
            raise FeedError(f"{path} appeared during the import; it was left as it is") from exc
        except OSError as exc:
            raise FeedError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
