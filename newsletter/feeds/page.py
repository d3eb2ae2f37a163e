"""One web page into an article draft: Open Graph and article meta first, then its text."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from urllib.parse import urljoin

import lxml.html
import trafilatura
from lxml import etree

from newsletter.errors import FeedError
from newsletter.feeds import text
from newsletter.feeds.draft import Draft, https_image, main_text, pick_category, summary_from
from newsletter.feeds.fetch import Fetched

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")


def read_page(fetched: Fetched, *, category: str | None, today: dt.date) -> Draft:
    """The page as a draft; ``FeedError`` when it is not an HTML page."""
    try:
        root = lxml.html.document_fromstring(fetched.body)
    except (etree.ParserError, ValueError) as exc:
        raise FeedError(f"{fetched.url}: not a readable HTML page ({exc})") from exc
    base = fetched.final_url
    meta = _meta(root)
    canonical = root.xpath("//link[@rel='canonical']/@href")
    url = urljoin(base, first(meta, "og:url") or (canonical[0] if canonical else "") or base)
    title = text.plain_title(
        first(meta, "og:title", "twitter:title") or " ".join(root.xpath("//title//text()"))
    )
    metadata = trafilatura.extract_metadata(root, default_url=base)
    author = first(meta, "author", "article:author")
    if author.startswith(("http://", "https://")):
        author = ""  # Facebook's article:author is a profile URL, not a name
    author = text.plain_title(author or (metadata.author or "") or first(meta, "og:site_name"))
    published = _date(first(meta, "article:published_time", "datepublished"))
    published = published or _date(str(metadata.date or ""))
    section = first(meta, "article:section")
    # The section is the page's category; without one, its tags stay tags.
    chosen = category or (None if section else "general")
    cat, tags = pick_category(chosen, [section, *meta["article:tag"]])
    description = first(meta, "og:description", "description", "twitter:description")
    draft = Draft(
        guid=url,
        title=title,
        url=url,
        published=published or today,
        author=author,
        category=cat,
        tags=tags,
        summary=summary_from(description, "") if description else "",
    )
    if not description or len(draft.summary) < text.POOR_SUMMARY:
        body, cut = text.strip_boilerplate(main_text(fetched.body.decode("utf-8", "replace")))
        if len(body) > len(draft.summary):
            draft.summary = text.finish(body, cut)
    if published is None:
        draft.notes.append(f"no publication date on the page; published set to {today}")
    image = first(meta, "og:image:secure_url", "og:image", "twitter:image")
    alt = first(meta, "og:image:alt", "twitter:image:alt")
    https_image(draft, urljoin(base, image) if image else None, alt)
    if not title:
        draft.skip = "the page has no title (no og:title and no <title>)"
    elif not url.startswith("https://"):
        draft.skip = f"its address {url} is not https://; only https pages become articles"
    elif not author:
        draft.skip = "the page names no author (no author meta and no og:site_name)"
    elif not draft.summary:
        draft.skip = "the page has no text to summarise"
    return draft


def _meta(root: etree._Element) -> defaultdict[str, list[str]]:
    found: defaultdict[str, list[str]] = defaultdict(list)
    for element in root.iter("meta"):
        key = element.get("property") or element.get("name") or element.get("itemprop")
        value = element.get("content")
        if key and value and value.strip():
            found[key.strip().lower()].append(value.strip())
    return found


def first(meta: defaultdict[str, list[str]], *keys: str) -> str:
    for key in keys:
        if meta[key]:
            return meta[key][0]
    return ""


def _date(value: str) -> dt.date | None:
    match = _DATE.match(value.strip())
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None
