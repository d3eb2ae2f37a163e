"""Reading subscriber CSV files: streaming, strict about the file, lenient about rows.

A file that cannot be read at all (empty, binary, not UTF-8, no email column)
raises ``ImportFileError`` naming the file and where. A row that cannot be used
becomes a ``Rejected`` with its row number and reason, and the import goes on.

Row numbers are spreadsheet rows: the header is row 1, the first person row 2.
"""

from __future__ import annotations

import csv
import enum
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from newsletter.audience.addresses import normalize_email
from newsletter.audience.names import MAX_NAME_LENGTH, name_problem
from newsletter.audience.timezones import normalize_timezone
from newsletter.errors import AddressError, ImportFileError, TimezoneError

# A single cell above this is not a name or an attribute; the row is rejected.
MAX_FIELD_CHARS = 128 * 1024
# A physical line above this means the file is not a subscriber CSV; reading stops.
MAX_LINE_BYTES = 4 * 1024 * 1024

FIELDS = ("email", "name", "first_name", "last_name", "timezone")
_ALIASES = {
    "email": "email",
    "e mail": "email",
    "email address": "email",
    "e mail address": "email",
    "name": "name",
    "full name": "name",
    "first name": "first_name",
    "firstname": "first_name",
    "given name": "first_name",
    "last name": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family name": "last_name",
    "timezone": "timezone",
    "time zone": "timezone",
    "tz": "timezone",
}


class SkipReason(enum.StrEnum):
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    SUPPRESSED = "suppressed"
    UNSUBSCRIBED = "unsubscribed"


def field_for_header(header: str) -> str | None:
    """The known field a header names (``email``, ``name``...), or None for an attribute."""
    return _ALIASES.get(re.sub(r"[\s_-]+", " ", header.strip().lower()))


@dataclass(slots=True)
class CsvRow:
    row: int
    email: str
    key: str
    name: str | None
    first_name: str | None
    attributes: dict[str, str]
    cells: list[str]
    timezone: str | None = None
    """IANA name as the tz database spells it; None when the cell was empty."""


@dataclass(slots=True)
class Rejected:
    row: int
    reason: SkipReason
    detail: str
    cells: list[str]


@dataclass(frozen=True)
class Columns:
    headers: tuple[str, ...]
    email: int
    name: int | None
    first_name: int | None
    last_name: int | None
    attributes: tuple[tuple[int, str], ...]
    timezone: int | None = None


def _map_columns(path: Path, headers: list[str]) -> Columns:
    known: dict[str, int] = {}
    attributes: list[tuple[int, str]] = []
    seen_attributes: dict[str, int] = {}
    for index, raw in enumerate(headers):
        header = raw.strip()
        field = field_for_header(header)
        if field is not None:
            if field in known:
                first = headers[known[field]].strip()
                raise ImportFileError(
                    f"{path}: columns {first!r} and {header!r} both name the {field} field"
                )
            known[field] = index
            continue
        name = header or f"column_{index + 1}"
        if name in seen_attributes:
            raise ImportFileError(f"{path}: the column {name!r} appears twice in the header")
        seen_attributes[name] = index
        attributes.append((index, name))
    if "email" not in known:
        shown = ", ".join(repr(h) for h in headers)
        raise ImportFileError(
            f"{path}: no email column in the header row (found {shown}); name one column 'email'"
        )
    return Columns(
        headers=tuple(h.strip() for h in headers),
        email=known["email"],
        name=known.get("name"),
        first_name=known.get("first_name"),
        last_name=known.get("last_name"),
        attributes=tuple(attributes),
        timezone=known.get("timezone"),
    )


def _sniff_delimiter(header_line: str) -> str:
    # Only the header is looked at: it has no quoted commas in practice, and a
    # sample of data rows could be misled by names like "Doe, Jane".
    return ";" if header_line.count(";") > header_line.count(",") else ","


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    # csv's limit is process-wide; put back whatever was there.
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


