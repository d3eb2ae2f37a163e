"""Assembly rules, table-driven over small hand-made libraries."""

from __future__ import annotations

import datetime as dt

import pytest

from newsletter.assembly import ContentHistory, IssuePlan, SentIssue, assemble, default_preheader
from newsletter.content.markdown import to_html
from newsletter.content.models import Article, IssueOverride, Library, Tip
from newsletter.errors import AssemblyError, NothingToSendError

LIST = "back-care"
DAY = dt.date(2025, 3, 4)  # a Tuesday in spring


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def art(
    slug: str,
    published: str = "2025-01-01",
    *,
    category: str = "self-care",
    evergreen: bool = False,
    expires: str | None = None,
    title: str | None = None,
    summary: str | None = None,
) -> Article:
    return Article(
        slug=slug,
        title=title or f"Title of {slug}",
        summary=summary or f"Summary of {slug}.",
        url=f"https://clinic.example.org/{slug}",
        category=category,
        published=d(published),
        author="Dr. Lee",
        evergreen=evergreen,
        expires=d(expires) if expires else None,
    )


def tip(
    slug: str,
    *,
    category: str = "general",
    months: tuple[int, ...] | None = None,
    season: str | None = None,
) -> Tip:
    return Tip.model_validate(
        {
            "slug": slug,
            "title": f"Tip {slug}",
            "body": f"Do {slug}.",
            "body_html": to_html(f"Do {slug}."),
            "category": category,
            "months": months,
            "season": season,
        }
    )


def lib(
    articles: list[Article],
    tips: list[Tip] | None = None,
    overrides: list[IssueOverride] | None = None,
) -> Library:
    return Library(
        articles={a.slug: a for a in articles},
        tips={t.slug: t for t in tips or []},
        overrides={(o.list_slug, o.issue_date): o for o in overrides or []},
    )


def hist(*issues: tuple[str, tuple[str, ...], tuple[str, ...]]) -> ContentHistory:
    return ContentHistory(
        sent=tuple(SentIssue(d(day), articles, tips) for day, articles, tips in issues)
    )


EMPTY = ContentHistory()


# --- articles ---------------------------------------------------------------------

ARTICLE_CASES = [
    (
        "newest-first",
        [art("a", "2025-03-01"), art("b", "2025-03-03"), art("c", "2025-02-01"), art("d")],
        EMPTY,
        ["b", "a", "c"],
    ),
    (
        "same-day-ties-by-slug",
        [art("zed", "2025-03-01"), art("abe", "2025-03-01"), art("max", "2025-03-01")],
        EMPTY,
        ["abe", "max", "zed"],
    ),
    (
        "future-articles-wait",
        [art("soon", "2025-03-05"), art("today", "2025-03-04"), art("old")],
        EMPTY,
        ["today", "old"],
    ),
    (
        "expired-on-the-day-is-out-but-expiring-tomorrow-is-in",
        [art("gone", expires="2025-03-04"), art("last-day", expires="2025-03-05")],
        EMPTY,
        ["last-day"],
    ),
    (
        "already-sent-is-skipped",
        [art("a", "2025-03-01"), art("b", "2025-02-01"), art("c", "2025-01-01")],
        hist(("2025-02-25", ("a",), ())),
        ["b", "c"],
    ),
    (
        "evergreen-fills-oldest-first",
        [
            art("news", "2025-03-01"),
            art("ever-new", "2024-06-01", evergreen=True),
            art("ever-old", "2022-01-01", evergreen=True),
            art("ever-mid", "2023-01-01", evergreen=True),
        ],
        EMPTY,
        ["news", "ever-old", "ever-mid"],
    ),
    (
        "evergreen-unused-when-enough-timely",
        [
            art("a", "2025-03-01"),
            art("b", "2025-02-01"),
            art("c", "2024-01-01"),
            art("classic", "2020-01-01", evergreen=True),
        ],
        EMPTY,
        ["a", "b", "c"],
    ),
    (
        "sent-evergreen-moves-the-rotation-on",
        [
            art("ever-old", "2022-01-01", evergreen=True),
            art("ever-mid", "2023-01-01", evergreen=True),
        ],
        hist(("2025-02-25", ("ever-old",), ())),
        ["ever-mid"],
    ),
    (
        "evergreen-only-library-still-sends",
        [art("e1", "2024-01-01", evergreen=True), art("e2", "2023-01-01", evergreen=True)],
        EMPTY,
        ["e2", "e1"],
    ),
]


