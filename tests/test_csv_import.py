"""CSV import: bad files fail clearly, bad rows are reported, the summary is exact."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.csv_import import MAX_FIELD_CHARS, CsvRow, CsvSource, Rejected, SkipReason
from newsletter.audience.import_plan import MemberState, Outcome, plan_chunk
from newsletter.audience.seen import SeenKeys
from newsletter.errors import ImportFileError, NotFoundError
from newsletter.services import audience
from newsletter.storage.models import Membership, MembershipStatus, Subscriber, SuppressionReason
from newsletter.storage.repositories.subscribers import Profile

Sessions = sessionmaker[Session]


def _write(tmp_path: Path, content: str | bytes, name: str = "people.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def _items(path: Path) -> list[CsvRow | Rejected]:
    return list(CsvSource(path))


# ---------------------------------------------------------------- files that cannot be read


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n  \n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(ImportFileError, match=r"people\.csv: the file is empty"):
        _items(path)


def test_no_email_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "name,city\nAnn,Springfield\n")
    with pytest.raises(ImportFileError, match=r"no email column.*'name', 'city'"):
        _items(path)


def test_binary_file_names_the_byte_offset(tmp_path: Path) -> None:
    path = _write(tmp_path, b"email\na@x.org\n\x89PNG\x00\x01\x02")
    with pytest.raises(ImportFileError, match=r"NUL byte at byte offset 18 \(line 3\)"):
        _items(path)


def test_not_utf8_names_the_byte_offset(tmp_path: Path) -> None:
    path = _write(tmp_path, "email,name\na@x.org,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(ImportFileError, match=r"not UTF-8 at byte offset 22 \(line 2\)"):
        _items(path)


def test_utf16_is_explained(tmp_path: Path) -> None:
    path = _write(tmp_path, "email\na@x.org\n".encode("utf-16"))
    with pytest.raises(ImportFileError, match="UTF-16"):
        _items(path)


def test_two_email_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "Email,E-mail\na@x.org,b@x.org\n")
    with pytest.raises(ImportFileError, match="'Email' and 'E-mail' both name the email"):
        _items(path)


# ---------------------------------------------------------------- parsing


def test_bom_headers_any_case_and_order_and_attributes(tmp_path: Path) -> None:
    text = "\ufeffCity,LAST NAME,First_Name,EMAIL\nSpringfield,Doe,Jane,Jane@Example.org\n"
    [row] = _items(_write(tmp_path, text))
    assert isinstance(row, CsvRow)
    assert (row.row, row.email, row.key) == (2, "Jane@example.org", "jane@example.org")
    assert (row.name, row.first_name) == ("Jane Doe", "Jane")
    assert row.attributes == {"City": "Springfield", "last_name": "Doe"}


def test_semicolons_and_quoted_commas(tmp_path: Path) -> None:
    text = 'email;name;note\na@x.org;"Doe, Jane";"1,2;3"\n'
    [row] = _items(_write(tmp_path, text))
    assert isinstance(row, CsvRow)
    assert row.name == "Doe, Jane"
    assert row.attributes == {"note": "1,2;3"}
    comma = 'email,name\nb@x.org,"Smith, John ""Jack"""\n'
    [row2] = _items(_write(tmp_path, comma, "b.csv"))
    assert isinstance(row2, CsvRow) and row2.name == 'Smith, John "Jack"'


def test_a_1mb_line_is_one_rejected_row_and_the_rest_is_read(tmp_path: Path) -> None:
    big = "x" * (1024 * 1024)
    text = f"email,name\na@x.org,Ann\nb@x.org,{big}\nc@x.org,Cy\n"
    items = _items(_write(tmp_path, text))
    assert [type(i).__name__ for i in items] == ["CsvRow", "Rejected", "CsvRow"]
    reject = items[1]
    assert isinstance(reject, Rejected)
    assert reject.row == 3 and reject.reason is SkipReason.INVALID
    assert str(MAX_FIELD_CHARS) in reject.detail
    assert isinstance(items[2], CsvRow) and items[2].row == 4


