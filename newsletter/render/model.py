"""The output of rendering, and the substitution tags that stand for per-recipient values.

One render serves every recipient: SendGrid replaces each tag with the value in that
recipient's ``substitutions``. The tags are plain ASCII that neither Jinja, MJML nor
Markdown treats specially.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

FIRST_NAME_TAG = "-first_name-"
UNSUBSCRIBE_URL_TAG = "-unsubscribe_url-"
SUBSTITUTION_TAGS = (FIRST_NAME_TAG, UNSUBSCRIBE_URL_TAG)

FIRST_NAME_FALLBACK = "there"
"""What a recipient without a first name is called ("Hi there")."""


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
        """A copy with tags replaced, for previews and test sends."""
        html, text, subject = self.html, self.text, self.subject
        for tag, value in values.items():
            html = html.replace(tag, value)
            text = text.replace(tag, value)
            subject = subject.replace(tag, value)
        return RenderedIssue(subject=subject, preheader=self.preheader, html=html, text=text)