@pytest.mark.parametrize(
    ("articles", "history", "expected"),
    [case[1:] for case in ARTICLE_CASES],
    ids=[case[0] for case in ARTICLE_CASES],
)
def test_article_choice(
    articles: list[Article], history: ContentHistory, expected: list[str]
) -> None:
    plan = assemble(lib(articles), LIST, DAY, history, articles_per_issue=3)
    assert list(plan.article_slugs) == expected
    assert plan.source == "auto"


def test_short_issue_and_evergreen_use_are_noted() -> None:
    library = lib([art("news", "2025-03-01"), art("ever", "2020-01-01", evergreen=True)])
    plan = assemble(library, LIST, DAY, EMPTY, articles_per_issue=3)
    assert plan.notes[:2] == (
        "1 of 2 article(s) are evergreen fill-ins",
        "only 2 unsent article(s) available; wanted 3",
    )


# --- tips -------------------------------------------------------------------------

TIP_CASES = [
    (
        "never-sent-before-sent",
        [tip("a"), tip("b"), tip("c")],
        hist(("2025-02-25", (), ("a",))),
        ["b", "c"],
    ),
    (
        "full-cycle-then-longest-ago-first",
        [tip("a"), tip("b"), tip("c")],
        hist(
            ("2025-02-11", (), ("c",)),
            ("2025-02-18", (), ("a",)),
            ("2025-02-25", (), ("b",)),
        ),
        ["c", "a"],
    ),
    (
        "least-sent-wins-over-recency",
        [tip("a"), tip("b"), tip("c")],
        hist(
            ("2025-01-01", (), ("a", "b")),
            ("2025-02-01", (), ("a", "c")),
        ),
        ["b", "c"],
    ),
    (
        "months-filter",
        [tip("june-only", months=(6,)), tip("march", months=(3, 4)), tip("any")],
        EMPTY,
        ["any", "march"],
    ),
    (
        "season-filter",
        [tip("snow", season="winter"), tip("rake", season="autumn"), tip("bloom", season="spring")],
        EMPTY,
        ["bloom"],
    ),
    (
        "lead-category-preferred",
        [tip("a-general"), tip("b-general"), tip("z-sciatica", category="sciatica")],
        EMPTY,
        ["z-sciatica", "a-general"],
    ),
    (
        "other-article-category-next",
        [
            tip("a-general"),
            tip("m-exercise", category="exercise"),
            tip("z-sciatica", category="sciatica"),
        ],
        EMPTY,
        ["z-sciatica", "m-exercise"],
    ),
    (
        "category-never-beats-rotation",
        [tip("general"), tip("sciatica", category="sciatica")],
        hist(("2025-02-25", (), ("sciatica",))),
        ["general", "sciatica"],
    ),
]


@pytest.mark.parametrize(
    ("tips", "history", "expected"),
    [case[1:] for case in TIP_CASES],
    ids=[case[0] for case in TIP_CASES],
)
def test_tip_choice(tips: list[Tip], history: ContentHistory, expected: list[str]) -> None:
    articles = [
        art("lead", "2025-03-01", category="sciatica"),
        art("second", "2025-02-01", category="exercise"),
    ]
    plan = assemble(lib(articles, tips), LIST, DAY, history, tips_per_issue=2)
    assert list(plan.tip_slugs) == expected


def test_too_few_tips_for_the_month_is_noted_not_an_error() -> None:
    library = lib([art("a")], [tip("summer", season="summer")])
    plan = assemble(library, LIST, DAY, EMPTY)
    assert plan.tips == ()
    assert "only 0 tip(s) suit month 3; wanted 2" in plan.notes


def test_tips_per_issue_zero_gives_none() -> None:
    plan = assemble(lib([art("a")], [tip("t")]), LIST, DAY, EMPTY, tips_per_issue=0)
    assert plan.tips == ()


