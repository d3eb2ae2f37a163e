"""Writing subscriber CSV files that ``subscribers import`` reads back unchanged.

Columns: ``email``, ``name``, ``first_name``, ``timezone``, then one column per attribute key
(sorted), so export -> import is a round trip: the same people, names and
attributes, every row reported as unchanged.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TextIO

from newsletter.audience.csv_import import field_for_header

BASE_COLUMNS = ("email", "name", "first_name", "timezone")


class ExportedPerson(Protocol):
    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def first_name(self) -> str | None: ...
    @property
    def attributes(self) -> dict[str, Any]: ...
    @property
    def timezone(self) -> str | None: ...


def attribute_columns(keys: Iterable[str]) -> list[str]:
    """Attribute keys that can be columns: not ones import would read as a base field."""
    return sorted(k for k in set(keys) if field_for_header(k) in (None, "last_name"))


def write_csv(out: TextIO, people: Iterable[ExportedPerson], attributes: Sequence[str]) -> int:
    """Write a header and one row per person; returns the number of people written."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*BASE_COLUMNS, *attributes])
    count = 0
    for person in people:
        values = person.attributes
        writer.writerow(
            [
                person.email,
                person.name or "",
                person.first_name or "",
                person.timezone or "",
                *(_cell(values.get(key)) for key in attributes),
            ]
        )
        count += 1
    return count


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
