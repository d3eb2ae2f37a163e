"""Console pages for content, results and the audience, through the real app.

The services behind them have their own tests; these check what each page shows, that
a save or import really happened (or really did not), and who may do it.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from console_support import Console, csrf_of, open_console
from test_web_support import REPO, event, make_issue, subscribed

from newsletter.services import audience, audit
from newsletter.storage.models import UserRole

ARTICLE = "core-bracing-made-simple"


@pytest.fixture
def console(db_url: str, tmp_path: Path) -> Iterator[Console]:
    content = tmp_path / "content"
    shutil.copytree(REPO / "content", content)
    with open_console(
        db_url, tmp_path, content_dir=content, import_reports_dir=tmp_path / "imports"
    ) as opened:
        yield opened


def _content(console: Console) -> Path:
    return console.web.settings.content_dir


def _edit_fields(client: object, path: str) -> dict[str, str]:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    page = client.get(path).text
    fields = dict(
        re.findall(r'<input id="f-[^"]+" name="([^"]+)" type="(?:text|url)" value="([^"]*)"', page)
    )
    fields.update(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    for name, value in re.findall(
        r'<textarea id="f-[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', page
    ):
        fields[name] = value
    return {k: v.replace("&#39;", "'").replace("&amp;", "&") for k, v in fields.items()}


def test_library_shows_states_and_filters(console: Console) -> None:
    old = _content(console) / "articles" / "winter-back-care-workshop.md"
    old.write_text(old.read_text().replace("expires: 2026-12-06", "expires: 2026-11-25"))
    client, _ = console.signed_in(UserRole.EDITOR)
    page = client.get("/admin/content")
    assert page.status_code == 200
    assert "Core Bracing Made Simple" in page.text
    assert 'badge-expired">expired' in page.text
    tips = client.get("/admin/content?kind=tip&season=summer")
    assert "Core Bracing" not in tips.text
    assert "hydration-on-summer-walks" in tips.text


def test_saving_runs_content_check_and_shows_problems_by_field(console: Console) -> None:
    client, _ = console.signed_in(UserRole.EDITOR)
    path = _content(console) / "articles" / f"{ARTICLE}.md"
    original = path.read_bytes()
    fields = _edit_fields(client, f"/admin/content/article/{ARTICLE}")
    bad = fields | {"url": "http://plain.example.org", "title": ""}
    answer = client.post(f"/admin/content/article/{ARTICLE}", data=bad)
    assert answer.status_code == 422
    assert 'id="f-url"' in answer.text and 'aria-invalid="true"' in answer.text
    assert re.search(r'id="e-url">[^<]*https://', answer.text)
    assert 'id="e-title"' in answer.text
    assert path.read_bytes() == original

    good = fields | {"title": "Core Bracing, Made Simple"}
    saved = client.post(f"/admin/content/article/{ARTICLE}", data=good)
    assert saved.status_code == 303
    assert "Core Bracing, Made Simple" in path.read_text()
    entries = audit.entries(console.web.sessions, target=f"content:article/{ARTICLE}")
    assert [e.action for e in entries] == ["content.edit"]


def test_a_file_changed_since_the_form_opened_is_a_conflict(console: Console) -> None:
    client, _ = console.signed_in(UserRole.EDITOR)
    path = _content(console) / "articles" / f"{ARTICLE}.md"
    fields = _edit_fields(client, f"/admin/content/article/{ARTICLE}")
    theirs = path.read_text().replace("Core Bracing Made Simple", "Their Title")
    path.write_text(theirs)
    answer = client.post(f"/admin/content/article/{ARTICLE}", data=fields | {"title": "Mine"})
    assert answer.status_code == 409
    assert "changed on disk since you opened it" in answer.text
    assert path.read_text() == theirs


def test_creating_a_tip_and_previewing_it(console: Console) -> None:
    client, token = console.signed_in(UserRole.EDITOR)
    data = {
        "csrf_token": token,
        "version": "",
        "slug": "walk-after-lunch",
        "title": "Walk after lunch",
        "category": "movement",
        "body": "Ten **easy** minutes.",
    }
    preview = client.post("/admin/content/preview/tip", data=data)
    assert preview.status_code == 200
    assert "easy</strong>" in preview.text
    assert "style-src 'unsafe-inline'" in preview.headers["content-security-policy"]
    created = client.post("/admin/content/new/tip", data=data)
    assert created.status_code == 303, created.text
    assert (_content(console) / "tips" / "walk-after-lunch.md").exists()
    again = client.post("/admin/content/new/tip", data=data)
    assert again.status_code == 409 and "already exists" in again.text


def test_results_page_counts_each_outcome_and_draws_the_chart(console: Console) -> None:
    web = console.web
    people = [(subscribed(web, f"p{i}@example.org"), f"p{i}@example.org") for i in range(3)]
    start = dt.datetime(2025, 3, 4, 14, tzinfo=dt.UTC)
    issue = make_issue(web.sessions, web.list_id, recipients=people, started=start)
    t0 = int(start.timestamp())
    web.post_events(
        [
            event("delivered", e, n=i, issue_id=issue, timestamp=t0)
            for i, (_, e) in enumerate(people)
        ]
        + [
            event(
                "click",
                "p0@example.org",
                n=9,
                issue_id=issue,
                timestamp=t0 + 3600,
                url="https://clinic.example.org/x",
            ),
            event("spamreport", "p1@example.org", n=10, issue_id=issue, timestamp=t0 + 7200),
        ]
    )
    client, _ = console.signed_in(UserRole.EDITOR)
    page = client.get(f"/admin/issues/{issue}/results")
    assert page.status_code == 200
    assert re.search(r"Spam complaints</th><td>1</td><td>33.33%", page.text)
    assert re.search(r"Unsubscribed</th><td>0</td>", page.text)
    assert "is over Gmail&#39;s 0.3% line" in page.text
    assert "https://clinic.example.org/x" in page.text
    data = re.search(
        r'<script type="application/json" id="events-chart-data">(.*?)</script>', page.text
    )
    assert data is not None
    chart = orjson.loads(data.group(1))
    assert chart["series"]["Delivered"][0] == 3 and chart["series"]["Clicks"][1] == 1
    assert "chart.umd.min.js" in page.text


def test_results_page_without_a_webhook_key_says_so(db_url: str, tmp_path: Path) -> None:
    with open_console(db_url, tmp_path, with_key=False) as console:
        web = console.web
        ana = subscribed(web, "ana@example.org")
        issue = make_issue(web.sessions, web.list_id, recipients=[(ana, "ana@example.org")])
        client, _ = console.signed_in(UserRole.EDITOR)
        page = client.get(f"/admin/issues/{issue}/results")
    assert "no delivery, open, click, bounce or complaint event can arrive" in page.text
    assert "What happened" not in page.text


def test_lists_search_and_a_persons_page(console: Console) -> None:
    web = console.web
    ana = subscribed(web, "ana@example.org")
    subscribed(web, "bo@example.org")
    make_issue(web.sessions, web.list_id, recipients=[(ana, "ana@example.org")])
    client, _ = console.signed_in(UserRole.EDITOR)
    lists = client.get("/admin/lists")
    assert re.search(r"back-care</span></th>\s*<td>2</td>", lists.text)
    assert "Import CSV" not in lists.text  # editors do not see admin actions
    found = client.get("/admin/subscribers?q=an")
    assert "ana@example.org" in found.text and "bo@example.org" not in found.text
    person = client.get("/admin/subscribers/ana@example.org")
    assert person.status_code == 200
    assert "Sciatica: what helps" in person.text
    assert "Unsubscribe" not in person.text.split("<h2>Issues sent")[1]


def test_only_admins_unsubscribe_and_suppress_and_each_is_audited(console: Console) -> None:
    subscribed(console.web, "ana@example.org")
    editor, editor_token = console.signed_in(UserRole.EDITOR)
    refused = editor.post(
        "/admin/subscribers/ana@example.org/unsubscribe",
        data={"csrf_token": editor_token, "confirm_unsubscribe": "on"},
    )
    assert refused.status_code == 403
    admin, token = console.signed_in(UserRole.ADMIN)
    unconfirmed = admin.post(
        "/admin/subscribers/ana@example.org/unsubscribe", data={"csrf_token": token}
    )
    assert unconfirmed.status_code != 303
    done = admin.post(
        "/admin/subscribers/ana@example.org/unsubscribe",
        data={"csrf_token": token, "confirm_unsubscribe": "on", "list": ""},
    )
    assert done.status_code == 303
    person = audience.show_subscriber(console.web.sessions, "ana@example.org")
    assert person.memberships[0].unsubscribe_source == "console:adam@clinic.org"
    admin.post(
        "/admin/subscribers/ana@example.org/suppress",
        data={"csrf_token": token, "confirm_suppress": "on"},
    )
    assert audience.show_subscriber(console.web.sessions, "ana@example.org").suppression
    actions = {
        e.action for e in audit.entries(console.web.sessions, target="subscriber:ana@example.org")
    }
    assert actions == {"subscriber.unsubscribe", "subscriber.suppress"}


def test_import_by_upload_with_a_report_and_export(console: Console) -> None:
    admin, _ = console.signed_in(UserRole.ADMIN)
    token = csrf_of(admin, "/admin/lists/back-care/import")
    body = b"email,first_name\nana@example.org,Ana\nnot an address,X\n"
    answer = admin.post(
        "/admin/lists/back-care/import",
        data={"csrf_token": token, "confirmed": "on"},
        files={"file": ("people.csv", body, "text/csv")},
    )
    assert answer.status_code == 200, answer.text[-3000:]
    assert "Imported." in answer.text and "1 added" in answer.text and "1 rejected" in answer.text
    link = re.search(r'href="(/admin/imports/[0-9a-f]{32}\.csv)"', answer.text)
    assert link is not None
    report = admin.get(link.group(1))
    assert report.status_code == 200 and "not an address" in report.text
    exported = admin.get("/admin/lists/back-care/export.csv")
    assert exported.status_code == 200 and "ana@example.org" in exported.text
    entries = audit.entries(console.web.sessions, target="list:back-care")
    assert {e.action for e in entries} == {"audience.import", "audience.export"}
    editor, _ = console.signed_in(UserRole.EDITOR)
    assert editor.get(link.group(1)).status_code == 403
