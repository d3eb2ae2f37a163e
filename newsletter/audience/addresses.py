"""Email address validation and normalization (syntax only, no DNS).

Decisions:

* The local part is kept as written (only Unicode NFC-composed, which is invisible).
* The domain is stored in its ASCII (IDNA/punycode) form, lower-cased. Every mail
  server can deliver to that form, and ``bücher.de`` and ``xn--bcher-kva.de``
  become the same address, so they cannot be imported twice.
* The deduplication key is the whole address lower-cased.

``email-validator`` is the judge of validity, but it costs ~50-80 µs per call,
which alone would exceed the 60 s budget for a 1M-row import. The common case (a
plain ASCII dot-atom local part) is therefore checked with a regular expression
that accepts a strict subset of what email-validator accepts, and only the domain
goes through email-validator, once per distinct domain (bounded cache). Anything
else takes the full email-validator path. ``tests/test_addresses.py`` checks that
both paths agree.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from email_validator import EmailNotValidError, validate_email

from newsletter.errors import AddressError

MAX_LOCAL_LENGTH = 64
MAX_ADDRESS_LENGTH = 254

# RFC 5322 dot-atom with ASCII characters only: email-validator accepts all of these.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


class NormalizedEmail(NamedTuple):
    email: str  # what we send to: local part as written, ASCII domain lower-cased
    key: str  # the case-insensitive identity of the address


def normalize_email(raw: str) -> NormalizedEmail:
    """Validate ``raw`` and return its normalized form; ``AddressError`` names why not."""
    text = raw.strip()
    if not text:
        raise AddressError("the email address is empty")
    local, at, domain = text.rpartition("@")
    if at and len(local) <= MAX_LOCAL_LENGTH and _PLAIN_LOCAL.fullmatch(local):
        ascii_domain, problem = _check_domain(domain)
        if problem is not None:
            raise AddressError(f"{text!r} is not a valid email address: {problem}")
        email = f"{local}@{ascii_domain}"
        if len(email) <= MAX_ADDRESS_LENGTH:
            return NormalizedEmail(email, email.lower())
    return _full_check(text)


def _full_check(text: str) -> NormalizedEmail:
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AddressError(f"{text!r} is not a valid email address: {exc}") from exc
    local = unicodedata.normalize("NFC", text.rpartition("@")[0])
    email = f"{local}@{result.ascii_domain}"
    return NormalizedEmail(email, email.lower())


@lru_cache(maxsize=65_536)
def _check_domain(domain: str) -> tuple[str, str | None]:
    # A fixed, valid local part isolates the domain's verdict; the cache keeps the
    # cost per distinct domain, and its bound keeps memory constant.
    try:
        result = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError as exc:
        return "", str(exc)
    return result.ascii_domain, None
