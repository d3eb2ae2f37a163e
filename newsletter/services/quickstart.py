"""The README's one-command demo: schema, a list, example subscribers, this week's issue.

Each step is idempotent, so running it twice shows the product's main promise: the
second run finds the issue already sent and sends nobody anything.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import NotFoundError
from newsletter.services import audience, issues, users
from newsletter.services.audience_csv import import_csv
from newsletter.services.issues_send import SendReport, send_issue
from newsletter.services.preview import write_stored_preview
from newsletter.settings import DEMO_SECRET_KEY_FILE, Settings
from newsletter.storage import migrate
from newsletter.storage.db import session_factory, transaction
from newsletter.storage.models import IssueStatus, UserRole
from newsletter.storage.repositories import issues as issue_repo
from newsletter.storage.repositories import lists as list_repo

DEMO_LIST = "wellness"
DEMO_LIST_NAME = "Wellness Weekly"
DEMO_CSV = Path("examples/subscribers.csv")
DEMO_ADMIN = "admin@example.org"


@dataclass
class QuickstartReport:
    """What each step did, for the summary a newcomer reads."""

    schema: str = ""
    list_created: bool = False
    imported: dict[str, int] = field(default_factory=dict)
    issue_id: int = 0
    issue_date: dt.date | None = None
    subject: str = ""
    status_before: str = ""
    send: SendReport | None = None
    preview_html: Path | None = None
    preview_text: Path | None = None
    outbox: Path | None = None
    admin_email: str = DEMO_ADMIN
    # Only on the run that created the account: it is shown once and stored only hashed.
    admin_password: str | None = None
    console_url: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "list": DEMO_LIST,
            "list_created": self.list_created,
            "imported": self.imported,
            "issue": {
                "id": self.issue_id,
                "date": self.issue_date.isoformat() if self.issue_date else None,
                "subject": self.subject,
                "status_before": self.status_before,
            },
            "send": self.send.as_dict() if self.send else None,
            "preview_html": str(self.preview_html) if self.preview_html else None,
            "preview_text": str(self.preview_text) if self.preview_text else None,
            "outbox": str(self.outbox) if self.outbox else None,
            "console": {
                "url": self.console_url,
                "email": self.admin_email,
                "password": self.admin_password,
            },
        }


def ensure_demo_key(cfg: Settings) -> Settings:
    """``cfg``, with a random key written to ``DEMO_SECRET_KEY_FILE`` if none is set.

    Only the demo does this: every other command refuses to run without a key.
    A key that is set but unsafe is left alone, so the send refuses it and says why.
    """
    if cfg.secret_key.get_secret_value():
        return cfg
    DEMO_SECRET_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Created readable by the owner only, and never overwritten: old demo links keep working.
    try:
        fd = os.open(DEMO_SECRET_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = DEMO_SECRET_KEY_FILE.read_text("utf-8").strip()
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
    return cfg.model_copy(update={"secret_key": SecretStr(key)})


def run_quickstart(
    cfg: Settings,
    engine: Engine,
    *,
    csv_path: Path = DEMO_CSV,
    issue_date: dt.date | None = None,
    console_url: str = "http://127.0.0.1:8000/admin",
) -> QuickstartReport:
    """Upgrade, create the demo list, import, build + approve + send this week's issue."""
    report = QuickstartReport()
    before, after = migrate.upgrade(engine)
    report.schema = f"{before or 'empty'} -> {after}" if before != after else f"at {after}"
    sessions = session_factory(engine)

    try:
        audience.get_list(sessions, DEMO_LIST)
    except NotFoundError:
        audience.create_list(sessions, DEMO_LIST, DEMO_LIST_NAME)
        report.list_created = True

    summary = import_csv(sessions, csv_path, DEMO_LIST, confirmed=True, source="quickstart demo")
    report.imported = {
        "added": summary.added,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "skipped": summary.skipped_total,
    }

    day = issue_date or cfg.today()
    with transaction(sessions) as session:
        mailing_list = list_repo.get_by_slug(session, DEMO_LIST)
        existing = issue_repo.find_live_issue(session, mailing_list.id, day)
        existing_id = existing.id if existing is not None else None
    view = (
        issues.show_issue(engine, existing_id)
        if existing_id is not None
        else issues.build_issue(cfg, engine, DEMO_LIST, day)
    )
    report.issue_id, report.issue_date, report.subject = view.id, view.issue_date, view.subject
    report.status_before = str(view.status)
    if view.status == IssueStatus.DRAFT:
        issues.approve_issue(engine, view.id, by="quickstart")
    if view.status in (IssueStatus.DRAFT, IssueStatus.APPROVED, IssueStatus.SENDING):
        # The demo shows the whole flow at once, whatever the send schedule says.
        report.send = send_issue(cfg, engine, view.id, send_now=True)

    report.admin_password = _demo_admin(sessions)
    report.console_url = console_url

    files = write_stored_preview(cfg, engine, view.id)
    report.preview_html, report.preview_text = files.html_path, files.text_path
    if cfg.effective_sender == "outbox":
        report.outbox = cfg.outbox_dir
    return report


def _demo_admin(sessions: sessionmaker[Session]) -> str | None:
    """Create the demo admin with a random password; None when it already exists."""
    try:
        users.get_user(sessions, DEMO_ADMIN)
    except NotFoundError:
        password = users.random_password()
        users.add_user(
            sessions,
            DEMO_ADMIN,
            UserRole.ADMIN,
            name="Demo admin",
            password=password,
            actor="quickstart",
        )
        return password
    return None
