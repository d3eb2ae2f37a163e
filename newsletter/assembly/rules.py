"""Choose one issue's content from the library and what the list has already had.

Pure and deterministic: the same library, list, date and history always give an equal
plan. The rules are written out for marketing in ``docs/content.md``; keep the two in
step.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from newsletter.assembly.plan import ContentHistory, IssuePlan, SentIssue
from newsletter.content import markdown
from newsletter.content.models import Article, IssueOverride, Library, Tip
from newsletter.errors import AssemblyError, NothingToSendError

T = TypeVar("T")

PREHEADER_LIMIT = 110
"""Inbox previews show roughly this much; a longer lead summary is cut on a word."""

PREHEADER_WITH_ALSO_LIMIT = 150
"""The lead summary plus " Also: <second title>" is used only when it fits in this."""


def assemble(
    library: Library,
    list_slug: str,
    issue_date: dt.date,
    history: ContentHistory,
    *,
    articles_per_issue: int = 3,
    tips_per_issue: int = 2,
    queued: IssueOverride | None = None,
) -> IssuePlan:
    """The plan for ``list_slug`` on ``issue_date``; an override file for that pair wins.

    ``queued`` is marketing's queued choice for the pair: its articles, tips, subject
    and preheader win over the file's, the file still gives what the queue leaves out
    (the intro, say), and slots left empty are filled by the automatic rules.
    """
    if articles_per_issue < 1 or tips_per_issue < 0:
        raise AssemblyError(
            f"articles_per_issue must be >= 1 and tips_per_issue >= 0 "
            f"(got {articles_per_issue} and {tips_per_issue})"
        )
    file = library.overrides.get((list_slug, issue_date))
    if queued is not None:
        return _from_queue(
            library,
            queued,
            file,
            history,
            articles_per_issue=articles_per_issue,
            tips_per_issue=tips_per_issue,
        )
    if file is not None:
        return _from_override(library, file, history, articles_per_issue, tips_per_issue)
    notes: list[str] = []
    articles = choose_articles(
        library, list_slug, issue_date, history, count=articles_per_issue, notes=notes
    )
    tips = choose_tips(library, issue_date, history, articles, count=tips_per_issue, notes=notes)
    return IssuePlan(
        list_slug=list_slug,
        issue_date=issue_date,
        subject=articles[0].title,
        preheader=default_preheader(articles),
        articles=articles,
        tips=tips,
        source="auto",
        notes=tuple(notes),
    )


def choose_articles(
    library: Library,
    list_slug: str,
    issue_date: dt.date,
    history: ContentHistory,
    *,
    count: int,
    notes: list[str],
) -> tuple[Article, ...]:
    """Newest unsent timely articles first, then the oldest unsent evergreen ones."""
    live = [a for a in library.articles.values() if a.is_live(issue_date)]
    sent = history.article_slugs
    unsent = [a for a in live if a.slug not in sent]
    timely = sorted(
        (a for a in unsent if not a.evergreen),
        key=lambda a: (-a.published.toordinal(), a.slug),
    )
    # Oldest evergreen first, so the back catalogue rotates instead of the newest
    # evergreen piece always taking the spare slot.
    evergreen = sorted((a for a in unsent if a.evergreen), key=lambda a: (a.published, a.slug))
    chosen = (timely + evergreen)[:count]
    if not chosen:
        raise NothingToSendError(
            f"nothing to send for {list_slug} on {issue_date.isoformat()}: "
            + _nothing_reason(library, issue_date, live)
        )
    used_evergreen = sum(1 for a in chosen if a.evergreen)
    if used_evergreen:
        notes.append(f"{used_evergreen} of {len(chosen)} article(s) are evergreen fill-ins")
    if len(chosen) < count:
        notes.append(f"only {len(chosen)} unsent article(s) available; wanted {count}")
    return tuple(chosen)


def _nothing_reason(library: Library, issue_date: dt.date, live: list[Article]) -> str:
    total = len(library.articles)
    if total == 0:
        return "the library has no articles"
    if live:
        return f"all {len(live)} live article(s) were already sent to this list"
    upcoming = sum(1 for a in library.articles.values() if a.published > issue_date)
    expired = total - upcoming
    return (
        f"none of the {total} article(s) is live on that date "
        f"({upcoming} not yet published, {expired} expired)"
    )


def choose_tips(
    library: Library,
    issue_date: dt.date,
    history: ContentHistory,
    articles: tuple[Article, ...],
    *,
    count: int,
    notes: list[str],
) -> tuple[Tip, ...]:
    """Least-sent tips that suit the month, preferring the articles' categories."""
    if count == 0:
        return ()
    counts = history.tip_counts()
    last_sent: dict[str, dt.date] = {}
    for issue in history.sent:
        for slug in issue.tips:
            last_sent[slug] = max(issue.issue_date, last_sent.get(slug, dt.date.min))
    lead_category = articles[0].category if articles else None
    categories = {a.category for a in articles}

    def rank(tip: Tip) -> tuple[int, int, dt.date, str]:
        if tip.category == lead_category:
            affinity = 0
        elif tip.category in categories:
            affinity = 1
        else:
            affinity = 2
        # Sent count first, so every tip is used before any repeats; then topic; then
        # the one sent longest ago; the slug only breaks exact ties.
        return (counts.get(tip.slug, 0), affinity, last_sent.get(tip.slug, dt.date.min), tip.slug)

    fitting = [t for t in library.tips.values() if t.fits_month(issue_date.month)]
    chosen = tuple(sorted(fitting, key=rank)[:count])
    if len(chosen) < count:
        notes.append(f"only {len(chosen)} tip(s) suit month {issue_date.month}; wanted {count}")
    return chosen


