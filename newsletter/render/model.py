"""The output of rendering, and the substitution tags that stand for per-recipient values.

One render serves every recipient: SendGrid replaces each tag with the value in that
recipient's ``substitutions``. The tags are plain ASCII that neither Jinja, MJML nor
Markdown treats specially.

SendGrid replaces a tag as raw text wherever it appears, in the subject and in both
parts. A person's own text (the first name) therefore has two tags: the HTML part
carries ``-first_name_html-``, whose value is HTML-escaped, and the subject and text
part carry ``-first_name-`` with the plain value. ``substitutions`` makes both, so no
caller can send one without the other. The unsubscribe URL is ours (base64url token
after ``NEWSLETTER_PUBLIC_URL``), so one tag serves both parts.
"""

from __future__ import annotations

import hashlib
import html as html_lib
from dataclasses import dataclass

FIRST_NAME_TAG = "-first_name-"
FIRST_NAME_HTML_TAG = "-first_name_html-"
UNSUBSCRIBE_URL_TAG = "-unsubscribe_url-"
SUBSTITUTION_TAGS = (FIRST_NAME_TAG, FIRST_NAME_HTML_TAG, UNSUBSCRIBE_URL_TAG)
HTML_TAG_VALUES = {"first_name": FIRST_NAME_HTML_TAG, "unsubscribe_url": UNSUBSCRIBE_URL_TAG}
"""What the HTML (MJML) templates see for the per-recipient values."""
TEXT_TAG_VALUES = {"first_name": FIRST_NAME_TAG, "unsubscribe_url": UNSUBSCRIBE_URL_TAG}
"""What the text templates see for the per-recipient values."""

FIRST_NAME_FALLBACK = "there"
"""What a recipient without a first name is called ("Hi there")."""


def substitutions(first_name: str | None, unsubscribe_url: str) -> dict[str, str]:
    """One recipient's value for every tag; the HTML part's name is escaped."""
    name = first_name or FIRST_NAME_FALLBACK
    return {
        FIRST_NAME_TAG: name,
        FIRST_NAME_HTML_TAG: html_lib.escape(name),
        UNSUBSCRIBE_URL_TAG: unsubscribe_url,
    }


def html_part(html: str) -> str:
    """The HTML part with only HTML tags in it.

    Issues rendered before the HTML part had its own tag carry ``-first_name-``
    there, which SendGrid would fill with the raw name; this moves them to the
    escaped tag (the two tags never overlap, so the replace is exact).
    """
    return html.replace(FIRST_NAME_TAG, FIRST_NAME_HTML_TAG)


@dataclass(frozen=True)
class RenderedIssue:
    """Subject, preheader and both bodies, with substitution tags left in place."""

    subject: str
    preheader: str
    html: str
    text: str

    @property
    def content_hash(self) -> str:
        """A stable fingerprint of what recipients would see; approval is tied to it."""
        digest = hashlib.sha256()
        for part in (self.subject, self.preheader, self.html, self.text):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x00")
        return digest.hexdigest()

    def filled(self, values: dict[str, str]) -> RenderedIssue:
        """A copy with tags replaced (``values`` from ``substitutions``), for previews."""
        html, text, subject = html_part(self.html), self.text, self.subject
        for tag, value in values.items():
            html = html.replace(tag, value)
            text = text.replace(tag, value)
            subject = subject.replace(tag, value)
        return RenderedIssue(subject=subject, preheader=self.preheader, html=html, text=text)
