"""The content loader: a valid tree loads; every kind of mistake gets its own message."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from newsletter.content.loader import check_library, load_library
from newsletter.errors import ContentError, ContentProblem

REPO_CONTENT = Path(__file__).resolve().parent.parent / "content"

ARTICLE = """\
---
title: Heat or ice for back pain?
summary: When a heat pack helps, when ice is better, and how long to use each.
url: https://clinic.example.org/articles/heat-or-ice
image:
  src: https://clinic.example.org/img/heat.jpg
  alt: A heat pack resting on a lower back
category: self-care
tags: [heat, ice]
published: 2024-03-01
author: Dr. Maya Lee
---
Editorial note: ignored by the loader.
"""

TIP = """\
---
title: Pelvic tilt
category: exercise
tags: [core]
months: [1, 2, 12]
season: winter
caution: Stop if the pain shoots down your leg.
---
1. Lie on your back with knees bent.
2. Flatten your lower back into the floor.

More at [our site](https://clinic.example.org/tilt).
"""

OVERRIDE = """\
---
subject: Our winter special
preheader: Warm up before you shovel.
articles: [heat-or-ice]
tips: [pelvic-tilt]
---
Hello from the **clinic**!
"""

BASE = {
    "articles/heat-or-ice.md": ARTICLE,
    "tips/pelvic-tilt.md": TIP,
    "issues/2025-01-07-back-care.md": OVERRIDE,
}


def make_tree(root: Path, files: dict[str, str | bytes | None]) -> Path:
    """The base tree with ``files`` added or replaced (``None`` removes one)."""
    content = root / "content"
    for folder in ("articles", "tips", "issues"):
        (content / folder).mkdir(parents=True, exist_ok=True)
    merged: dict[str, str | bytes | None] = {**BASE, **files}
    for rel, text in merged.items():
        if text is None:
            continue
        path = content / rel
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return content


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def only_problem(content: Path) -> ContentProblem:
    result = check_library(content)
    assert len(result.problems) == 1, [str(p) for p in result.problems]
    return result.problems[0]


# --- the happy path ---------------------------------------------------------------


def test_valid_tree_loads_every_field(tmp_path: Path) -> None:
    library = load_library(make_tree(tmp_path, {}))

    article = library.articles["heat-or-ice"]
    assert article.title == "Heat or ice for back pain?"
    assert article.published == dt.date(2024, 3, 1)
    assert article.evergreen is False
    assert article.expires is None
    assert article.image is not None and article.image.alt.startswith("A heat pack")
    assert article.tags == ("heat", "ice")

    tip = library.tips["pelvic-tilt"]
    assert tip.months == (1, 2, 12)
    assert tip.season == "winter"
    assert tip.body.startswith("1. Lie on your back")
    assert "<ol>" in tip.body_html and 'href="https://clinic.example.org/tilt"' in tip.body_html

    override = library.overrides[("back-care", dt.date(2025, 1, 7))]
    assert override.subject == "Our winter special"
    assert override.articles == ("heat-or-ice",)
    assert override.tips == ("pelvic-tilt",)
    assert override.intro == "Hello from the **clinic**!"
    assert "<strong>clinic</strong>" in override.intro_html


def test_empty_issues_folder_and_empty_library_are_fine(tmp_path: Path) -> None:
    content = make_tree(tmp_path, {rel: None for rel in BASE})
    library = load_library(content)
    assert library.articles == {} and library.tips == {} and library.overrides == {}


def test_override_may_have_only_an_intro(tmp_path: Path) -> None:
    content = make_tree(tmp_path, {"issues/2025-01-07-back-care.md": "---\n---\nJust a note.\n"})
    override = load_library(content).overrides[("back-care", dt.date(2025, 1, 7))]
    assert override.articles == () and override.subject is None
    assert override.intro == "Just a note."


def test_libraries_are_sorted_and_loading_is_deterministic(tmp_path: Path) -> None:
    extra = {
        f"articles/{slug}.md": edit(ARTICLE, "published: 2024-03-01", f"published: {day}")
        for slug, day in (("zeta", "2024-01-02"), ("alpha", "2024-01-03"), ("mid", "2024-01-01"))
    }
    content = make_tree(tmp_path, extra)
    first, second = load_library(content), load_library(content)
    assert list(first.articles) == ["alpha", "heat-or-ice", "mid", "zeta"]
    assert first == second


def test_optional_keys_without_value_mean_not_given(tmp_path: Path) -> None:
    text = edit(ARTICLE, "tags: [heat, ice]", "tags:\nexpires:")
    content = make_tree(tmp_path, {ART: text})
    article = load_library(content).articles["heat-or-ice"]
    assert article.tags == () and article.expires is None


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    content = make_tree(tmp_path, {"articles/heat-or-ice.md": b"\xef\xbb\xbf" + ARTICLE.encode()})
    assert "heat-or-ice" in load_library(content).articles


def test_dates_stay_text_so_titles_that_look_like_dates_work(tmp_path: Path) -> None:
    text = edit(ARTICLE, "title: Heat or ice for back pain?", "title: 2024-03-01")
    content = make_tree(tmp_path, {"articles/heat-or-ice.md": text})
    assert load_library(content).articles["heat-or-ice"].title == "2024-03-01"


def test_repository_content_is_valid() -> None:
    # The shipped starter content must always pass its own check.
    result = check_library(REPO_CONTENT)
    assert result.ok, "\n".join(str(p) for p in result.problems)


# --- one clear message per mistake -------------------------------------------------

ART = "articles/heat-or-ice.md"
TIPF = "tips/pelvic-tilt.md"
ISSUE = "issues/2025-01-07-back-care.md"

CASES: list[tuple[str, str, str | bytes, str | None, int | None, str]] = [
    # (id, file, new text, field, line, message fragment)
    ("no-front-matter", ART, "title: x\n", None, 1, "no front matter: the file must start"),
    ("unterminated", ART, "---\ntitle: x\n", None, 1, "unterminated front matter"),
    (
        "yaml-syntax",
        ART,
        edit(ARTICLE, "category: self-care", "category: [self-care"),
        None,
        9,
        "YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence "
        "that starts on line 8)",
    ),
    (
        "yaml-bad-indent",
        TIPF,
        edit(TIP, "category: exercise", "category: exercise\n  oops: : 1"),
        None,
        4,
        "YAML syntax error: mapping values are not allowed here",
    ),
    ("not-a-mapping", ART, "---\n- one\n- two\n---\n", None, 2, "must be 'key: value' lines"),
    ("scalar-front-matter", TIPF, "---\njust text\n---\nbody\n", None, 2, "not a plain text"),
    (
        "duplicate-key",
        ART,
        edit(ARTICLE, "author: Dr. Maya Lee", "author: Dr. Maya Lee\ntitle: Again"),
        "title",
        12,
        "key 'title' appears twice (lines 2 and 12)",
    ),
    (
        "not-utf8",
        ART,
        ARTICLE.encode().replace(b"Maya", b"M\xe4ya"),
        None,
        11,
        "(byte 0xe4 on line 11)",
    ),
    (
        "missing-field",
        ART,
        edit(ARTICLE, "author: Dr. Maya Lee\n", ""),
        "author",
        None,
        "missing required field 'author'",
    ),
    (
        "wrong-type",
        ART,
        edit(ARTICLE, "title: Heat or ice for back pain?", "title: [Heat, Ice]"),
        "title",
        2,
        "must be text (got ['Heat', 'Ice'])",
    ),
    (
        "yaml-boolean-title",
        ART,
        edit(ARTICLE, "title: Heat or ice for back pain?", "title: yes"),
        "title",
        2,
        "must be text (got True); put the value in quotes",
    ),
    (
        "required-key-without-value",
        ART,
        edit(ARTICLE, "author: Dr. Maya Lee", "author:"),
        "author",
        11,
        "'author' has no value",
    ),
    (
        "tags-not-a-list",
        ART,
        edit(ARTICLE, "tags: [heat, ice]", "tags: heat"),
        "tags",
        9,
        "must be a list",
    ),
    (
        "evergreen-not-bool",
        ART,
        edit(ARTICLE, "author:", "evergreen: sometimes\nauthor:"),
        "evergreen",
        11,
        "must be true or false (got 'sometimes')",
    ),
    (
        "summary-too-long",
        ART,
        edit(ARTICLE, "summary: When", "summary: " + "x" * 290 + " When"),
        "summary",
        3,
        "is 360 characters long; the limit is 300",
    ),
    (
        "http-url",
        ART,
        edit(ARTICLE, "url: https://", "url: http://"),
        "url",
        4,
        "must be an absolute https:// URL (got 'http://clinic.example.org/articles/heat-or-ice')",
    ),
    (
        "image-http",
        ART,
        edit(ARTICLE, "src: https://", "src: http://"),
        "image.src",
        6,
        "must be an absolute https:// URL",
    ),
    (
        "image-without-alt",
        ART,
        edit(ARTICLE, "  alt: A heat pack resting on a lower back\n", ""),
        "image.alt",
        5,
        "the image has no alt text",
    ),
    (
        "image-empty-alt",
        ART,
        edit(ARTICLE, "alt: A heat pack resting on a lower back", 'alt: ""'),
        "image.alt",
        7,
        "alt text must not be empty",
    ),
    (
        "image-not-mapping",
        ART,
        edit(
            ARTICLE,
            "image:\n  src: https://clinic.example.org/img/heat.jpg\n"
            "  alt: A heat pack resting on a lower back",
            "image: https://clinic.example.org/img/heat.jpg",
        ),
        "image",
        5,
        "must be a mapping with 'src' and 'alt' keys",
    ),
    (
        "bad-date-format",
        ART,
        edit(ARTICLE, "published: 2024-03-01", "published: 03/01/2024"),
        "published",
        10,
        "must be a date written YYYY-MM-DD (got '03/01/2024')",
    ),
    (
        "impossible-date",
        ART,
        edit(ARTICLE, "published: 2024-03-01", "published: 2024-02-30"),
        "published",
        10,
        "'2024-02-30' is not a real date (day is out of range for month)",
    ),
    (
        "expires-before-published",
        ART,
        edit(ARTICLE, "author:", "expires: 2024-02-01\nauthor:"),
        "expires",
        11,
        "expires (2024-02-01) must be after published (2024-03-01)",
    ),
    (
        "unknown-key-suggests",
        TIPF,
        edit(TIP, "caution:", "cauton:"),
        "cauton",
        7,
        "unknown key 'cauton' (did you mean 'caution'?)",
    ),
    (
        "derived-key-explained",
        ART,
        edit(ARTICLE, "author:", "slug: heat\nauthor:"),
        "slug",
        11,
        "unknown key 'slug' (the slug comes from the file name)",
    ),
    (
        "unknown-key-lists-allowed",
        TIPF,
        edit(TIP, "caution:", "zzz: 1\ncaution:"),
        "zzz",
        7,
        "unknown key 'zzz' (allowed: title, category, tags, months, season, caution)",
    ),
    (
        "unknown-nested-key",
        ART,
        edit(ARTICLE, "  alt:", "  caption: hi\n  alt:"),
        "image.caption",
        7,
        "unknown key 'image.caption' (allowed: src, alt)",
    ),
    (
        "empty-tip-body",
        TIPF,
        TIP.split("---\n1.", maxsplit=1)[0] + "---\n\n   \n",
        "body",
        9,
        "the tip has no text",
    ),
    (
        "bad-month",
        TIPF,
        edit(TIP, "months: [1, 2, 12]", "months:\n  - 1\n  - 13"),
        "months",
        7,
        "13 is not a month; use numbers 1 to 12",
    ),
    (
        "months-empty",
        TIPF,
        edit(TIP, "months: [1, 2, 12]", "months: []"),
        "months",
        5,
        "months is empty",
    ),
    (
        "bad-season",
        TIPF,
        edit(TIP, "season: winter", "season: fall"),
        "season",
        6,
        "'fall' is not a season; use one of winter, spring, summer, autumn",
    ),
    (
        "misspelt-season",
        TIPF,
        edit(TIP, "season: winter", "season: wintr"),
        "season",
        6,
        "'wintr' is not a season (did you mean 'winter'?); use one of winter, spring",
    ),
    (
        "colon-in-unquoted-title",
        ART,
        edit(ARTICLE, "title: Heat or ice for back pain?", "title: Heat or ice: a simple rule"),
        None,
        2,
        'contains ": ", so put it in quotes: title: "Heat or ice: a simple rule"',
    ),
    (
        "raw-html-in-tip",
        TIPF,
        edit(TIP, "Flatten your lower back", "Flatten your <b>lower back</b>"),
        "body",
        10,
        "raw HTML '<b>' would show as literal text in the email",
    ),
    (
        "raw-html-in-summary",
        ART,
        edit(ARTICLE, "how long to use each.", "how long<br>to use each."),
        "summary",
        3,
        "raw HTML '<br>' would show as literal text",
    ),
    (
        "raw-html-block-in-intro",
        ISSUE,
        OVERRIDE + '\n<div class="note">Open Saturday</div>\n',
        "body",
        9,
        "raw HTML '<div class=\"note\">Open Saturday</div>'",
    ),
    (
        "months-and-season-disjoint",
        TIPF,
        edit(TIP, "months: [1, 2, 12]", "months: [7]"),
        "months",
        5,
        "months [7] and season 'winter' never overlap",
    ),
    (
        "relative-link-in-tip",
        TIPF,
        edit(TIP, "(https://clinic.example.org/tilt)", "(/tilt)"),
        "body",
        12,
        "link '/tilt' must be an absolute https:// URL",
    ),
    (
        "http-image-in-intro",
        ISSUE,
        OVERRIDE + "\n![map](http://clinic.example.org/map.png)\n",
        "body",
        9,
        "image 'http://clinic.example.org/map.png' must be an absolute https:// URL",
    ),
    (
        "override-unknown-article",
        ISSUE,
        edit(OVERRIDE, "articles: [heat-or-ice]", "articles:\n  - heat-or-icee"),
        "articles",
        5,
        "unknown article 'heat-or-icee': there is no",
    ),
    (
        "override-unknown-tip",
        ISSUE,
        edit(OVERRIDE, "tips: [pelvic-tilt]", "tips: [plank]"),
        "tips",
        5,
        "unknown tip 'plank'",
    ),
    (
        "override-duplicate-article",
        ISSUE,
        edit(OVERRIDE, "articles: [heat-or-ice]", "articles: [heat-or-ice, heat-or-ice]"),
        "articles",
        4,
        "'heat-or-ice' is listed twice",
    ),
    (
        "override-unknown-key",
        ISSUE,
        edit(OVERRIDE, "subject:", "subjet:"),
        "subjet",
        2,
        "unknown key 'subjet' (did you mean 'subject'?)",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_each_mistake_has_its_own_message(
    tmp_path: Path, case: tuple[str, str, str | bytes, str | None, int | None, str]
) -> None:
    _, rel, text, field, line, fragment = case
    content = make_tree(tmp_path, {rel: text})
    problems = check_library(content).problems
    matching = [p for p in problems if fragment in p.message]
    assert matching, [str(p) for p in problems]
    problem = matching[0]
    assert problem.path == content / rel
    assert problem.field == field
    assert problem.line == line


def test_unknown_key_is_reported_with_the_missing_field_it_caused(tmp_path: Path) -> None:
    content = make_tree(tmp_path, {ART: edit(ARTICLE, "summary:", "sumary:")})
    messages = sorted(p.message for p in check_library(content).problems)
    assert messages == [
        "missing required field 'summary'",
        "unknown key 'sumary' (did you mean 'summary'?)",
    ]


@pytest.mark.parametrize(
    ("rel", "fragment"),
    [
        ("articles/Heat_Or_Ice.md", "file name 'Heat_Or_Ice.md' is not a valid slug"),
        ("articles/heat--ice.md", "e.g. 'heat-ice.md'"),
        ("tips/Pelvic Tilt.md", "e.g. 'pelvic-tilt.md'"),
    ],
)
def test_bad_slug_file_names(tmp_path: Path, rel: str, fragment: str) -> None:
    text = ARTICLE if rel.startswith("articles") else TIP
    content = make_tree(tmp_path, {rel: text})
    problem = only_problem(content)
    assert problem.path == content / rel
    assert problem.field == "slug"
    assert fragment in problem.message


@pytest.mark.parametrize(
    ("name", "field", "fragment"),
    [
        ("back-care-2025-01-07.md", "file name", "must be YYYY-MM-DD-<list-slug>.md"),
        ("2025-1-7-back-care.md", "file name", "must be YYYY-MM-DD-<list-slug>.md"),
        ("2025-02-30-back-care.md", "issue_date", "'2025-02-30' in the file name is not a real"),
        ("2025-01-07-Back_Care.md", "list_slug", "list slug 'Back_Care' in the file name"),
    ],
)
def test_bad_override_file_names(tmp_path: Path, name: str, field: str, fragment: str) -> None:
    content = make_tree(tmp_path, {ISSUE: None, f"issues/{name}": OVERRIDE})
    problem = only_problem(content)
    assert problem.path == content / "issues" / name
    assert problem.field == field
    assert fragment in problem.message


def test_override_naming_a_broken_article_reports_only_the_article(tmp_path: Path) -> None:
    # The article exists but is invalid: it gets its own problem, and the override is
    # not told the article is "unknown", which would send the writer looking in vain.
    content = make_tree(tmp_path, {ART: edit(ARTICLE, "url: https://", "url: http://")})
    problem = only_problem(content)
    assert problem.path == content / ART
    assert problem.field == "url"


def test_every_problem_is_reported_at_once_in_path_order(tmp_path: Path) -> None:
    content = make_tree(
        tmp_path,
        {
            TIPF: edit(TIP, "season: winter", "season: fall"),
            ART: edit(ARTICLE, "url: https://", "url: http://"),
            "articles/broken.md": "no front matter here\n",
            ISSUE: edit(OVERRIDE, "tips: [pelvic-tilt]", "tips: [plank]"),
        },
    )
    with pytest.raises(ContentError) as info:
        load_library(content)
    problems = info.value.problems
    assert [(p.path.relative_to(content).as_posix(), p.field) for p in problems] == [
        ("articles/broken.md", None),
        (ART, "url"),
        (ISSUE, "tips"),
        (TIPF, "season"),
    ]
    text = str(info.value)
    assert text.startswith("4 content problems:")
    assert f"{content / ART}:4: url: must be an absolute https:// URL" in text


def test_missing_content_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    problem = only_problem(missing)
    assert problem.path == missing
    assert "the content folder does not exist" in problem.message
    assert "NEWSLETTER_CONTENT_DIR" in problem.message


@pytest.mark.parametrize("folder", ["articles", "tips", "issues"])
def test_missing_sub_folder(tmp_path: Path, folder: str) -> None:
    content = make_tree(tmp_path, {rel: None for rel in BASE})
    (content / folder).rmdir()
    problem = only_problem(content)
    assert problem.path == content / folder
    assert f"the {folder}/ folder is missing" in problem.message


def test_non_markdown_files_are_warnings_and_dotfiles_are_silent(tmp_path: Path) -> None:
    content = make_tree(
        tmp_path,
        {"articles/notes.txt": "x", "tips/.gitkeep": "", "issues/draft.MD": OVERRIDE},
    )
    (content / "tips" / "old").mkdir()
    result = check_library(content)
    assert result.ok
    assert [(w.path.relative_to(content).as_posix(), w.message) for w in result.warnings] == [
        ("articles/notes.txt", "ignored: only files ending in .md are read"),
        ("issues/draft.MD", "ignored: only files ending in .md are read"),
        ("tips/old", "ignored: sub-folders are not read"),
    ]


def test_partial_library_counts_only_valid_files(tmp_path: Path) -> None:
    content = make_tree(tmp_path, {"articles/second.md": "---\ntitle: x\n---\n"})
    result = check_library(content)
    assert not result.ok
    assert list(result.library.articles) == ["heat-or-ice"]
    assert len(result.library.overrides) == 1


def test_examples_in_the_content_guide_are_valid(tmp_path: Path) -> None:
    guide = (REPO_CONTENT.parent / "docs" / "content.md").read_text(encoding="utf-8")
    blocks = [part.split("```", 1)[0] for part in guide.split("```markdown\n")[1:]]
    assert len(blocks) == 3
    article, tip, override = blocks
    content = make_tree(
        tmp_path,
        {
            ART: article,
            TIPF: None,
            ISSUE: override,
            "tips/warm-up-before-shoveling-snow.md": tip,
        },
    )
    library = load_library(content)
    assert library.tips["warm-up-before-shoveling-snow"].season == "winter"
    assert library.overrides[("back-care", dt.date(2025, 1, 7))].tips == (
        "warm-up-before-shoveling-snow",
    )
