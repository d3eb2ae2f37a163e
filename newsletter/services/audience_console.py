"""The console's audience pages: find a person, see what they received, import by upload.

The import is ``audience.import_csv`` itself (one transaction, all or nothing); this
module only lands the upload in a file first and keeps the reject report where the
browser can download it by an unguessable id.
"""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.addresses import normalize_email
from newsletter.audience.import_report import ImportSummary
from newsletter.errors import AddressError, NotFoundError
from newsletter.services import audience
from newsletter.services.audience import SubscriberView
from newsletter.storage.db import transaction
from newsletter.storage.repositories import audience_browse as repo
from newsletter.storage.repositories.audience_browse import Found, Received

SEARCH_LIMIT = 50
RECENT_ISSUES = 100
_REPORT_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class SubscriberPage:
    person: SubscriberView
    received: tuple[Received, ...]


@dataclass(frozen=True)
class UploadResult:
    summary: ImportSummary
    report_id: str | None  # set when rows were rejected and a report was kept


def search(sessions: sessionmaker[Session], query: str) -> list[Found]:
    """People whose address starts with ``query`` (at most ``SEARCH_LIMIT``)."""
    with transaction(sessions) as session:
        return repo.search_by_prefix(session, query, SEARCH_LIMIT)


def subscriber_page(sessions: sessionmaker[Session], email: str) -> SubscriberPage:
    """Profile, memberships with consent, suppression, and the recent issues they were in."""
    person = audience.show_subscriber(sessions, email)
    received: list[Received] = []
    if person.subscriber_id is not None:
        key = normalize_email(person.email).key
        with transaction(sessions) as session:
            issues = repo.recent_sent_issues(session, RECENT_ISSUES)
            received = repo.received_by(session, person.subscriber_id, key, issues)
    return SubscriberPage(person=person, received=tuple(received))


def valid_address(text: str) -> bool:
    try:
        normalize_email(text)
    except AddressError:
        return False
    return True


def import_upload(
    sessions: sessionmaker[Session],
    upload: BinaryIO,
    filename: str,
    list_slug: str,
    *,
    reports_dir: Path,
    confirmed: bool,
    dry_run: bool,
    source: str,
) -> UploadResult:
    """Import an uploaded CSV exactly as ``subscribers import`` does; keep the reject report."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    report_id = secrets.token_hex(16)
    # Named after the id, not the upload's name: a name from a browser never becomes a path.
    upload_path = reports_dir / f".{report_id}.upload.csv"
    report_path = reports_dir / f"{report_id}.csv"
    try:
        with upload_path.open("wb") as handle:
            shutil.copyfileobj(upload, handle, length=1 << 20)
        summary = audience.import_csv(
            sessions,
            upload_path,
            list_slug,
            confirmed=confirmed,
            dry_run=dry_run,
            report=report_path,
            source=source[:200],
        )
    finally:
        upload_path.unlink(missing_ok=True)
    summary.file = filename
    kept = report_path.exists() and summary.skipped_total > 0
    if not kept:
        report_path.unlink(missing_ok=True)
    summary.report = None
    return UploadResult(summary=summary, report_id=report_id if kept else None)


def report_file(reports_dir: Path, report_id: str) -> Path:
    """The stored reject report for ``report_id``; ``NotFoundError`` for anything else."""
    path = reports_dir / f"{report_id}.csv"
    if not _REPORT_ID.fullmatch(report_id) or not path.is_file():
        raise NotFoundError("that reject report does not exist (it may have been removed)")
    return path
