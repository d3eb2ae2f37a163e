"""The PostgreSQL writer of a CSV import: stage every row with COPY, merge once at the end.

``import_csv`` parses and validates exactly as for SQLite and hands this writer the same
rows and rejects; only the writing differs. Rejected rows are staged too, so that the
summary's example rows and the ``--report`` file come out in file order, as they do
from the chunked writer.
"""

from __future__ import annotations

import abc
import json
from typing import Any

from sqlalchemy.orm import Session

from newsletter.audience.csv_import import CsvRow, Rejected, SkipReason
from newsletter.audience.erasure import ErasureKeys
from newsletter.audience.import_plan import SUPPRESSED_DETAIL, UNSUBSCRIBED_DETAIL, Outcome
from newsletter.audience.import_report import ImportSummary, RejectReport
from newsletter.services import lifecycle
from newsletter.storage.models import utcnow
from newsletter.storage.repositories import bulk_import

# Rows handed to COPY at a time: large enough that COPY's set-up is noise.
BULK_CHUNK = 20_000
# A rejected row's staged address, key, names and attributes.
_NO_PERSON = (None, None, None, None, None)


class ImportWriter(abc.ABC):
    """What both writers share: the parse loop fills ``rows`` and ``pending``, then
    calls ``flush`` every chunk and ``finish`` once."""

    def __init__(
        self,
        summary: ImportSummary,
        rejects: RejectReport,
        list_id: int,
        consent: str,
        confirmed: bool,
    ) -> None:
        self.summary = summary
        self.rejects = rejects
        self.list_id = list_id
        self.consent = consent
        self.confirmed = confirmed
        self.rows: list[CsvRow] = []
        self.pending: list[Rejected] = []
        self.erasure: ErasureKeys | None = None

    @property
    def seen_rows(self) -> int:
        """Rows handled so far (for progress reports)."""
        return self.summary.rows

    @abc.abstractmethod
    def begin(self, session: Session) -> None: ...

    @abc.abstractmethod
    def flush(self, session: Session) -> None: ...

    @abc.abstractmethod
    def finish(self, session: Session) -> None: ...


class BulkImporter(ImportWriter):
    """Stages each chunk with COPY; decides and writes every row in ``finish``."""

    _staged = 0

    @property
    def seen_rows(self) -> int:
        return self._staged

    @property
    def _keep_cells(self) -> bool:
        # Cells are only needed for the report file; a million of them is not free.
        return self.rejects.path is not None

    def begin(self, session: Session) -> None:
        self.erasure = lifecycle.erasure_keys_if_needed(session, self.erasure)
        bulk_import.start(session)

    def _cells(self, cells: list[str]) -> str | None:
        return json.dumps(cells, ensure_ascii=False) if self._keep_cells else None

    def flush(self, session: Session) -> None:
        staged: list[tuple[Any, ...]] = [
            (
                r.row,
                r.email,
                r.key,
                r.name,
                r.first_name,
                json.dumps(r.attributes, ensure_ascii=False),
                None,
                None,
                self._cells(r.cells),
                r.timezone,
                self.erasure.candidates(r.key) if self.erasure is not None else None,
            )
            for r in self.rows
        ]
        staged.extend(
            (
                j.row,
                *_NO_PERSON,
                j.reason.value,
                j.detail,
                self._cells(j.cells),
                None,
                None,
            )
            for j in self.pending
        )
        bulk_import.copy_rows(session, staged)
        self._staged += len(staged)
        self.rows = []
        self.pending = []

    def finish(self, session: Session) -> None:
        self.flush(session)
        counts = bulk_import.merge(
            session,
            list_id=self.list_id,
            confirmed=self.confirmed,
            consent=self.consent,
            now=utcnow(),
            erasures=self.erasure is not None,
            suppressed_detail=SUPPRESSED_DETAIL,
            unsubscribed_detail=UNSUBSCRIBED_DETAIL,
        )
        for row, reason, detail, cells in bulk_import.iter_skips(session):
            why = SkipReason(reason)
            self.summary.skip(why, row)
            self.rejects.write(row, why, detail, json.loads(cells) if cells else [])
        added = counts.get(Outcome.ADDED.value, 0)
        updated = counts.get(Outcome.UPDATED.value, 0)
        unchanged = counts.get(Outcome.UNCHANGED.value, 0)
        self.summary.added += added
        self.summary.updated += updated
        self.summary.unchanged += unchanged
        self.summary.rows += added + updated + unchanged
