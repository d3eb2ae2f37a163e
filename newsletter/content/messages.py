"""Sentences for content problems: unknown keys, and pydantic's errors translated.

Pydantic is translated here and nowhere else; each message names the field and the
value a writer typed, and says what to write instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from newsletter.content.frontmatter import Document, KeyPath
from newsletter.content.models import SEASON_MONTHS
from newsletter.errors import ContentProblem

# Keys people reach for that the pipeline derives elsewhere: a pointer beats "unknown".
_DERIVED_HINTS = {
    "slug": "the slug comes from the file name",
    "body": "the text goes below the closing '---'",
    "intro": "the intro note goes below the closing '---'",
    "list": "the list comes from the file name",
    "list_slug": "the list comes from the file name",
    "date": "the date comes from the file name",
    "issue_date": "the date comes from the file name",
}

_TYPE_MESSAGES = {
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "tuple_type": "must be a list, e.g. [first, second]",
    "list_type": "must be a list, e.g. [first, second]",
    "model_type": "must be a mapping with 'src' and 'alt' keys",
    "dict_type": "must be a mapping with 'src' and 'alt' keys",
}


def unknown_keys(
    doc: Document, known: tuple[str, ...], nested: Mapping[str, tuple[str, ...]]
) -> list[ContentProblem]:
    """A problem per key not in ``known`` (and per unknown key inside ``nested`` maps)."""
    problems = [_unknown(doc, (key,), known) for key in doc.data if key not in known]
    for parent, children in nested.items():
        value = doc.data.get(parent)
        if isinstance(value, dict):
            problems.extend(
                _unknown(doc, (parent, str(key)), children) for key in value if key not in children
            )
    return problems


def _unknown(doc: Document, key: KeyPath, known: tuple[str, ...]) -> ContentProblem:
    name = str(key[-1])
    dotted = ".".join(str(part) for part in key)
    message = f"unknown key {dotted!r}"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    elif name in _DERIVED_HINTS and len(key) == 1:
        message += f" ({_DERIVED_HINTS[name]})"
    else:
        message += f" (allowed: {', '.join(known)})"
    return ContentProblem(doc.path, message, field=dotted, line=doc.line_of(key))


def translate(doc: Document, loc: KeyPath, error: Mapping[str, Any]) -> ContentProblem:
    """One pydantic error as a sentence about the field, with the line of its key."""
    kind = str(error["type"])
    value = error.get("input")
    named = tuple(part for part in loc if isinstance(part, str))
    field = ".".join(named) or None
    line = doc.line_of(loc)
    if kind == "missing":
        if named == ("image", "alt"):
            message = "the image has no alt text: add 'alt:' describing the picture"
        elif len(named) == 1 and named[0] in doc.data:
            message = f"{field!r} has no value"
        else:
            message = f"missing required field {field!r}"
    elif kind == "string_too_long":
        limit = error.get("ctx", {}).get("max_length")
        message = f"is {len(str(value))} characters long; the limit is {limit}"
    elif kind == "string_too_short":
        message = "must not be empty"
        if named == ("image", "alt"):
            message = "the image's alt text must not be empty"
    elif kind == "value_error":
        message = f"{str(error['msg']).removeprefix('Value error, ')} (got {value!r})"
    elif named == ("months",) and kind in (
        "int_parsing",
        "int_type",
        "int_from_float",
        "greater_than_equal",
        "less_than_equal",
    ):
        message = f"{value!r} is not a month; use numbers 1 to 12"
    elif kind == "literal_error" and named == ("season",):
        message = f"{value!r} is not a season"
        close = difflib.get_close_matches(str(value).lower(), list(SEASON_MONTHS), n=1, cutoff=0.6)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        message += f"; use one of {', '.join(SEASON_MONTHS)}"
    elif kind in _TYPE_MESSAGES:
        message = f"{_TYPE_MESSAGES[kind]} (got {value!r})"
        if kind == "string_type" and isinstance(value, bool | int | float):
            # YAML reads yes/no/on/off as booleans and 2024 as a number.
            message += "; put the value in quotes"
    elif kind == "string_pattern_mismatch":
        message = f"{value!r} is not a slug (lower-case letters, digits and hyphens)"
    else:
        message = f"{error['msg']} (got {value!r})"
    return ContentProblem(doc.path, message, field=field, line=line)
