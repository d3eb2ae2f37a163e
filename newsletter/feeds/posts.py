"""RSS 2.0 and Atom feeds (through feedparser) into article drafts.

feedparser is translated here and nowhere else. It is lenient by design; a feed it
had to guess at (an XML error) is refused as a whole, because an import that writes
half of a broken feed is worse than one that writes nothing and says why.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import feedparser
import lxml.html
from lxml import etree

from newsletter.errors import FeedError
from newsletter.feeds import text
from newsletter.feeds.draft import Draft, https_image, pick_category, summary_from
from newsletter.feeds.fetch import Fetched

_HARMLESS = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_SIZE_SUFFIX = re.compile(r"-\d+x\d+(?=\.\w+$)")


@dataclass(frozen=True)
class FeedRead:
    title: str
    drafts: tuple[Draft, ...]


def read_feed(
    fetched: Fetched, *, category: str | None, zone: ZoneInfo, today: dt.date
) -> FeedRead:
    """Every entry of the feed as a draft, oldest first; ``FeedError`` for a broken feed."""
    parsed = feedparser.parse(
        fetched.body,
        response_headers={
            "content-location": fetched.final_url,
            "content-type": fetched.content_type or "application/xml",
        },
    )
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(problem, _HARMLESS):
        raise FeedError(f"{fetched.url}: not a readable RSS or Atom feed ({_describe(problem)})")
    if not parsed.get("version"):
        raise FeedError(f"{fetched.url}: the answer is not an RSS or Atom feed")
    feed = parsed.get("feed", {})
    feed_title = text.plain_title(feed.get("title", "")) or urlsplit(fetched.url).netloc
    feed_author = text.plain_title(feed.get("author", "")) or feed_title
    drafts = [
        _draft(
            entry,
            fetched.final_url,
            category=category,
            feed_author=feed_author,
            zone=zone,
            today=today,
        )
        for entry in parsed.get("entries", [])
    ]
    drafts.sort(key=lambda d: (d.published, d.guid))
    return FeedRead(title=feed_title, drafts=tuple(drafts))


def _describe(problem: object) -> str:
    line = getattr(problem, "getLineNumber", None)
    where = f" on line {line()}" if callable(line) else ""
    message = getattr(problem, "getMessage", None)
    detail = message() if callable(message) else str(problem)
    return f"{detail}{where}"


def _draft(
    entry: Any, base: str, *, category: str | None, feed_author: str, zone: ZoneInfo, today: dt.date
) -> Draft:
    link = urljoin(base, entry.get("link", "") or "")
    guid = (entry.get("id") or link or "").strip()
    title = text.plain_title(entry.get("title", ""))
    content_html = _content_html(entry)
    cat, tags = pick_category(category, [t.get("term") or "" for t in entry.get("tags", [])])
    draft = Draft(
        guid=guid,
        title=title,
        url=link,
        published=_published(entry, zone) or today,
        author=text.plain_title(entry.get("author", "")) or feed_author,
        category=cat,
        tags=tags,
        summary=summary_from(entry.get("summary", ""), content_html),
    )
    if _published(entry, zone) is None:
        draft.notes.append(f"no date in the feed; published set to {today}")
    src, alt = _image(entry, content_html, base)
    https_image(draft, src, alt)
    if not guid:
        draft.skip = "the post has neither a guid nor a link"
    elif not title:
        draft.skip = "the post has no title"
    elif not link.startswith("https://"):
        draft.skip = (
            f"its link {link or '(none)'} is not https://; only https links become articles"
        )
    elif not draft.summary:
        draft.skip = "the post has no text to summarise"
    return draft


def _content_html(entry: Any) -> str:
    for part in entry.get("content", []) or []:
        if part.get("value"):
            return str(part["value"])
    return ""


def _published(entry: Any, zone: ZoneInfo) -> dt.date | None:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    if not stamp:
        return None
    # feedparser normalises every date to a UTC struct_time; the clinic's day is local.
    moment = dt.datetime.fromtimestamp(calendar.timegm(stamp), dt.UTC)
    return moment.astimezone(zone).date()


def _image(entry: Any, content_html: str, base: str) -> tuple[str | None, str | None]:
    """The featured image (media or enclosure) else the first content image, with alt."""
    images = _content_images(content_html, base)
    featured = _featured(entry, base)
    if featured:
        for src, alt in images:
            if _same_picture(src, featured) and alt:
                return featured, alt
        described = entry.get("media_title") or entry.get("media_description")
        if described:
            return featured, text.plain_title(str(described))
        if not images:
            return featured, None
    if images:
        return images[0]
    return featured, None


def _featured(entry: Any, base: str) -> str | None:
    for media in list(entry.get("media_content", []) or []) + list(
        entry.get("media_thumbnail", []) or []
    ):
        url = media.get("url")
        if url and media.get("medium", "image") == "image":
            return urljoin(base, str(url))
    for enclosure in entry.get("enclosures", []) or []:
        if str(enclosure.get("type", "")).startswith("image/") and enclosure.get("href"):
            return urljoin(base, str(enclosure["href"]))
    return None


def _content_images(content_html: str, base: str) -> list[tuple[str, str | None]]:
    if "<img" not in content_html:
        return []
    try:
        root = lxml.html.fragment_fromstring(content_html, create_parent="div")
    except (etree.ParserError, ValueError):
        return []
    found: list[tuple[str, str | None]] = []
    for img in root.iter("img"):
        src = img.get("src") or img.get("data-src")
        if src and not src.startswith("data:"):
            found.append((urljoin(base, src), img.get("alt")))
    return found


def _same_picture(a: str, b: str) -> bool:
    # WordPress serves one upload under several sizes: photo-1024x683.jpg is photo.jpg.
    def key(url: str) -> str:
        return _SIZE_SUFFIX.sub("", urlsplit(url).path)

    return key(a) == key(b)