class CsvSource:
    """One subscriber CSV file, read lazily; iterate it once for rows and rejects."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.delimiter = ","
        self.columns: Columns | None = None

    def _lines(self, handle: BinaryIO) -> Iterator[str]:
        offset = 0
        for line_no in itertools.count(1):
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            where = f"line {line_no}, byte offset {offset}"
            if len(raw) > MAX_LINE_BYTES:
                raise ImportFileError(
                    f"{self.path}: {where}: a line longer than {MAX_LINE_BYTES // 2**20} MiB; "
                    "this is not a subscriber CSV file"
                )
            if line_no == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise ImportFileError(
                    f"{self.path}: the file is UTF-16; save it as 'CSV UTF-8' and try again"
                )
            nul = raw.find(b"\x00")
            if nul >= 0:
                raise ImportFileError(
                    f"{self.path}: a NUL byte at byte offset {offset + nul} (line {line_no}): "
                    "this is a binary file, not a CSV file"
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    f"{self.path}: not UTF-8 at byte offset {offset + exc.start} "
                    f"(line {line_no}); save the file as 'CSV UTF-8' and try again"
                ) from exc
            if line_no == 1:
                text = text.removeprefix("\ufeff")
            offset += len(raw)
            yield text

    def __iter__(self) -> Iterator[CsvRow | Rejected]:
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise ImportFileError(f"{self.path}: cannot open: {exc.strerror}") from exc
        with handle, _field_limit(MAX_FIELD_CHARS):
            lines = self._lines(handle)
            first = next((line for line in lines if line.strip()), None)
            if first is None:
                raise ImportFileError(f"{self.path}: the file is empty (no header row)")
            self.delimiter = _sniff_delimiter(first)
            reader = csv.reader(itertools.chain([first], lines), delimiter=self.delimiter)
            try:
                headers = next(reader)
            except csv.Error as exc:
                raise ImportFileError(f"{self.path}: the header row is unreadable: {exc}") from exc
            columns = self.columns = _map_columns(self.path, headers)
            row_no = 1
            while True:
                start_line = reader.line_num + 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    row_no += 1
                    detail = f"unreadable (lines {start_line}-{reader.line_num}): {exc}"
                    yield Rejected(row_no, SkipReason.INVALID, detail, [])
                    continue
                if not any(cell.strip() for cell in cells):
                    continue  # blank lines are not people
                row_no += 1
                yield _parse_row(columns, row_no, cells)


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def _parse_row(columns: Columns, row_no: int, cells: list[str]) -> CsvRow | Rejected:
    width = len(columns.headers)
    if len(cells) > width and any(c.strip() for c in cells[width:]):
        detail = f"{len(cells)} cells but the header has {width} (unquoted comma?)"
        return Rejected(row_no, SkipReason.INVALID, detail, cells)
    raw_email = _cell(cells, columns.email)
    if not raw_email:
        return Rejected(row_no, SkipReason.INVALID, "no email address", cells)
    try:
        email, key = normalize_email(raw_email)
    except AddressError as exc:
        return Rejected(row_no, SkipReason.INVALID, str(exc), cells)
    first_name = _cell(cells, columns.first_name) or None
    last_name = _cell(cells, columns.last_name)
    given = _cell(cells, columns.name)
    for label, value in (("name", given), ("first name", first_name), ("last name", last_name)):
        problem = name_problem(value) if value else None
        if problem is not None:
            return Rejected(row_no, SkipReason.INVALID, f"{label} {problem}", cells)
    name = given or " ".join(filter(None, [first_name, last_name])) or None
    if name is not None and len(name) > MAX_NAME_LENGTH:
        detail = f"first and last name together are longer than {MAX_NAME_LENGTH} characters"
        return Rejected(row_no, SkipReason.INVALID, detail, cells)
    timezone = _cell(cells, columns.timezone) or None
    if timezone is not None:
        try:
            timezone = normalize_timezone(timezone)
        except TimezoneError as exc:
            return Rejected(row_no, SkipReason.INVALID, f"timezone: {exc}", cells)
    attributes = {
        header: value for index, header in columns.attributes if (value := _cell(cells, index))
    }
    if last_name:
        # Kept so that nothing in the file is lost and an export gives it back.
        attributes["last_name"] = last_name
    return CsvRow(row_no, email, key, name, first_name, attributes, cells, timezone)