def default_preheader(articles: tuple[Article, ...]) -> str:
    """The lead summary, cut to fit; with room to spare, "Also: <second title>"."""
    if not articles:
        return ""
    summary = " ".join(articles[0].summary.split())
    if len(summary) > PREHEADER_LIMIT:
        return _cut(summary, PREHEADER_LIMIT)
    if len(articles) > 1:
        longer = f"{summary} Also: {articles[1].title}"
        if len(longer) <= PREHEADER_WITH_ALSO_LIMIT:
            return longer
    return summary


def _cut(text: str, limit: int) -> str:
    # Leave room for the ellipsis; cut at the last space so no word is split.
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:.-–—") + "…"


def _from_queue(
    library: Library,
    queued: IssueOverride,
    file: IssueOverride | None,
    history: ContentHistory,
    *,
    articles_per_issue: int,
    tips_per_issue: int,
) -> IssuePlan:
    notes = [f"queued by hand for {queued.list_slug} on {queued.issue_date.isoformat()}"]
    merged = queued
    if file is not None:
        notes.append("the override file for that date gives what the queue left out")
        merged = queued.model_copy(
            update={
                "subject": queued.subject or file.subject,
                "preheader": queued.preheader or file.preheader,
                "articles": queued.articles or file.articles,
                "tips": queued.tips or file.tips,
                "intro": queued.intro or file.intro,
                "intro_html": queued.intro_html or file.intro_html,
            }
        )
    return _from_override(
        library, merged, history, articles_per_issue, tips_per_issue, notes=notes, queued=True
    )


def _from_override(
    library: Library,
    override: IssueOverride,
    history: ContentHistory,
    articles_per_issue: int,
    tips_per_issue: int,
    *,
    notes: list[str] | None = None,
    queued: bool = False,
) -> IssuePlan:
    if notes is None:
        notes = [f"override file for {override.list_slug} on {override.issue_date.isoformat()}"]
    if override.articles:
        articles = tuple(
            _lookup(library.articles, slug, "article", override) for slug in override.articles
        )
        _warn_about(articles, override.issue_date, history, notes)
        if queued and len(articles) < articles_per_issue:
            articles += _fill_articles(library, override, history, articles, articles_per_issue)
    else:
        articles = choose_articles(
            library,
            override.list_slug,
            override.issue_date,
            history,
            count=articles_per_issue,
            notes=notes,
        )
    if override.tips:
        tips = tuple(_lookup(library.tips, slug, "tip", override) for slug in override.tips)
        if queued and len(tips) < tips_per_issue:
            spare = library.model_copy(
                update={"tips": {k: v for k, v in library.tips.items() if k not in override.tips}}
            )
            tips += choose_tips(
                spare,
                override.issue_date,
                history,
                articles,
                count=tips_per_issue - len(tips),
                notes=notes,
            )
    else:
        tips = choose_tips(
            library, override.issue_date, history, articles, count=tips_per_issue, notes=notes
        )
    intro = override.intro
    return IssuePlan(
        list_slug=override.list_slug,
        issue_date=override.issue_date,
        subject=override.subject or articles[0].title,
        preheader=override.preheader or default_preheader(articles),
        articles=articles,
        tips=tips,
        intro=intro,
        intro_html=override.intro_html or markdown.to_html(intro),
        intro_text=markdown.to_text(intro),
        source="queued" if queued else "override",
        notes=tuple(notes),
    )


def _fill_articles(
    library: Library,
    override: IssueOverride,
    history: ContentHistory,
    chosen: tuple[Article, ...],
    articles_per_issue: int,
) -> tuple[Article, ...]:
    """The automatic picks for the slots marketing left empty (never a chosen one again)."""
    # Counting the chosen ones as already sent keeps the usual rules and excludes them.
    taken = SentIssue(override.issue_date, tuple(a.slug for a in chosen), ())
    wider = ContentHistory((*history.sent, taken))
    try:
        return choose_articles(
            library,
            override.list_slug,
            override.issue_date,
            wider,
            count=articles_per_issue - len(chosen),
            notes=[],
        )
    except NothingToSendError:
        return ()  # the chosen ones are enough to send


def _lookup(items: dict[str, T], slug: str, noun: str, override: IssueOverride) -> T:
    try:
        return items[slug]
    except KeyError:
        # The loader rejects unknown slugs; this only fires for a hand-built Library.
        raise AssemblyError(
            f"the override for {override.list_slug} on {override.issue_date} names "
            f"unknown {noun} {slug!r}"
        ) from None


def _warn_about(
    articles: tuple[Article, ...],
    issue_date: dt.date,
    history: ContentHistory,
    notes: list[str],
) -> None:
    # Marketing's explicit choice wins, but a repeat or a stale piece deserves a word
    # on the preview screen before someone approves it.
    sent = history.article_slugs
    for article in articles:
        if article.slug in sent:
            notes.append(f"article {article.slug!r} was already sent to this list")
        if not article.is_live(issue_date):
            notes.append(f"article {article.slug!r} is not live on {issue_date.isoformat()}")
