"""Limits and reserved names of SendGrid's mail send, from ``tsg_mail_v3.yaml``."""

from __future__ import annotations

import re
from typing import Any

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
"""to + cc + bcc across the whole request."""
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SUBSTITUTIONS_BYTES = 10_000
MAX_SUBSTITUTIONS = 10_000
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
RESERVED_HEADERS = frozenset(
    {
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "content-type",
        "content-transfer-encoding",
        "to",
        "from",
        "subject",
        "reply-to",
        "cc",
        "bcc",
    }
)

# Deliberately simple: one @, no spaces or brackets, dotted domain labels that start and
# end with a letter or digit. SendGrid is stricter in odd corners, but this catches what a
# real list contains by mistake. Possessive quantifiers keep matching linear.
_LABEL = r"[A-Za-z0-9]++(?:-++[A-Za-z0-9]++)*+"
EMAIL_PATTERN = r'[^@\s<>()\[\],;:"]++@' + _LABEL + r"(?:\." + _LABEL + r")++"
EMAIL = re.compile(EMAIL_PATTERN)
# Many addresses joined by newlines, checked by one regex call instead of a thousand.
EMAIL_LINES = re.compile(f"(?:{EMAIL_PATTERN}\n)*+{EMAIL_PATTERN}")


def size_of(mapping: dict[str, Any]) -> int:
    """UTF-8 size of keys plus string values, counting characters first because it is cheap."""
    chars = sum(len(k) + len(v) for k, v in mapping.items() if type(v) is str)
    if chars * 4 <= min(MAX_SUBSTITUTIONS_BYTES, MAX_CUSTOM_ARGS_BYTES):
        return chars
    return sum(len(k.encode()) + len(str(v).encode()) for k, v in mapping.items())