def test_weekly_run_never_repeats_articles_and_cycles_all_tips() -> None:
    articles = [art(f"a{n:02d}", f"2024-12-{n + 1:02d}") for n in range(12)]
    tips = [tip(f"t{n}", category="self-care" if n % 2 else "general") for n in range(5)]
    library = lib(articles, tips)
    history = EMPTY
    sent_articles: list[str] = []
    sent_tips: list[str] = []
    day = dt.date(2025, 1, 7)
    for _ in range(4):
        plan = assemble(library, LIST, day, history)
        sent_articles += plan.article_slugs
        sent_tips += plan.tip_slugs
        history = ContentHistory(
            sent=(*history.sent, SentIssue(day, plan.article_slugs, plan.tip_slugs))
        )
        day += dt.timedelta(days=7)
    assert len(sent_articles) == len(set(sent_articles)) == 12
    assert sorted(sent_tips[:5]) == [f"t{n}" for n in range(5)]  # all five before a repeat
    assert sorted(sent_tips[5:]) == sorted(set(sent_tips[5:]))
    with pytest.raises(NothingToSendError):
        assemble(library, LIST, day, history)


# --- subject and preheader ---------------------------------------------------------


def test_subject_is_the_lead_title_and_preheader_adds_the_second_title() -> None:
    library = lib(
        [
            art("lead", "2025-03-01", title="Heat or ice?", summary="When to use which."),
            art("next", "2025-02-01", title="Sleep better"),
        ]
    )
    plan = assemble(library, LIST, DAY, EMPTY)
    assert plan.subject == "Heat or ice?"
    assert plan.preheader == "When to use which. Also: Sleep better"


def test_long_lead_summary_is_cut_on_a_word_with_an_ellipsis() -> None:
    summary = "Gentle movement " * 15
    plan = assemble(lib([art("lead", summary=summary), art("other")]), LIST, DAY, EMPTY)
    assert len(plan.preheader) <= 110
    assert plan.preheader.endswith("movement…") or plan.preheader.endswith("Gentle…")
    assert summary.startswith(plan.preheader[:-1])


@pytest.mark.parametrize(
    ("summary", "second_title", "expected"),
    [
        ("Short.", None, "Short."),
        ("Short.", "x" * 200, "Short."),
        ("Short.", "Walk more", "Short. Also: Walk more"),
        ("Stretch,   then\nrest.", None, "Stretch, then rest."),
    ],
)
def test_default_preheader(summary: str, second_title: str | None, expected: str) -> None:
    articles = [art("lead", summary=summary)]
    if second_title:
        articles.append(art("second", title=second_title))
    assert default_preheader(tuple(articles)) == expected


# --- nothing to send ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("articles", "history", "reason"),
    [
        ([], EMPTY, "the library has no articles"),
        (
            [art("a"), art("b")],
            hist(("2025-02-25", ("a", "b"), ())),
            "all 2 live article(s) were already sent to this list",
        ),
        (
            [
                art("future", "2025-04-01"),
                art("old", expires="2025-03-01"),
                art("x", expires="2025-02-01"),
            ],
            EMPTY,
            "none of the 3 article(s) is live on that date (1 not yet published, 2 expired)",
        ),
    ],
    ids=["empty", "all-sent", "none-live"],
)
def test_nothing_to_send(articles: list[Article], history: ContentHistory, reason: str) -> None:
    with pytest.raises(NothingToSendError) as info:
        assemble(lib(articles, [tip("t")]), LIST, DAY, history)
    assert str(info.value) == f"nothing to send for back-care on 2025-03-04: {reason}"


def test_bad_counts_are_rejected() -> None:
    with pytest.raises(AssemblyError, match="articles_per_issue must be >= 1"):
        assemble(lib([art("a")]), LIST, DAY, EMPTY, articles_per_issue=0)


# --- overrides ----------------------------------------------------------------------


def override(**fields: object) -> IssueOverride:
    values: dict[str, object] = {"list_slug": LIST, "issue_date": DAY, **fields}
    return IssueOverride.model_validate(values)


BASE_ARTICLES = [
    art("newest", "2025-03-01", title="Newest piece", summary="Newest summary."),
    art("older", "2025-01-01", title="Older piece", summary="Older summary."),
    art("oldest", "2024-01-01", title="Oldest piece", summary="Oldest summary."),
]
BASE_TIPS = [tip("t-a"), tip("t-b"), tip("t-c")]


