"""Audience use cases around CSV files: import (all or nothing) and export (streamed).

Re-exported by ``newsletter.services.audience``; the consent rules themselves live
in ``newsletter.audience.import_plan``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.csv_export import attribute_columns, write_csv
from newsletter.audience.csv_import import CsvRow, CsvSource, Rejected, SkipReason
from newsletter.audience.erasure import ErasureKeys
from newsletter.audience.import_plan import Outcome, plan_chunk
from newsletter.audience.import_report import ImportSummary, RejectReport
from newsletter.audience.seen import SeenKeys
from newsletter.errors import StorageError
from newsletter.services import lifecycle
from newsletter.services.audience_bulk import BULK_CHUNK, BulkImporter, ImportWriter
from newsletter.storage.db import transaction
from newsletter.storage.models import MembershipStatus, utcnow
from newsletter.storage.repositories import lists, memberships, subscribers, suppressions

IMPORT_CHUNK = 2000


def import_csv(
    sessions: sessionmaker[Session],
    path: Path,
    list_slug: str,
    *,
    confirmed: bool = False,
    dry_run: bool = False,
    report: Path | None = None,
    source: str | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    bulk: bool | None = None,
    erasure: ErasureKeys | None = None,
) -> ImportSummary:
    """Import a CSV into a list, all or nothing (see docs/audience.md).

    One transaction: any error, or an interruption, rolls back every row. With
    ``dry_run`` the work is done and then rolled back, so the summary is exact.
    ``bulk`` picks the set-based writer (COPY + merge, PostgreSQL only; the default
    there) or the chunked one (the default on SQLite); both apply the same rules.
    ``erasure`` gives the keys erased addresses are checked with (default: from the
    settings, loaded only if anyone was ever erased).
    """
    csv_source = CsvSource(path)
    summary = ImportSummary(
        str(path), list_slug, confirmed, dry_run, report=str(report) if report else None
    )
    consent = source or f"import:{path.name}" + (" (consent given elsewhere)" if confirmed else "")
    session = sessions()
    importer: ImportWriter | None = None
    try:
        with RejectReport(report) as rejects:
            list_id = lists.get_by_slug(session, list_slug).id
            if bulk is None:
                bulk = session.get_bind().dialect.name == "postgresql"
            if bulk:
                importer = BulkImporter(summary, rejects, list_id, consent, confirmed)
            else:
                importer = _Importer(summary, rejects, list_id, consent, confirmed)
            chunk = chunk_size or (BULK_CHUNK if bulk else IMPORT_CHUNK)
            importer.erasure = erasure
            importer.begin(session)
            seen = SeenKeys()
            for item in csv_source:
                if csv_source.columns is not None and not rejects.started:
                    rejects.start(csv_source.columns.headers)
                if isinstance(item, CsvRow):
                    if seen.add(item.key):
                        importer.rows.append(item)
                    else:
                        detail = "same address as an earlier row"
                        importer.pending.append(
                            Rejected(item.row, SkipReason.DUPLICATE, detail, item.cells)
                        )
                else:
                    importer.pending.append(item)
                if len(importer.rows) + len(importer.pending) >= chunk:
                    importer.flush(session)
                    if progress is not None:
                        progress(importer.seen_rows)
            if csv_source.columns is not None and not rejects.started:
                rejects.start(csv_source.columns.headers)
            importer.finish(session)
            if dry_run:
                session.rollback()
            else:
                session.commit()
    except SQLAlchemyError as exc:
        _abandon(session, importer)
        raise StorageError(f"import of {path} failed, nothing was imported: {exc}") from exc
    except BaseException:
        _abandon(session, importer)
        raise
    finally:
        session.close()
    return summary


def _abandon(session: Session, importer: ImportWriter | None) -> None:
    """Stop the writer's own work (the bulk writer's thread), then roll everything back."""
    if importer is not None:
        importer.close()
    session.rollback()


class _Importer(ImportWriter):
    """Writes each chunk as it comes (see import_plan for the rules)."""

    def begin(self, session: Session) -> None:
        self.erasure = lifecycle.erasure_keys_if_needed(session, self.erasure)
        subscribers.prefer_index_lookups(session)

    def finish(self, session: Session) -> None:
        self.flush(session)

    def close(self) -> None:
        """Nothing runs beside the parse loop: the rollback is enough."""

    def flush(self, session: Session) -> None:
        skips = list(self.pending)
        if self.rows:
            skips.extend(self._write(session, self.rows))
        # Rows are reported in file order whatever decided their fate.
        for reject in sorted(skips, key=lambda r: r.row):
            self.summary.skip(reject.reason, reject.row)
            self.rejects.write(reject.row, reject.reason, reject.detail, reject.cells)
        self.rows = []
        self.pending = []

    def _write(self, session: Session, rows: Sequence[CsvRow]) -> list[Rejected]:
        keys = [row.key for row in rows]
        existing = subscribers.profiles_by_key(session, keys)
        states = memberships.statuses(session, self.list_id, [p.id for p in existing.values()])
        suppressed = suppressions.suppressed_keys(session, keys)
        if self.erasure is not None:
            suppressed |= lifecycle.erased_among(session, self.erasure, keys)
        plan = plan_chunk(
            rows,
            existing=existing,
            suppressed=suppressed,
            states={k: v.value for k, v in states.items()},
            confirmed=self.confirmed,
        )
        now = utcnow()
        new_ids: list[int] = []
        if plan.new_subscribers:
            subscribers.insert_many(
                session,
                [
                    {
                        "email": r.email,
                        "email_key": r.key,
                        "name": r.name,
                        "first_name": r.first_name,
                        "attributes": r.attributes,
                        "timezone": r.timezone,
                        "created_at": now,
                    }
                    for r in plan.new_subscribers
                ],
            )
            ids = subscribers.ids_by_key(session, [r.key for r in plan.new_subscribers])
            new_ids = list(ids.values())
        subscribers.update_profiles(
            session,
            [
                {"b_id": i, "b_name": n, "b_first_name": f, "b_attributes": a, "b_timezone": z}
                for i, n, f, a, z in plan.profile_updates
            ],
        )
        status = MembershipStatus.SUBSCRIBED if self.confirmed else MembershipStatus.PENDING
        memberships.insert_many(
            session,
            [
                {
                    "list_id": self.list_id,
                    "subscriber_id": subscriber_id,
                    "status": status.value,
                    "created_at": now,
                    "updated_at": now,
                    "consent_source": self.consent,
                    "consent_ip": None,
                    "consent_user_agent": None,
                    "confirmed_at": now if self.confirmed else None,
                    "unsubscribed_at": None,
                    "unsubscribe_source": None,
                }
                for subscriber_id in [*new_ids, *plan.join_ids]
            ],
        )
        memberships.confirm_pending(
            session, self.list_id, plan.confirm_ids, source=self.consent, now=now
        )
        for _row, outcome in plan.outcomes:
            self.summary.rows += 1
            if outcome is Outcome.ADDED:
                self.summary.added += 1
            elif outcome is Outcome.UPDATED:
                self.summary.updated += 1
            else:
                self.summary.unchanged += 1
        return [Rejected(row.row, reason, detail, row.cells) for row, reason, detail in plan.skips]


def export_csv(
    sessions: sessionmaker[Session],
    list_slug: str,
    out: TextIO,
    *,
    statuses: Sequence[MembershipStatus] = (MembershipStatus.PENDING, MembershipStatus.SUBSCRIBED),
) -> int:
    """Stream a list's members to ``out`` as CSV that import reads back; returns the count."""
    with transaction(sessions) as session:
        list_id = lists.get_by_slug(session, list_slug).id
        # Two streamed passes: the attribute columns must be known before the header.
        keys: set[str] = set()
        for person in subscribers.iter_list_members(session, list_id, statuses):
            keys.update(person.attributes)
        people = subscribers.iter_list_members(session, list_id, statuses)
        return write_csv(out, people, attribute_columns(keys))
