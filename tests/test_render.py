"""Rendering an issue plan: text golden file, tags, escaping, templates and errors."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from newsletter.assembly.plan import IssuePlan
from newsletter.content.markdown import to_html
from newsletter.content.models import Tip
from newsletter.errors import RenderError
from newsletter.render import (
    FIRST_NAME_HTML_TAG,
    FIRST_NAME_TAG,
    UNSUBSCRIBE_URL_TAG,
    RenderContext,
    get_environment,
    render_email,
    render_issue,
)
from newsletter.render.sample import sample_articles, sample_plan

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = REPO_ROOT / "templates"
GOLDEN = Path(__file__).resolve().parent / "golden" / "issue.txt"
ADDRESS = "Riverbend Pain & Spine Clinic, 120 Mill Street, Suite 4, Springfield, ST 00000"


@pytest.fixture
def ctx() -> RenderContext:
    return RenderContext(
        templates_dir=TEMPLATES,
        list_name="Wellness",
        from_name="Riverbend Pain & Spine Clinic",
        postal_address=ADDRESS,
        public_url="https://newsletter.riverbendclinic.example.org",
    )


def test_text_part_matches_golden_file(ctx: RenderContext) -> None:
    text = render_issue(sample_plan(), ctx).text
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_text_part_reads_as_plain_text(ctx: RenderContext) -> None:
    plan = sample_plan()
    text = render_issue(plan, ctx).text
    assert text.splitlines()[0] == plan.preheader
    assert "**" not in text  # Markdown converted, not pasted
    assert "&amp;" not in text and "Pain & Spine" in text
    for article in plan.articles:
        assert article.title in text and article.url in text
    assert "Caution: Skip this stretch" in text
    assert max(len(line) for line in text.splitlines() if "://" not in line) <= 72


def test_substitution_tags_stay_literal_in_both_parts(ctx: RenderContext) -> None:
    issue = render_issue(sample_plan(), ctx)
    assert UNSUBSCRIBE_URL_TAG in issue.html and UNSUBSCRIBE_URL_TAG in issue.text
    assert f"Hi {FIRST_NAME_HTML_TAG}," in issue.html
    assert f'href="{UNSUBSCRIBE_URL_TAG}"' in issue.html
    assert f"Hi {FIRST_NAME_TAG}," in issue.text


def test_html_has_preview_footer_and_every_item(ctx: RenderContext) -> None:
    plan = sample_plan()
    html = render_issue(plan, ctx).html
    assert "<title>Sciatica relief, a desk reset &amp; heat-or-ice</title>" in html
    assert plan.preheader in html  # mj-preview's hidden block
    assert "Riverbend Pain &amp; Spine Clinic, 120 Mill Street" in html
    assert "not medical advice" in html
    assert "You are receiving this because you subscribed to Wellness" in html
    for article in plan.articles:
        assert f'href="{article.url}"' in html
    assert 'alt="Sciatica: what actually helps in the first two weeks"' in html
    assert "Skip this stretch if you have had recent spine surgery." in html
    assert "<mj-" not in html


def test_article_title_is_escaped_in_html_and_subject_raw_in_text(ctx: RenderContext) -> None:
    evil = sample_articles(1)[0].model_copy(update={"title": "<script>alert(1)</script>"})
    plan = dataclasses.replace(sample_plan(), articles=(evil,), subject="Heat & ice <today>")
    issue = render_issue(plan, ctx)
    assert "<script>alert(1)</script>" not in issue.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in issue.html
    assert "Heat &amp; ice &lt;today&gt;" in issue.html
    assert "Heat & ice <today>" in issue.text.splitlines()
    assert "<script>alert(1)</script>" in issue.text  # plain text needs no escaping


def test_intro_appears_above_the_articles(ctx: RenderContext) -> None:
    plan = dataclasses.replace(
        sample_plan(),
        intro_html=to_html("Our **winter workshop** is back."),
        intro_text="Our winter workshop is back.",
    )
    issue = render_issue(plan, ctx)
    first_article = plan.articles[0].title
    assert "<strong" in issue.html and "winter workshop</strong>" in issue.html
    assert issue.html.index("winter workshop") < issue.html.index(first_article)
    assert issue.text.index("Our winter workshop is back.") < issue.text.index(first_article)
    assert "a few short reads" not in issue.text


def test_tip_body_html_is_trusted_and_styled(ctx: RenderContext) -> None:
    html = render_issue(sample_plan(), ctx).html
    assert '<a href="https://www.riverbendclinic.example.org/stretches" style="' in html
    assert "&lt;p&gt;" not in html


def test_rendering_is_deterministic(ctx: RenderContext) -> None:
    assert render_issue(sample_plan(), ctx) == render_issue(sample_plan(), ctx)


def test_autoescape_is_chosen_by_template_name() -> None:
    env = get_environment(TEMPLATES)
    assert env.get_template("issue.mjml.j2").render is not None
    autoescape = env.autoescape
    assert callable(autoescape)
    assert autoescape("issue.mjml.j2") is True
    assert autoescape("layout/base.mjml.j2") is True
    assert autoescape("page.html") is True
    assert autoescape("issue.txt.j2") is False
    assert get_environment(TEMPLATES) is get_environment(TEMPLATES / "partials" / "..")


def test_relative_templates_dir_follows_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("one", "two"):
        (tmp_path / name / "templates").mkdir(parents=True)
        (tmp_path / name / "templates" / "who.txt.j2").write_text(name, encoding="utf-8")
    seen: list[str] = []
    for name in ("one", "two"):
        monkeypatch.chdir(tmp_path / name)
        seen.append(get_environment(Path("templates")).get_template("who.txt.j2").render())
    assert seen == ["one", "two"]


def _copy_templates(tmp_path: Path, extra: dict[str, str]) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    for name, body in extra.items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


def test_undefined_variable_becomes_render_error(tmp_path: Path, ctx: RenderContext) -> None:
    folder = _copy_templates(
        tmp_path,
        {
            "broken.mjml.j2": "<mjml><mj-body><mj-text>{{ nope }}</mj-text></mj-body></mjml>",
            "broken.txt.j2": "x",
        },
    )
    context = dataclasses.replace(ctx, templates_dir=folder)
    with pytest.raises(RenderError, match=r"broken\.mjml\.j2: 'nope' is undefined"):
        render_email("broken", {}, context=context, subject="Hello")


def test_template_syntax_error_names_file_and_line(tmp_path: Path, ctx: RenderContext) -> None:
    folder = _copy_templates(tmp_path, {"bad.mjml.j2": "<mjml>\n{% if %}\n</mjml>"})
    context = dataclasses.replace(ctx, templates_dir=folder)
    with pytest.raises(RenderError, match=r"bad\.mjml\.j2:2: syntax error"):
        render_email("bad", {}, context=context, subject="Hello")


def test_missing_template_is_render_error(ctx: RenderContext) -> None:
    with pytest.raises(RenderError, match=r"'emails/nothing\.mjml\.j2' not found"):
        render_email("emails/nothing", {}, context=ctx, subject="Hello")


def test_invalid_mjml_is_render_error(tmp_path: Path, ctx: RenderContext) -> None:
    folder = _copy_templates(
        tmp_path, {"cut.mjml.j2": "<mjml><mj-body><mj-text>cut", "cut.txt.j2": "x"}
    )
    context = dataclasses.replace(ctx, templates_dir=folder)
    with pytest.raises(RenderError, match=r"MJML in cut\.mjml\.j2 does not compile"):
        render_email("cut", {}, context=context, subject="Hello")


def test_notice_email_renders_both_parts(ctx: RenderContext) -> None:
    html, text = render_email(
        "emails/notice",
        {
            "heading": "Please confirm your subscription",
            "paragraphs": ["Tap the button to start getting Wellness & tips."],
            "button_label": "Confirm",
            "button_url": "https://newsletter.riverbendclinic.example.org/c/TOKEN",
        },
        context=ctx,
        subject="Confirm your subscription",
    )
    assert 'href="https://newsletter.riverbendclinic.example.org/c/TOKEN"' in html
    assert "Wellness &amp; tips." in html
    assert UNSUBSCRIBE_URL_TAG not in html  # not list mail: no unsubscribe line
    assert "Confirm: https://newsletter.riverbendclinic.example.org/c/TOKEN" in text
    assert "Wellness & tips." in text
    assert ADDRESS.split(",")[1].strip() in text


def test_tip_with_caution_and_no_articles(ctx: RenderContext) -> None:
    tip = Tip(
        slug="ice",
        title="Ice for 15 minutes",
        body="Wrap ice in a towel.",
        body_html=to_html("Wrap ice in a towel."),
        category="Self-care",
        caution="Never put ice straight on the skin.",
    )
    plan = IssuePlan(
        list_slug="wellness",
        issue_date=sample_plan().issue_date,
        subject="Ice",
        preheader="One tip",
        articles=(),
        tips=(tip,),
    )
    issue = render_issue(plan, ctx)
    assert "Never put ice straight on the skin." in issue.html
    assert "Caution: Never put ice straight on the skin." in issue.text
    assert "THIS WEEK'S READING" not in issue.text


def test_each_article_shows_its_author_under_the_snippet(ctx: RenderContext) -> None:
    plan = sample_plan()
    article = plan.articles[0]
    odd = dataclasses.replace(
        plan, articles=(article.model_copy(update={"author": "Dr. <Lee> & Co"}),)
    )
    issue = render_issue(odd, ctx)
    assert "By Dr. &lt;Lee&gt; &amp; Co" in issue.html  # escaped like any other content
    lines = issue.text.splitlines()
    summary_end = max(i for i, line in enumerate(lines) if line and line in article.summary)
    assert lines[summary_end + 1] == "By Dr. <Lee> & Co"
    assert lines[summary_end + 2].startswith("Read the article: ")
