"""The console's audience services: search, a person's page, and import by upload."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from test_web_support import make_issue

from newsletter.errors import ImportFileError, NotFoundError
from newsletter.services import audience, audience_console
from newsletter.services.events import ingest_events, process_pending_events
from newsletter.storage.models import MembershipStatus

LIST = "back-care"


@pytest.fixture
def list_id(sessions: sessionmaker[Session]) -> int:
    return audience.create_list(sessions, LIST, "Back Care").id


def _add(sessions: sessionmaker[Session], email: str) -> int:
    result = audience.add_subscriber(sessions, LIST, email, confirmed=True)
    assert result.subscriber_id is not None
    return result.subscriber_id


def test_search_finds_addresses_by_their_start_only(
    sessions: sessionmaker[Session], list_id: int
) -> None:
    for email in ("ana@example.org", "Anabel@Example.org", "bo@example.org", "an_x@example.org"):
        _add(sessions, email)
    found = [f.email for f in audience_console.search(sessions, "ana")]
    assert found == ["ana@example.org", "Anabel@example.org"]
    # LIKE wildcards in the query are literal characters.
    assert [f.email for f in audience_console.search(sessions, "an_")] == ["an_x@example.org"]
    assert audience_console.search(sessions, "%") == []
    assert audience_console.search(sessions, "  ") == []


def test_subscriber_page_lists_the_issues_they_were_sent_and_their_events(
    sessions: sessionmaker[Session], list_id: int
) -> None:
    ana = _add(sessions, "ana@example.org")
    bo = _add(sessions, "bo@example.org")
    issue = make_issue(
        sessions, list_id, recipients=[(ana, "ana@example.org"), (bo, "bo@example.org")]
    )
    ingest_events(
        sessions,
        [
            {
                "event": "delivered",
                "email": "ana@example.org",
                "timestamp": 1_741_000_000,
                "sg_event_id": "e1",
                "issue_id": str(issue),
            },
            {
                "event": "open",
                "email": "ana@example.org",
                "timestamp": 1_741_000_100,
                "sg_event_id": "e2",
                "issue_id": str(issue),
            },
        ],
    )
    process_pending_events(sessions)
    page = audience_console.subscriber_page(sessions, "ANA@example.org")
    assert page.person.memberships[0].status == MembershipStatus.SUBSCRIBED
    assert [r.issue_id for r in page.received] == [issue]
    got = page.received[0]
    assert got.delivered_at is not None and got.first_opened_at is not None and got.opens == 1
    with pytest.raises(NotFoundError):
        audience_console.subscriber_page(sessions, "nobody@example.org")


def test_upload_import_keeps_a_reject_report_to_download(
    sessions: sessionmaker[Session], list_id: int, tmp_path: Path
) -> None:
    csv_bytes = b"email,first_name\nana@example.org,Ana\nnot-an-address,X\nbo@example.org,Bo\n"
    result = audience_console.import_upload(
        sessions,
        io.BytesIO(csv_bytes),
        "../../people.csv",
        LIST,
        reports_dir=tmp_path / "reports",
        confirmed=True,
        dry_run=False,
        source="console import by admin@example.org",
    )
    assert (result.summary.added, result.summary.skipped_total) == (2, 1)
    assert result.summary.file == "../../people.csv"
    assert result.report_id is not None
    report = audience_console.report_file(tmp_path / "reports", result.report_id)
    assert "not-an-address" in report.read_text(encoding="utf-8-sig")
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [report.name]
    person = audience.show_subscriber(sessions, "ana@example.org")
    assert person.memberships[0].consent_source == "console import by admin@example.org"
    with pytest.raises(NotFoundError):
        audience_console.report_file(tmp_path / "reports", "../reports/" + result.report_id)


def test_a_broken_upload_imports_nothing_and_leaves_no_files(
    sessions: sessionmaker[Session], list_id: int, tmp_path: Path
) -> None:
    with pytest.raises(ImportFileError):
        audience_console.import_upload(
            sessions,
            io.BytesIO(b"name\nAna\n"),
            "people.csv",
            LIST,
            reports_dir=tmp_path / "reports",
            confirmed=True,
            dry_run=False,
            source="console",
        )
    assert list((tmp_path / "reports").iterdir()) == []
    dry = audience_console.import_upload(
        sessions,
        io.BytesIO(b"email\nana@example.org\n"),
        "people.csv",
        LIST,
        reports_dir=tmp_path / "reports",
        confirmed=True,
        dry_run=True,
        source="console",
    )
    assert dry.summary.added == 1 and dry.report_id is None
    with pytest.raises(NotFoundError):
        audience.show_subscriber(sessions, "ana@example.org")