def test_row_level_rejects(tmp_path: Path) -> None:
    text = (
        "email,name\n"
        "not-an-address,Ann\n"
        ",Nobody\n"
        "c@x.org,Cy,extra\n"
        "\n"
        "d@x.org,Di,\n"
        f"e@x.org,{'n' * 101}\n"
    )
    items = _items(_write(tmp_path, text))
    summary = [(i.row, type(i).__name__) for i in items]
    assert summary == [
        (2, "Rejected"),
        (3, "Rejected"),
        (4, "Rejected"),
        (5, "CsvRow"),
        (6, "Rejected"),
    ]
    details = [i.detail for i in items if isinstance(i, Rejected)]
    assert "'not-an-address' is not a valid email address" in details[0]
    assert details[1] == "no email address"
    assert "3 cells but the header has 2" in details[2]
    assert "longer than 100" in details[3]


def test_seen_keys_through_growth() -> None:
    seen = SeenKeys(16)
    assert all(seen.add(f"p{i}@x.org") for i in range(5000))
    assert len(seen) == 5000
    assert not seen.add("p0@x.org")
    assert not seen.add("p4999@x.org")
    assert seen.add("p5000@x.org")


def test_plan_chunk_applies_the_consent_rules() -> None:
    def row(n: int, key: str, **kw: object) -> CsvRow:
        return CsvRow(n, key, key, kw.get("name"), None, dict(kw.get("attrs") or {}), [])  # type: ignore[arg-type]

    existing = {
        k: Profile(i, k, k, "Old", None, {"a": "1"})
        for i, k in enumerate(["gone@x", "pend@x", "sub@x", "other@x"], start=1)
    }
    plan = plan_chunk(
        [
            row(2, "new@x"),
            row(3, "supp@x"),
            row(4, "gone@x", name="New"),
            row(5, "pend@x"),
            row(6, "sub@x", attrs={"a": "2"}),
            row(7, "other@x"),
        ],
        existing=existing,
        suppressed={"supp@x"},
        states={1: MemberState.UNSUBSCRIBED, 2: MemberState.PENDING, 3: MemberState.SUBSCRIBED},
        confirmed=True,
    )
    assert [r.key for r in plan.new_subscribers] == ["new@x"]
    assert [(r.row, reason) for r, reason, _ in plan.skips] == [
        (3, SkipReason.SUPPRESSED),
        (4, SkipReason.UNSUBSCRIBED),
    ]
    assert plan.confirm_ids == [2] and plan.join_ids == [4]
    assert plan.profile_updates == [(3, "Old", None, {"a": "2"}, None)]
    assert [(r.row, o) for r, o in plan.outcomes] == [
        (2, Outcome.ADDED),
        (5, Outcome.UPDATED),
        (6, Outcome.UPDATED),
        (7, Outcome.ADDED),
    ]


# ---------------------------------------------------------------- the service, both backends


def _counts(sessions: Sessions) -> tuple[int, int]:
    with sessions() as s:
        people = s.scalar(select(func.count()).select_from(Subscriber)) or 0
        members = s.scalar(select(func.count()).select_from(Membership)) or 0
        return people, members


