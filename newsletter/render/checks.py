"""Checks every rendered email must pass before anyone can approve or send it.

Each failed check raises ``RenderError`` naming the check and the offending value, so
the person fixing the content knows which link, image or size to look at.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from lxml import etree
from lxml import html as lxml_html

from newsletter.errors import RenderError
from newsletter.render.model import (
    FIRST_NAME_HTML_TAG,
    FIRST_NAME_TAG,
    SUBSTITUTION_TAGS,
    UNSUBSCRIBE_URL_TAG,
)

MAX_HTML_BYTES = 100_000
"""Gmail clips a message body past about 102 KB; keep a margin for tag expansion."""

URL_ATTRIBUTES = frozenset({"href", "src", "background", "action", "poster"})
TEMPLATE_LEFTOVERS = ("{{", "}}", "{%", "%}", "{#", "#}", "Undefined")
_IGNORED_CONTENT = frozenset({"style", "script"})
_VISIBLE_TEXT = etree.XPath("//text()[not(ancestor::style) and not(ancestor::script)]")


@dataclass
class _Findings:
    urls: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, attr, value)
    images_without_alt: list[str] = field(default_factory=list)
    mjml_tags: list[str] = field(default_factory=list)
    link_texts: dict[str, list[str]] = field(default_factory=dict)
    visible_text: list[str] = field(default_factory=list)
    attribute_values: list[str] = field(default_factory=list)


class _Scanner(HTMLParser):
    """One pass over the compiled HTML collecting what the checks look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found = _Findings()
        self._skip_depth = 0
        self._open_links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = self.found
        if tag.startswith("mj-"):
            found.mjml_tags.append(tag)
        alt = ""
        for name, value in attrs:
            if value is None:
                continue
            found.attribute_values.append(value)
            if name in URL_ATTRIBUTES:
                found.urls.append((tag, name, value))
            elif name == "alt":
                alt = value
        if tag == "img" and not alt.strip():
            src = next((v for n, v in attrs if n == "src" and v), "(no src)")
            found.images_without_alt.append(src)
        elif tag == "a":
            href = next((v for n, v in attrs if n == "href" and v), "")
            self._open_links.append(href)
            found.link_texts.setdefault(href, [])
        elif tag in _IGNORED_CONTENT:
            self._skip_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _IGNORED_CONTENT and self._skip_depth:
            self._skip_depth -= 1
        elif tag == "a" and self._open_links:
            self._open_links.pop()

    def handle_comment(self, data: str) -> None:
        # Outlook-only markup hides in conditional comments; links there must pass too.
        if data.startswith("[if") and ("href" in data or "src" in data):
            inner = _Scanner()
            inner.feed(data)
            inner.close()
            self.found.urls.extend(inner.found.urls)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        self.found.visible_text.append(data)
        if self._open_links and data.strip():
            self.found.link_texts[self._open_links[-1]].append(data.strip())


def _scan(html: str) -> _Findings:
    """What the checks look at, from one pass of libxml2's HTML parser over the page.

    libxml2 parses a newsletter about four times faster than ``html.parser``, which
    keeps every render (checks included) within its 5 ms budget. Comments are only
    opened for Outlook's conditional markup, with the small ``_Scanner`` above.
    """
    found = _Findings()
    try:
        root = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError) as exc:
        raise RenderError(f"html check: the compiled HTML cannot be parsed: {exc}") from exc
    for element in root.iter():
        tag = element.tag
        if not isinstance(tag, str):
            text = element.text or ""
            outlook_only = isinstance(element, etree._Comment) and text.startswith("[if")
            if outlook_only and ("href" in text or "src" in text):
                inner = _Scanner()
                inner.feed(text)
                inner.close()
                found.urls.extend(inner.found.urls)
            continue
        if tag.startswith("mj-"):
            found.mjml_tags.append(tag)
        alt = ""
        for name, value in element.attrib.items():
            found.attribute_values.append(value)
            if name in URL_ATTRIBUTES:
                found.urls.append((tag, name, value))
            elif name == "alt":
                alt = value
        if tag == "img" and not alt.strip():
            found.images_without_alt.append(element.get("src") or "(no src)")
        elif tag == "a":
            words = found.link_texts.setdefault(element.get("href") or "", [])
            shown = element.text_content().strip()
            if shown:
                words.append(shown)
    found.visible_text.extend(_VISIBLE_TEXT(root))
    return found