def test_override_wins_with_its_order_subject_and_intro() -> None:
    intro = "Welcome to **spring**! See [us](https://clinic.example.org)."
    library = lib(
        BASE_ARTICLES,
        BASE_TIPS,
        [
            override(
                subject="Spring special",
                preheader="Hand-picked",
                articles=("oldest", "newest"),
                tips=("t-c",),
                intro=intro,
                intro_html=to_html(intro),
            )
        ],
    )
    plan = assemble(library, LIST, DAY, EMPTY)
    assert plan.source == "override"
    assert plan.article_slugs == ("oldest", "newest")
    assert plan.tip_slugs == ("t-c",)
    assert plan.subject == "Spring special"
    assert plan.preheader == "Hand-picked"
    assert "<strong>spring</strong>" in plan.intro_html
    assert plan.intro_text == "Welcome to spring! See us (https://clinic.example.org)."


def test_override_without_subject_uses_default_rules_on_its_articles() -> None:
    library = lib(BASE_ARTICLES, BASE_TIPS, [override(articles=("older", "oldest"))])
    plan = assemble(library, LIST, DAY, EMPTY, tips_per_issue=1)
    assert plan.subject == "Older piece"
    assert plan.preheader == "Older summary. Also: Oldest piece"
    assert plan.tip_slugs == ("t-a",)  # no tips listed: chosen by the usual rules
    assert plan.intro_html == "" and plan.intro_text == ""


def test_override_without_articles_chooses_them_automatically() -> None:
    library = lib(BASE_ARTICLES, BASE_TIPS, [override(subject="Note", intro="Hi.")])
    plan = assemble(library, LIST, DAY, hist(("2025-02-25", ("newest",), ())))
    assert plan.article_slugs == ("older", "oldest")
    assert plan.subject == "Note"
    assert plan.intro_html == "<p>Hi.</p>\n"  # computed when a hand-built override lacks it


def test_override_warns_about_repeats_and_stale_articles() -> None:
    library = lib(
        [*BASE_ARTICLES, art("expired", expires="2025-02-01")],
        BASE_TIPS,
        [override(articles=("newest", "expired"))],
    )
    plan = assemble(library, LIST, DAY, hist(("2025-02-25", ("newest",), ())))
    assert plan.article_slugs == ("newest", "expired")
    assert "article 'newest' was already sent to this list" in plan.notes
    assert "article 'expired' is not live on 2025-03-04" in plan.notes


@pytest.mark.parametrize(
    ("list_slug", "day"),
    [("other-list", DAY), (LIST, DAY + dt.timedelta(days=7))],
)
def test_override_applies_only_to_its_list_and_date(list_slug: str, day: dt.date) -> None:
    library = lib(BASE_ARTICLES, BASE_TIPS, [override(subject="Only then", articles=("oldest",))])
    plan = assemble(library, list_slug, day, EMPTY)
    assert plan.source == "auto"
    assert plan.subject == "Newest piece"


def test_override_naming_a_missing_article_is_an_assembly_error() -> None:
    library = lib(BASE_ARTICLES, BASE_TIPS, [override(articles=("ghost",))])
    with pytest.raises(AssemblyError, match="names unknown article 'ghost'"):
        assemble(library, LIST, DAY, EMPTY)


# --- determinism --------------------------------------------------------------------


def test_same_inputs_give_equal_plans_whatever_the_dict_order() -> None:
    articles = [art(f"a{n}", f"2025-0{1 + n % 2}-01", evergreen=n % 3 == 0) for n in range(8)]
    tips = [tip(f"t{n}", category="self-care" if n % 2 else "general") for n in range(6)]
    history = hist(("2025-02-25", ("a1",), ("t0", "t3")))
    forward = assemble(lib(articles, tips), LIST, DAY, history)
    backward = assemble(lib(articles[::-1], tips[::-1]), LIST, DAY, history)
    again = assemble(lib(articles, tips), LIST, DAY, history)
    assert isinstance(forward, IssuePlan)
    assert forward == backward == again
