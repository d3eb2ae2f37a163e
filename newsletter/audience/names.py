"""What a person's name may hold: at most 100 characters, nothing that is markup or control.

A name is repeated in places we do not control (email greetings, the ``To`` header,
exports opened in spreadsheets), so the few characters that could be markup (``<``,
``>``) or could rearrange or break a line (C0/C1 controls, line separators, bidi
overrides) are refused where a name enters: the signup form, ``subscribers add`` and
CSV import. Escaping in the HTML part is still done; this is the first line.
"""

from __future__ import annotations

import re

from newsletter.errors import PersonNameError

MAX_NAME_LENGTH = 100

_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069<>]")


def name_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable as a name, or None when it is."""
    if len(value) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    found = _FORBIDDEN.search(value)
    if found is None:
        return None
    char = found.group()
    if char in "<>":
        return "must not contain < or >"
    return f"must not contain control characters (found U+{ord(char):04X})"


def clean_name(value: str | None, field: str = "name") -> str | None:
    """``value`` stripped (None when empty); ``PersonNameError`` naming ``field`` if bad."""
    stripped = (value or "").strip()
    if not stripped:
        return None
    problem = name_problem(stripped)
    if problem is not None:
        raise PersonNameError(f"{field} {problem}")
    return stripped
