"""An article as an import proposes it, before it is checked and written."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import trafilatura

from newsletter.feeds import text


@dataclass
class Draft:
    """One post or page turned into article fields; ``skip`` says why it cannot be one.

    ``notes`` are things a person should know (an image left out for want of alt text,
    a date guessed); they do not stop the import.
    """

    guid: str
    title: str
    url: str
    published: dt.date
    author: str
    category: str
    tags: tuple[str, ...] = ()
    image: tuple[str, str] | None = None
    summary: str = ""
    notes: list[str] = field(default_factory=list)
    skip: str | None = None

    @property
    def label(self) -> str:
        return self.title or self.url or self.guid


def summary_from(excerpt_html: str, content_html: str) -> str:
    """The summary: the excerpt when it says enough, else the content's main text."""
    excerpt, cut = text.strip_boilerplate(text.html_to_text(excerpt_html))
    if content_html and text.is_poor(excerpt, cut):
        body, body_cut = text.strip_boilerplate(main_text(content_html))
        if len(body) > len(excerpt):
            return text.finish(body, body_cut)
    return text.finish(excerpt, cut)


def main_text(markup: str) -> str:
    """The main text of an HTML document or fragment, by trafilatura when it finds any."""
    extracted = trafilatura.extract(
        markup, include_comments=False, include_tables=False, favor_recall=True
    )
    return text.collapse(extracted) if extracted else text.html_to_text(markup)


def pick_category(option: str | None, terms: list[str]) -> tuple[str, tuple[str, ...]]:
    """The category (the option, else the first term's slug) and the remaining terms as tags."""
    slugs: list[str] = []
    for term in terms:
        slug = text.slugify(text.plain_title(term), 40)
        if slug and slug not in slugs:
            slugs.append(slug)
    category = option or (slugs[0] if slugs else "general")
    return category, tuple(s for s in slugs if s != category)


def https_image(draft: Draft, src: str | None, alt: str | None) -> None:
    """Attach the image when it is https and described; otherwise note why it was left out."""
    if not src:
        return
    if not src.startswith("https://"):
        draft.notes.append(f"image {src} left out: not an https:// URL")
    elif not alt or not alt.strip():
        draft.notes.append(f"image {src} left out: it has no alt text")
    else:
        draft.image = (src, text.collapse(alt))