def check_rendered(
    subject: str,
    html: str,
    text: str,
    *,
    required: Iterable[str] = (),
    required_html: Iterable[str] = (),
    required_text: Iterable[str] = (),
    require_unsubscribe: bool = False,
    max_html_bytes: int = MAX_HTML_BYTES,
) -> None:
    """Raise ``RenderError`` for the first failed check.

    ``required`` are strings (the postal address, say) that both parts must show,
    ``required_html`` and ``required_text`` those that one part must show (each part
    has its own first-name tag); a text tag in the HTML part is an error, because
    SendGrid would put the raw value there;
    ``require_unsubscribe`` demands a visible link to the unsubscribe tag in the HTML
    and the tag in the text.
    """
    check_subject(subject)
    check_size(html, max_html_bytes)
    found = _scan(html)
    check_urls(found.urls)
    if found.images_without_alt:
        raise RenderError(f"image check: <img src={found.images_without_alt[0]!r}> has no alt text")
    if found.mjml_tags:
        raise RenderError(f"leftover check: MJML tag <{found.mjml_tags[0]}> was not compiled")
    visible = " ".join(" ".join(found.visible_text).split())
    # One joined string per part keeps this a handful of scans, not one per attribute.
    check_leftovers("HTML", [visible, "\n".join(found.attribute_values)])
    check_leftovers("text part", [text])
    flat_text = " ".join(text.split())
    for needed in (*required, *required_html):
        if " ".join(needed.split()) not in visible:
            raise RenderError(f"content check: the HTML does not show {needed!r}")
    for needed in (*required, *required_text):
        if " ".join(needed.split()) not in flat_text:
            raise RenderError(f"content check: the text part does not show {needed!r}")
    if FIRST_NAME_TAG in html:
        raise RenderError(
            f"content check: the HTML uses the text tag {FIRST_NAME_TAG}; "
            f"use {FIRST_NAME_HTML_TAG}, whose value is escaped for HTML"
        )
    if require_unsubscribe:
        check_unsubscribe(found.link_texts, text)


def check_subject(subject: str) -> None:
    if not subject.strip():
        raise RenderError("subject check: the subject is empty")
    if "\n" in subject or "\r" in subject:
        raise RenderError(f"subject check: the subject {subject!r} contains a line break")


def check_size(html: str, max_html_bytes: int = MAX_HTML_BYTES) -> None:
    size = len(html.encode("utf-8"))
    if size >= max_html_bytes:
        raise RenderError(
            f"size check: the HTML is {size:,} bytes, over the {max_html_bytes:,}-byte limit "
            "(Gmail clips larger messages); shorten the issue or use fewer items"
        )


_LOOPBACK_HTTP = tuple(
    f"http://{host}{end}" for host in ("127.0.0.1", "localhost", "[::1]") for end in ("/", ":")
)


def is_allowed_url(url: str) -> bool:
    """Absolute https:// with a host, a ``mailto:`` address, or exactly a substitution tag.

    Plain http is allowed to a loopback host only: such a link works on the reader's own
    machine and nowhere else, which is what a local trial's confirm link is
    (``NEWSLETTER_ALLOW_INSECURE_PUBLIC_URL``).
    """
    if url in SUBSTITUTION_TAGS:
        return True
    if url.startswith("mailto:"):
        return len(url) > len("mailto:") and "@" in url
    if url.startswith(_LOOPBACK_HTTP) and " " not in url:
        return True
    return url.startswith("https://") and len(url) > len("https://") and " " not in url


def check_urls(urls: Iterable[tuple[str, str, str]]) -> None:
    for tag, attribute, value in urls:
        if not is_allowed_url(value):
            raise RenderError(
                f"link check: <{tag} {attribute}={value!r}> is not an absolute https:// URL, "
                "a mailto: address or a substitution tag"
            )


def check_leftovers(part: str, chunks: Iterable[str]) -> None:
    for chunk in chunks:
        for marker in TEMPLATE_LEFTOVERS:
            at = chunk.find(marker)
            if at >= 0:
                excerpt = chunk[max(0, at - 30) : at + 30].strip()
                raise RenderError(
                    f"leftover check: the {part} contains template syntax {marker!r} "
                    f"near {excerpt!r}"
                )


def check_unsubscribe(link_texts: dict[str, list[str]], text: str) -> None:
    if not link_texts.get(UNSUBSCRIBE_URL_TAG):
        raise RenderError(
            f"unsubscribe check: the HTML has no visible link to {UNSUBSCRIBE_URL_TAG!r}"
        )
    if UNSUBSCRIBE_URL_TAG not in text:
        raise RenderError(f"unsubscribe check: the text part lacks {UNSUBSCRIBE_URL_TAG!r}")
