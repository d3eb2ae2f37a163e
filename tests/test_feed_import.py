"""``newsletter content import-feed`` / ``import-page`` against a loopback web server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.content.loader import load_library
from newsletter.feeds.fetch import USER_AGENT
from tests.feeds.fixtures import ARTICLE_PAGE, ATOM, BROKEN, WORDPRESS_RSS
from tests.feeds.server import HANG_UP, Site, serve

RSS_TYPE = "application/rss+xml; charset=UTF-8"


@pytest.fixture
def site() -> Iterator[Site]:
    with serve(
        {
            "/feed/": (WORDPRESS_RSS, RSS_TYPE),
            "/atom.xml": (ATOM, "application/atom+xml"),
            "/broken/": (BROKEN, RSS_TYPE),
            "/not-a-feed/": ("<html><body>Hello</body></html>", "text/html"),
            "/2026/11/lifting-groceries/": (ARTICLE_PAGE, "text/html; charset=utf-8"),
        }
    ) as running:
        yield running


@pytest.fixture
def content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "content"
    for folder in ("articles", "tips", "issues"):
        (root / folder).mkdir(parents=True)
    monkeypatch.setenv("NEWSLETTER_CONTENT_DIR", str(root))
    monkeypatch.setenv("NEWSLETTER_REQUEST_TIMEOUT", "5")
    return root


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def import_json(*args: str) -> dict[str, Any]:
    code, out = run("content", "import-feed", *args, "--json")
    assert code == 0, out
    data = orjson.loads(out)
    assert isinstance(data, dict)
    return data


def front(path: Path) -> str:
    return path.read_text("utf-8").split("---\n")[1]


def test_wordpress_feed_becomes_checked_articles(site: Site, content: Path) -> None:
    data = import_json(site.url("/feed/"))
    slugs = sorted(item["slug"] for item in data["imported"])
    assert slugs == [
        "five-desk-stretches-you-can-do-today",
        "sciatica-whats-normal-when-to-call-us",
    ]
    skipped = data["skipped"]
    assert [s["title"] for s in skipped] == ["Our Old Clinic Hours"]
    assert "not https://" in skipped[0]["reason"]
    assert site.agents and all(agent == USER_AGENT for agent in site.agents)

    code, out = run("content", "check")
    assert code == 0, out
    library = load_library(content)
    sciatica = library.articles["sciatica-whats-normal-when-to-call-us"]
    assert sciatica.title == "Sciatica: What’s Normal & When to Call Us"
    assert sciatica.url == "https://riverbend.example.org/2026/11/sciatica-whats-normal/"
    assert sciatica.author == "Priya Raman, PT"
    assert sciatica.category == "sciatica"
    assert sciatica.tags == ("nerve-pain", "self-care")
    assert str(sciatica.published) == "2026-11-23"
    assert sciatica.source_guid == "https://riverbend.example.org/?p=412"
    assert sciatica.source_url == site.url("/feed/")
    assert not sciatica.evergreen
    # The enclosure is the featured image; its alt text comes from the sized copy in the post.
    assert sciatica.image is not None
    assert sciatica.image.src.endswith("/leg-stretch.jpg")
    assert sciatica.image.alt == "A woman stretching her leg on a yoga mat"
    summary = sciatica.summary
    assert summary.startswith("Sciatica is pain that travels from the lower back down one leg.")
    assert len(summary) <= 300 and summary.endswith(".")
    for junk in ("[", "…", "appeared first", "<", "vc_", "&#"):
        assert junk not in summary, junk

    desk = library.articles["five-desk-stretches-you-can-do-today"]
    assert desk.category == "exercise" and desk.tags == ()
    assert "Continue reading" not in desk.summary and desk.summary.endswith("chair.")
    assert desk.image is None  # the only picture has no alt text: left out, and said so
    notes = next(i for i in data["imported"] if i["slug"].startswith("five"))["notes"]
    assert any("no alt text" in note for note in notes)


def test_second_run_imports_nothing_and_never_overwrites(site: Site, content: Path) -> None:
    import_json(site.url("/feed/"))
    path = content / "articles" / "sciatica-whats-normal-when-to-call-us.md"
    path.write_text(path.read_text("utf-8").replace("Priya Raman, PT", "Edited By Hand"), "utf-8")
    before = {p.name: p.read_bytes() for p in (content / "articles").iterdir()}

    code, out = run("content", "import-feed", site.url("/feed/"))
    assert code == 0, out
    assert "Nothing new" in out and "2 already imported" in out
    assert {p.name: p.read_bytes() for p in (content / "articles").iterdir()} == before


def test_same_title_gets_a_new_slug_and_hand_written_links_count(site: Site, content: Path) -> None:
    taken = content / "articles" / "five-desk-stretches-you-can-do-today.md"
    taken.write_text("an unrelated file with the same name\n", "utf-8")
    (content / "articles" / "by-hand.md").write_text(
        "---\ntitle: x\nurl: https://riverbend.example.org/2026/11/sciatica-whats-normal/\n---\n",
        "utf-8",
    )
    data = import_json(site.url("/feed/"), "--category", "back-care")
    assert [i["slug"] for i in data["imported"]] == ["five-desk-stretches-you-can-do-today-2"]
    assert data["already_imported"] == 1
    assert taken.read_text("utf-8") == "an unrelated file with the same name\n"
    written = front(content / "articles" / "five-desk-stretches-you-can-do-today-2.md")
    assert "category: back-care" in written and "tags: [exercise]" in written


def test_dry_run_writes_nothing(site: Site, content: Path) -> None:
    data = import_json(site.url("/feed/"), "--dry-run")
    assert data["dry_run"] is True and len(data["imported"]) == 2
    assert list((content / "articles").iterdir()) == []


def test_atom_feed(site: Site, content: Path) -> None:
    data = import_json(site.url("/atom.xml"))
    assert [i["slug"] for i in data["imported"]] == ["heat-ice-a-quick-guide"]
    article = load_library(content).articles["heat-ice-a-quick-guide"]
    assert article.title == "Heat & Ice: A Quick Guide"
    assert article.author == "Riverbend Clinic Team"  # the feed's author: the entry has none
    assert article.category == "self-care" and article.tags == ("heat",)
    assert article.source_guid == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/broken/", "not a readable RSS or Atom feed"),
        ("/not-a-feed/", "RSS or Atom"),
        ("/missing/", "HTTP 404"),
        (HANG_UP, "connection closed"),
    ],
)
def test_a_bad_feed_is_one_clear_error_and_writes_nothing(
    site: Site, content: Path, path: str, reason: str
) -> None:
    code, out = run("content", "import-feed", site.url(path))
    assert code == 1
    assert site.url(path) in out and reason in out
    assert "Traceback" not in out
    assert list((content / "articles").iterdir()) == []


def test_unreachable_host_and_bad_arguments(content: Path) -> None:
    code, out = run("content", "import-feed", "http://127.0.0.1:9/feed/")
    assert code == 1 and "http://127.0.0.1:9/feed/: cannot connect" in out
    code, out = run("content", "import-feed", "file:///etc/passwd")
    assert code == 1 and "is not an http:// or https:// URL" in out
    code, out = run("content", "import-feed", "https://x.example/", "--category", "Not A Slug")
    assert code == 2


def test_import_page_reads_open_graph_first(site: Site, content: Path) -> None:
    url = site.url("/2026/11/lifting-groceries/")
    code, out = run("content", "import-page", url)
    assert code == 0, out
    article = load_library(content).articles["lifting-groceries-without-hurting-your-back"]
    assert article.url == "https://riverbend.example.org/2026/11/lifting-groceries/"
    assert article.title == "Lifting Groceries Without Hurting Your Back"
    assert article.summary.startswith("Bend your knees, keep the bag close")
    assert article.author == "Dana Okafor, PT"
    assert str(article.published) == "2026-11-21"
    assert article.category == "everyday-life" and article.tags == ("lifting", "shopping")
    assert article.image is not None
    assert article.image.alt == "A man carrying two shopping bags close to his body"
    assert article.source_guid == article.url and article.source_url == url

    code, out = run("content", "import-page", url)
    assert code == 0 and "Nothing new" in out
