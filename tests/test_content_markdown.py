"""Markdown: safe HTML, readable plain text, and the link finder used by the loader."""

from __future__ import annotations

import pytest

from newsletter.content.markdown import links, to_html, to_text


def test_raw_html_is_escaped_not_injected() -> None:
    html = to_html('Hello <script>alert("x")</script> <b onclick="x()">bold</b>')
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b onclick" not in html


def test_html_block_is_escaped() -> None:
    html = to_html('<div style="color:red">\nhi\n</div>')
    assert "<div" not in html
    assert "&lt;div" in html


@pytest.mark.parametrize(
    "href",
    ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "vbscript:msgbox(1)", "data:text/html,x"],
)
def test_dangerous_link_schemes_never_become_links(href: str) -> None:
    html = to_html(f"[click]({href})")
    assert "<a " not in html
    assert "href" not in html


def test_safe_markdown_renders() -> None:
    html = to_html("**Warm up** first.\n\n1. one\n2. two\n\n[site](https://example.org/a)")
    assert "<strong>Warm up</strong>" in html
    assert "<ol>" in html and "<li>one</li>" in html
    assert '<a href="https://example.org/a">site</a>' in html


def test_tables_and_strikethrough_are_enabled() -> None:
    html = to_html("| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~")
    assert "<table>" in html and "<td>1</td>" in html
    assert "<s>old</s>" in html


def test_empty_markdown_gives_empty_output() -> None:
    assert to_html("  \n") == ""
    assert to_text("\n\n") == ""


def test_text_keeps_ordered_numbering_and_start() -> None:
    text = to_text("3. third\n4. fourth\n")
    assert text.splitlines() == ["3. third", "4. fourth"]


def test_text_keeps_bullets_and_nesting() -> None:
    text = to_text("- heat\n- ice\n  - wrap it\n- rest")
    assert text.splitlines() == ["- heat", "- ice", "  - wrap it", "- rest"]


def test_text_links_show_their_url() -> None:
    text = to_text("See [our guide](https://example.org/guide) or <https://example.org/x>.")
    assert text == "See our guide (https://example.org/guide) or https://example.org/x."


def test_text_strips_emphasis_and_decodes_entities() -> None:
    assert to_text("**Stop** if it *hurts* &amp; call `911`.") == "Stop if it hurts & call 911."


def test_text_paragraphs_are_separated_and_wrapped_without_breaking_urls() -> None:
    long_url = "https://example.org/" + "x" * 90
    text = to_text(f"First paragraph.\n\nSecond one with a link [here]({long_url}) at the end.")
    lines = text.splitlines()
    assert lines[0] == "First paragraph."
    assert lines[1] == ""
    assert all(len(line) <= 72 or long_url in line for line in lines)
    assert f"({long_url})" in text


def test_wrapped_list_items_hang_under_their_text() -> None:
    text = to_text("1. " + "word " * 30)
    lines = text.splitlines()
    assert lines[0].startswith("1. word")
    assert all(line.startswith("   word") for line in lines[1:])
    assert len(lines) > 1


def test_text_width_none_keeps_lines_whole() -> None:
    source = "word " * 40
    assert to_text(source, width=None) == source.strip()


def test_text_of_raw_html_is_literal_text() -> None:
    assert to_text("Hi <b>there</b>") == "Hi <b>there</b>"


def test_text_blockquote_and_table() -> None:
    text = to_text("> careful\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert text.splitlines() == ["> careful", "", "a | b", "1 | 2"]


def test_links_reports_urls_kinds_and_lines() -> None:
    found = links("intro\n\n- [a](https://a.example)\n- ![pic](img.png)\n\n[rel](/page)")
    assert [(link.url, link.kind, link.line) for link in found] == [
        ("https://a.example", "link", 3),
        ("img.png", "image", 4),
        ("/page", "link", 6),
    ]


def test_links_skips_blocked_schemes() -> None:
    assert links("[x](javascript:alert(1))") == []
