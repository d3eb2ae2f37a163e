"""From a post's HTML to the plain text an article file holds: title, summary, slug.

Blogs pad their excerpts: WordPress ends them in ``[…]`` and "The post … appeared
first on …", themes add "Continue reading", and page builders leave ``[vc_row]``
shortcodes behind when a plugin is switched off. None of it belongs in a newsletter.
"""

from __future__ import annotations

import html
import re
import unicodedata

import lxml.html
from lxml import etree

SUMMARY_LIMIT = 300
SLUG_LIMIT = 80
POOR_SUMMARY = 80
"""An excerpt shorter than this (after cleaning) says too little; the content is used."""

_BLOCKS = frozenset(
    (
        *("p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("blockquote", "figure", "section", "article", "header", "footer"),
        *("table", "tr", "td", "th", "pre", "hr"),
    )
)
_DROPPED = ("script", "style", "noscript", "figcaption", "iframe", "form", "svg")

_APPEARED_FIRST = re.compile(
    r"\bThe post\b.{1,300}?\bappeared first on\b.{1,200}?(?:\.|$)", re.I | re.S
)
_ELLIPSIS_MARK = re.compile(r"\[\s*(?:…|\.\.\.|&hellip;|&#8230;)\s*\]")
_CONTINUE = re.compile(
    r"(?:\bContinue reading\b|\bRead more\b|\bRead the full (?:article|post|story)\b|"
    r"\bKeep reading\b).*$",
    re.I | re.S,
)
_SHORTCODE = re.compile(r"\[/?[a-zA-Z][\w-]*(?:\s[^\[\]]*)?/?\]")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s|$)")


def html_to_text(markup: str) -> str:
    """The visible text of an HTML fragment, one space between blocks, entities decoded."""
    if not markup or not markup.strip():
        return ""
    if "<" not in markup:
        return collapse(html.unescape(markup))
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return collapse(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    for element in root.iter(*_DROPPED):
        element.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag in _BLOCKS:
            element.tail = " " + (element.tail or "")
    # A second unescape catches double-encoded entities ("&amp;#8217;"), common in feeds.
    return collapse(html.unescape(root.text_content()))


def collapse(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def strip_boilerplate(text: str) -> tuple[str, bool]:
    """``text`` without feed padding, and whether it had been cut short (``[…]`` etc.)."""
    cut = bool(_ELLIPSIS_MARK.search(text) or _CONTINUE.search(text))
    text = _APPEARED_FIRST.sub(" ", text)
    text = _ELLIPSIS_MARK.sub(" ", text)
    text = _CONTINUE.sub(" ", text)
    text = _SHORTCODE.sub(" ", text)
    text = collapse(text)
    if text.endswith(("…", "...")):
        cut = True
        text = text.rstrip(".… ").rstrip()
    return text, cut


def is_poor(summary: str, cut: bool) -> bool:
    """Whether an excerpt is too thin (or cut mid-sentence) to stand as the summary."""
    if len(summary) < POOR_SUMMARY:
        return True
    return cut and not ends_sentence(summary)


def shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """At most ``limit`` characters, cut after a sentence when one ends late enough,
    else at a word boundary with an ellipsis."""
    text = collapse(text)
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head) if m.end() <= limit]
    if ends and ends[-1] >= limit * 0.4:
        return head[: ends[-1]].strip()
    words = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return words.rstrip(" ,;:-–—") + "…"


def finish(text: str, cut: bool) -> str:
    """The summary: shortened, and marked with an ellipsis when it stops mid-sentence."""
    out = shorten(text)
    if cut and not out.endswith("…") and not ends_sentence(out):
        if len(out) >= SUMMARY_LIMIT:
            out = out[: SUMMARY_LIMIT - 1].rsplit(" ", 1)[0].rstrip(" ,;:-–—")
        out += "…"
    return out


def ends_sentence(text: str) -> bool:
    return bool(_SENTENCE_END.search(text[-3:])) and text[-1:] not in ("", " ")


def plain_title(raw: str) -> str:
    """A title as text: tags removed, entities decoded (once more for double-encoding)."""
    return collapse(html.unescape(html_to_text(raw) if "<" in raw else raw))


def slugify(text: str, limit: int = SLUG_LIMIT) -> str:
    """Lower-case ASCII letters, digits and single hyphens; cut at a hyphen near ``limit``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower().replace("'", "")).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0] if "-" in slug[:limit] else slug[:limit]
    return slug
