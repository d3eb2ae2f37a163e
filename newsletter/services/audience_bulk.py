"""The PostgreSQL writer of a CSV import: COPY and merge on a second thread, while parsing.

``import_csv`` parses and validates exactly as for SQLite and hands this writer the same
rows and rejects; only the writing differs. Each chunk goes to a merging thread that
streams it into the staging table with COPY and merges every
``bulk_import.MERGE_ROWS`` rows, so the database works while Python parses the next
rows (the two take about the same time, on two cores). Rejected rows are staged too, so
that the summary's example rows and the ``--report`` file come out in file order, as they
do from the chunked writer.
"""

from __future__ import annotations

import abc
import json
import queue
import threading
from collections import Counter
from typing import Any

from sqlalchemy.orm import Session

from newsletter.audience.csv_import import CsvRow, Rejected, SkipReason
from newsletter.audience.erasure import ErasureKeys
from newsletter.audience.import_plan import SUPPRESSED_DETAIL, UNSUBSCRIBED_DETAIL, Outcome
from newsletter.audience.import_report import ImportSummary, RejectReport
from newsletter.services import lifecycle
from newsletter.storage.models import utcnow
from newsletter.storage.repositories.bulk_import import MERGE_ROWS, MergeRules, Staging, copy_text

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

    @abc.abstractmethod
    def close(self) -> None:
        """Stop any work still running after a failure, before the rollback."""


# A chunk as COPY text (formatted by the parsing thread), and its row count.
Chunk = tuple[str, int]


class _Merger(threading.Thread):
    """The second thread: COPYs every chunk handed to it, merges every MERGE_ROWS rows.

    It owns the database connection from ``start()`` until it ends. After a failure (or
    once told to stop) it keeps taking chunks and drops them, so the parser never waits
    on a full queue; the parser sees ``error`` at its next hand-over.
    """

    def __init__(self, staging: Staging) -> None:
        super().__init__(name="import-merge", daemon=True)
        self.staging = staging
        # Two chunks waiting at most: parsing may run ahead of the merge, memory may not.
        self.chunks: queue.Queue[Chunk | None] = queue.Queue(maxsize=2)
        self.counts: Counter[str] = Counter()
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def _working(self) -> bool:
        return self.error is None and not self.stopping.is_set()

    def run(self) -> None:
        while (chunk := self.chunks.get()) is not None:
            if self._working():
                self._step(chunk)
        if self._working():
            self._step(None)

    def _step(self, chunk: Chunk | None) -> None:
        try:
            if chunk is not None:
                self.staging.copy(*chunk)
            if chunk is None or self.staging.staged >= MERGE_ROWS:
                self.counts.update(self.staging.merge())
        except BaseException as exc:  # handed to the parsing thread, which raises it
            self.error = exc


class BulkImporter(ImportWriter):
    """Hands each chunk to the merging thread; collects its counts and skips in ``finish``."""

    _handed = 0
    _merger: _Merger | None = None
    _staging: Staging | None = None

    @property
    def seen_rows(self) -> int:
        return self._handed

    @property
    def _keep_cells(self) -> bool:
        # Cells are only needed for the report file; a million of them is not free.
        return self.rejects.path is not None

    def begin(self, session: Session) -> None:
        self.erasure = lifecycle.erasure_keys_if_needed(session, self.erasure)
        rules = MergeRules(
            list_id=self.list_id,
            confirmed=self.confirmed,
            consent=self.consent,
            now=utcnow(),
            erasures=self.erasure is not None,
            suppressed_detail=SUPPRESSED_DETAIL,
            unsubscribed_detail=UNSUBSCRIBED_DETAIL,
        )
        self._staging = Staging.start(session, rules)
        self._merger = _Merger(self._staging)
        self._merger.start()

    def _cells(self, cells: list[str]) -> str | None:
        return json.dumps(cells, ensure_ascii=False) if self._keep_cells else None

    def _raise_failure(self) -> None:
        if self._merger is not None and self._merger.error is not None:
            raise self._merger.error

    def flush(self, session: Session) -> None:
        self._raise_failure()
        assert self._merger is not None, "begin() first"
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
        if staged:
            self._merger.chunks.put((copy_text(staged), len(staged)))
        self._handed += len(staged)
        self.rows = []
        self.pending = []

    def finish(self, session: Session) -> None:
        self.flush(session)
        merger, staging = self._merger, self._staging
        assert merger is not None and staging is not None, "begin() first"
        merger.chunks.put(None)
        merger.join()
        self._raise_failure()
        for row, reason, detail, cells in staging.iter_skips():
            why = SkipReason(reason)
            self.summary.skip(why, row)
            self.rejects.write(row, why, detail, json.loads(cells) if cells else [])
        added = merger.counts[Outcome.ADDED.value]
        updated = merger.counts[Outcome.UPDATED.value]
        unchanged = merger.counts[Outcome.UNCHANGED.value]
        self.summary.added += added
        self.summary.updated += updated
        self.summary.unchanged += unchanged
        self.summary.rows += added + updated + unchanged

    def close(self) -> None:
        merger, staging = self._merger, self._staging
        if merger is None or staging is None or not merger.is_alive():
            return
        merger.stopping.set()
        staging.cancel()
        merger.chunks.put(None)
        merger.join()
