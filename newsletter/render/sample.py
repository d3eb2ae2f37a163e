"""A fixed, realistic issue plan for tests, benchmarks and template work without content."""

from __future__ import annotations

import datetime as dt

from newsletter.assembly.plan import IssuePlan
from newsletter.content.markdown import to_html
from newsletter.content.models import Article, Image, Tip

SAMPLE_DATE = dt.date(2025, 3, 4)
SITE = "https://www.riverbendclinic.example.org"

_ARTICLES = (
    (
        "sciatica-what-helps",
        "Sciatica: what actually helps in the first two weeks",
        "Most sciatica eases on its own within weeks. Here is what speeds recovery, what "
        "to avoid, and the warning signs that mean you should call us the same day.",
        "Conditions",
    ),
    (
        "desk-posture-reset",
        "A two-minute desk reset for a stiff lower back",
        "Sitting is not the enemy; staying still is. Three small movements you can do "
        "between meetings to keep your back from locking up by mid-afternoon.",
        "Everyday habits",
    ),
    (
        "heat-or-ice",
        "Heat or ice? A simple rule for sore muscles and flare-ups",
        "Ice calms a fresh injury, heat relaxes a stiff one. How long to use each, and why "
        "you should never sleep on a heating pad.",
        "Self-care",
    ),
    (
        "when-to-see-a-doctor",
        "Back pain red flags: when to see a doctor",
        "Most back pain is not serious, but a few symptoms are. Learn the short list that "
        "means you should not wait for your next appointment.",
        "When to get help",
    ),
)

_TIPS = (
    (
        "cat-cow-stretch",
        "Start the day with five slow cat-cow stretches",
        "On hands and knees, **round your back** toward the ceiling, then let it sag "
        "gently while you lift your head.\n\n- Move with your breath\n- Stop if it hurts\n\n"
        "More ideas in our [stretching guide](https://www.riverbendclinic.example.org/stretches).",
        "Stretches",
        "Skip this stretch if you have had recent spine surgery.",
    ),
    (
        "walk-after-meals",
        "Take a ten-minute walk after lunch",
        "A short, easy walk loosens the hips and lower back and helps with sleep later.",
        "Movement",
        None,
    ),
)


def sample_articles(count: int = 3) -> tuple[Article, ...]:
    chosen = [_ARTICLES[i % len(_ARTICLES)] for i in range(count)]
    return tuple(
        Article(
            slug=f"{slug}-{index}" if index >= len(_ARTICLES) else slug,
            title=title,
            summary=summary,
            url=f"{SITE}/articles/{slug}",
            image=Image(src=f"{SITE}/images/{slug}.jpg", alt=title) if index == 0 else None,
            category=category,
            published=SAMPLE_DATE - dt.timedelta(days=7 + index),
            author="Dr. Maya Chen",
        )
        for index, (slug, title, summary, category) in enumerate(chosen)
    )


def sample_tips(count: int = 2) -> tuple[Tip, ...]:
    chosen = [_TIPS[i % len(_TIPS)] for i in range(count)]
    return tuple(
        Tip(
            slug=f"{slug}-{index}" if index >= len(_TIPS) else slug,
            title=title,
            body=body,
            body_html=to_html(body),
            category=category,
            caution=caution,
        )
        for index, (slug, title, body, category, caution) in enumerate(chosen)
    )


def sample_plan(articles: int = 3, tips: int = 2, issue_date: dt.date = SAMPLE_DATE) -> IssuePlan:
    """A plan that looks like a real week's issue; same input, same output, always."""
    return IssuePlan(
        list_slug="wellness",
        issue_date=issue_date,
        subject="Sciatica relief, a desk reset & heat-or-ice",
        preheader="Three short reads and two tips for a calmer back this week.",
        articles=sample_articles(articles),
        tips=sample_tips(tips),
    )
