"""The import summary and the ``--report`` file of rejected rows."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from newsletter.audience.csv_import import SkipReason

# How many row numbers per reason the summary keeps; the report file has them all.
ROW_EXAMPLES = 20


@dataclass
class ImportSummary:
    """Exact counts; ``rows`` always equals the sum of the outcomes."""

    file: str
    list_slug: str
    confirmed: bool
    dry_run: bool
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: dict[SkipReason, int] = field(default_factory=lambda: dict.fromkeys(SkipReason, 0))
    skipped_rows: dict[SkipReason, list[int]] = field(
        default_factory=lambda: {reason: [] for reason in SkipReason}
    )
    report: str | None = None

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def skip(self, reason: SkipReason, row: int) -> None:
        self.rows += 1
        self.skipped[reason] += 1
        examples = self.skipped_rows[reason]
        if len(examples) < ROW_EXAMPLES:
            examples.append(row)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "list": self.list_slug,
            "confirmed": self.confirmed,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": {reason.value: count for reason, count in self.skipped.items()},
            "skipped_rows": {
                reason.value: rows for reason, rows in self.skipped_rows.items() if rows
            },
            "report": self.report,
        }


class RejectReport:
    """Writes rejected rows to ``path`` atomically: the file appears only on success."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.started = False
        self._handle: TextIO | None = None
        self._writer: Any = None
        self._tmp = path.with_name(f".{path.name}.partial") if path is not None else None

    def start(self, headers: tuple[str, ...]) -> None:
        self.started = True
        if self._tmp is None:
            return
        self._handle = self._tmp.open("w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(["row", "reason", "detail", *headers])

    def write(self, row: int, reason: SkipReason, detail: str, cells: list[str]) -> None:
        if self._writer is not None:
            self._writer.writerow([row, reason.value, detail, *cells])

    def __enter__(self) -> RejectReport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.close()
        if self._tmp is None or self.path is None or not self._tmp.exists():
            return
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink()