def test_import_summary_is_exact(sessions: Sessions, tmp_path: Path) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    audience.add_suppression(sessions, "blocked@x.org", SuppressionReason.BOUNCE, source="test")
    audience.add_subscriber(sessions, "back-care", "left@x.org", confirmed=True)
    audience.unsubscribe_email(sessions, "left@x.org", "back-care", source="test")
    audience.add_subscriber(sessions, "back-care", "kept@x.org", name="Kept", confirmed=True)
    audience.add_subscriber(sessions, "back-care", "renamed@x.org", name="Old", confirmed=True)
    text = (
        "email,name\n"
        "new1@x.org,New One\n"  # 2 added
        "NEW1@x.org,Dup\n"  # 3 duplicate of 2
        "broken,Bad\n"  # 4 invalid
        "blocked@x.org,Blocked\n"  # 5 suppressed
        "left@x.org,Left\n"  # 6 unsubscribed before
        "kept@x.org,Kept\n"  # 7 unchanged
        "renamed@x.org,New Name\n"  # 8 updated
        "new2@x.org,\n"  # 9 added
    )
    path = _write(tmp_path, text)
    report = tmp_path / "rejects.csv"
    summary = audience.import_csv(sessions, path, "back-care", report=report, chunk_size=3)
    assert (summary.rows, summary.added, summary.updated, summary.unchanged) == (8, 2, 1, 1)
    assert summary.skipped == {
        SkipReason.INVALID: 1,
        SkipReason.DUPLICATE: 1,
        SkipReason.SUPPRESSED: 1,
        SkipReason.UNSUBSCRIBED: 1,
    }
    assert summary.skipped_rows[SkipReason.DUPLICATE] == [3]
    assert summary.skipped_rows[SkipReason.UNSUBSCRIBED] == [6]
    assert (
        summary.rows == summary.added + summary.updated + summary.unchanged + summary.skipped_total
    )
    with report.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "reason", "detail", "email", "name"]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
        ("3", "duplicate", "NEW1@x.org"),
        ("4", "invalid", "broken"),
        ("5", "suppressed", "blocked@x.org"),
        ("6", "unsubscribed", "left@x.org"),
    ]
    assert rows[1][2] == "same address as an earlier row"
    left = audience.show_subscriber(sessions, "left@x.org")
    assert left.memberships[0].status is MembershipStatus.UNSUBSCRIBED  # never re-subscribed
    assert audience.show_subscriber(sessions, "renamed@x.org").name == "New Name"
    new = audience.show_subscriber(sessions, "new1@x.org")
    assert new.name == "New One"
    assert new.memberships[0].status is MembershipStatus.PENDING
    assert new.memberships[0].consent_source == "import:people.csv"
    with pytest.raises(NotFoundError):
        audience.show_subscriber(sessions, "blocked2@x.org")

    again = audience.import_csv(sessions, path, "back-care", confirmed=True)
    assert (again.added, again.updated, again.unchanged) == (0, 2, 2)  # pending -> subscribed
    confirmed = audience.show_subscriber(sessions, "new1@x.org").memberships[0]
    assert confirmed.status is MembershipStatus.SUBSCRIBED and confirmed.confirmed_at is not None
    assert confirmed.consent_source == "import:people.csv (consent given elsewhere)"


def test_dry_run_changes_nothing_and_reports_the_same(sessions: Sessions, tmp_path: Path) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    path = _write(tmp_path, "email\na@x.org\nb@x.org\nA@x.org\n")
    before = _counts(sessions)
    dry = audience.import_csv(sessions, path, "back-care", dry_run=True)
    assert _counts(sessions) == before
    real = audience.import_csv(sessions, path, "back-care")
    assert (dry.added, dry.skipped) == (real.added, real.skipped)
    assert _counts(sessions) == (before[0] + 2, before[1] + 2)


def test_a_failure_mid_file_leaves_the_database_as_it_was(
    sessions: Sessions, tmp_path: Path
) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    good = "".join(f"p{i}@x.org\n" for i in range(50))
    path = _write(tmp_path, ("email\n" + good).encode() + b"bad\xff@x.org\n")
    report = tmp_path / "rejects.csv"
    before = _counts(sessions)
    with pytest.raises(ImportFileError, match="line 52"):
        audience.import_csv(sessions, path, "back-care", chunk_size=10, report=report)
    assert _counts(sessions) == before
    assert list(tmp_path.glob("*rejects*")) == []  # no half-written report


def test_an_interrupt_leaves_the_database_as_it_was(sessions: Sessions, tmp_path: Path) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    path = _write(tmp_path, "email\n" + "".join(f"p{i}@x.org\n" for i in range(50)))
    before = _counts(sessions)

    def interrupt(rows: int) -> None:
        if rows >= 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        audience.import_csv(sessions, path, "back-care", chunk_size=10, progress=interrupt)
    assert _counts(sessions) == before


def test_unknown_list(sessions: Sessions, tmp_path: Path) -> None:
    path = _write(tmp_path, "email\na@x.org\n")
    with pytest.raises(NotFoundError, match="no list with slug 'nope'"):
        audience.import_csv(sessions, path, "nope")
