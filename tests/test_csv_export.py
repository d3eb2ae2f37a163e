"""Export streams CSV that import reads back unchanged."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.csv_export import attribute_columns, write_csv
from newsletter.audience.csv_import import CsvRow, CsvSource
from newsletter.services import audience
from newsletter.storage.models import MembershipStatus
from newsletter.storage.repositories.subscribers import Profile

Sessions = sessionmaker[Session]

SOURCE = (
    "Email,First Name,Last Name,City,Notes\n"
    'ann@x.org,Ann,Lee,Springfield,"likes stretches, heat"\n'
    "bob@Bücher.de,Bob,,Riverton,\n"
    'cy@x.org,,,,"multi\nline"\n'
)


def test_write_csv_columns_and_values() -> None:
    out = io.StringIO()
    people = [Profile(1, "a@x.org", "a@x.org", "A, B", None, {"z": "1", "City": "S"})]
    count = write_csv(out, people, attribute_columns(["z", "City", "email", "Name"]))
    assert count == 1
    assert out.getvalue() == 'email,name,first_name,timezone,City,z\r\na@x.org,"A, B",,,S,1\r\n'


def test_round_trip(sessions: Sessions, tmp_path: Path) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    audience.create_list(sessions, "copy", "Copy")
    source = tmp_path / "in.csv"
    source.write_text(SOURCE, encoding="utf-8", newline="")
    first = audience.import_csv(sessions, source, "back-care", confirmed=True)
    assert first.added == 3

    exported = tmp_path / "out.csv"
    with exported.open("w", encoding="utf-8-sig", newline="") as handle:
        assert audience.export_csv(sessions, "back-care", handle) == 3
    text = exported.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "email,name,first_name,timezone,City,Notes,last_name"

    # Re-importing the export into the same list changes nothing ...
    again = audience.import_csv(sessions, exported, "back-care", confirmed=True)
    assert (again.rows, again.unchanged, again.added, again.updated) == (3, 3, 0, 0)
    # ... and into another list gives the same people.
    copied = audience.import_csv(sessions, exported, "copy", confirmed=True)
    assert copied.added == 3
    originals = {r.key: r for r in CsvSource(exported) if isinstance(r, CsvRow)}
    assert originals["ann@x.org"].attributes == {
        "City": "Springfield",
        "Notes": "likes stretches, heat",
        "last_name": "Lee",
    }
    assert originals["cy@x.org"].attributes == {"Notes": "multi\nline"}
    assert "bob@xn--bcher-kva.de" in originals
    ann = audience.show_subscriber(sessions, "ann@x.org")
    assert (ann.name, ann.first_name) == ("Ann Lee", "Ann")


def test_export_filters_by_status(sessions: Sessions) -> None:
    audience.create_list(sessions, "back-care", "Back care")
    audience.add_subscriber(sessions, "back-care", "in@x.org", confirmed=True)
    audience.add_subscriber(sessions, "back-care", "wait@x.org")
    audience.add_subscriber(sessions, "back-care", "out@x.org", confirmed=True)
    audience.unsubscribe_email(sessions, "out@x.org", None, source="test")

    def emails(*statuses: MembershipStatus) -> list[str]:
        out = io.StringIO()
        if statuses:
            audience.export_csv(sessions, "back-care", out, statuses=statuses)
        else:
            audience.export_csv(sessions, "back-care", out)
        return [line.split(",")[0] for line in out.getvalue().splitlines()[1:]]

    assert emails() == ["in@x.org", "wait@x.org"]
    assert emails(MembershipStatus.UNSUBSCRIBED) == ["out@x.org"]
