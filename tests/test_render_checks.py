"""The checks every rendered email must pass, through real renders and on raw HTML."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from newsletter.content.markdown import to_html
from newsletter.errors import RenderError
from newsletter.render import (
    MAX_HTML_BYTES,
    UNSUBSCRIBE_URL_TAG,
    RenderContext,
    check_rendered,
    is_allowed_url,
    render_issue,
)
from newsletter.render.sample import sample_plan, sample_tips

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
ADDRESS = "120 Mill Street, Springfield"
GOOD_FOOTER = f'<p>{ADDRESS}</p><a href="{UNSUBSCRIBE_URL_TAG}">Unsubscribe</a>'
GOOD_TEXT = f"{ADDRESS}\nUnsubscribe: {UNSUBSCRIBE_URL_TAG}\n"


@pytest.fixture
def ctx() -> RenderContext:
    return RenderContext(
        templates_dir=TEMPLATES,
        list_name="Wellness",
        from_name="Riverbend Pain & Spine Clinic",
        postal_address=ADDRESS,
        public_url="https://newsletter.example.org",
    )


def _page(body: str) -> str:
    return f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"


def _check(body: str, text: str = GOOD_TEXT, subject: str = "Hello") -> None:
    check_rendered(
        subject,
        _page(body + GOOD_FOOTER),
        text,
        required=(ADDRESS,),
        require_unsubscribe=True,
    )


def test_sample_issue_passes_every_check(ctx: RenderContext) -> None:
    issue = render_issue(sample_plan(), ctx)
    assert len(issue.html.encode()) < MAX_HTML_BYTES // 2


def test_huge_issue_fails_the_size_check(ctx: RenderContext) -> None:
    plan = sample_plan()
    long_article = plan.articles[1].model_copy(update={"summary": "Stretch gently. " * 18})
    many = tuple(
        long_article.model_copy(update={"slug": f"a-{i}", "title": f"Article {i}"})
        for i in range(70)
    )
    with pytest.raises(RenderError, match=r"size check: the HTML is [\d,]+ bytes, over the"):
        render_issue(dataclasses.replace(plan, articles=many), ctx)


def test_http_link_in_a_tip_fails_naming_the_url(ctx: RenderContext) -> None:
    body = "See [this page](http://insecure.example.org/stretch) first."
    tip = sample_tips(1)[0].model_copy(update={"body": body, "body_html": to_html(body)})
    plan = dataclasses.replace(sample_plan(), tips=(tip,))
    with pytest.raises(RenderError, match=r"link check: .*'http://insecure\.example\.org/stretch'"):
        render_issue(plan, ctx)


def test_image_without_alt_in_a_tip_fails(ctx: RenderContext) -> None:
    body = "![](https://cdn.example.org/stretch.png)"
    tip = sample_tips(1)[0].model_copy(update={"body": body, "body_html": to_html(body)})
    plan = dataclasses.replace(sample_plan(), tips=(tip,))
    with pytest.raises(RenderError, match=r"image check: .*stretch\.png.* has no alt text"):
        render_issue(plan, ctx)


def test_image_with_alt_passes() -> None:
    _check('<img src="https://cdn.example.org/a.png" alt="A woman stretching">')


@pytest.mark.parametrize(
    "url",
    [
        "https://www.example.org/a?b=c",
        UNSUBSCRIBE_URL_TAG,
        "-first_name_html-",
        "mailto:frontdesk@example.org",
    ],
)
def test_allowed_urls(url: str) -> None:
    assert is_allowed_url(url)
    _check(f'<a href="{url}">x</a>')


@pytest.mark.parametrize(
    "url",
    [
        "http://www.example.org/",
        "/relative/path",
        "#top",
        "",
        "https://",
        "javascript:alert(1)",
        "mailto:",
        "-unsubscribe_url-x",
        "//cdn.example.org/x.png",
    ],
)
def test_rejected_urls_name_the_url(url: str) -> None:
    assert not is_allowed_url(url)
    with pytest.raises(RenderError, match="link check") as info:
        _check(f'<img src="{url}" alt="x">')
    assert repr(url) in str(info.value)


@pytest.mark.parametrize(
    ("body", "marker"),
    [
        ("<p>Hello {{ name }}</p>", "{{"),
        ("<p>Hello {% if x %}</p>", "{%"),
        ("<p>Your name is Undefined</p>", "Undefined"),
        ('<a href="https://x.org/" title="{{slug}}">x</a>', "{{"),
    ],
)
def test_leftover_template_syntax_in_html_fails(body: str, marker: str) -> None:
    with pytest.raises(RenderError, match="leftover check") as info:
        _check(body)
    assert repr(marker) in str(info.value)


def test_leftover_template_syntax_in_text_fails() -> None:
    with pytest.raises(RenderError, match=r"leftover check: the text part .*'}}'"):
        _check("<p>fine</p>", text=GOOD_TEXT + "Hi name }}\n")


def test_css_braces_in_style_blocks_are_not_leftovers() -> None:
    check_rendered(
        "Hello",
        "<html><head><style>@media (min-width:480px){.a{width:100%}}</style></head>"
        f"<body>{GOOD_FOOTER}</body></html>",
        GOOD_TEXT,
        require_unsubscribe=True,
    )


def test_uncompiled_mjml_tag_fails() -> None:
    with pytest.raises(RenderError, match="MJML tag <mj-carousel>"):
        _check("<mj-carousel>x</mj-carousel>")


@pytest.mark.parametrize(("subject", "why"), [("", "empty"), ("  ", "empty"), ("a\nb", "break")])
def test_bad_subject_fails(subject: str, why: str) -> None:
    with pytest.raises(RenderError, match=f"subject check: .*{why}"):
        _check("<p>x</p>", subject=subject)


def test_missing_unsubscribe_link_fails() -> None:
    with pytest.raises(RenderError, match="no visible link to '-unsubscribe_url-'"):
        check_rendered("Hello", _page(f"<p>{ADDRESS}</p>"), GOOD_TEXT, require_unsubscribe=True)


def test_invisible_unsubscribe_link_fails() -> None:
    with pytest.raises(RenderError, match="no visible link"):
        check_rendered(
            "Hello",
            _page(f'<a href="{UNSUBSCRIBE_URL_TAG}"> </a>'),
            GOOD_TEXT,
            require_unsubscribe=True,
        )


def test_text_without_unsubscribe_tag_fails() -> None:
    with pytest.raises(RenderError, match="the text part lacks '-unsubscribe_url-'"):
        _check("<p>x</p>", text=f"{ADDRESS}\n")


def test_missing_postal_address_fails() -> None:
    with pytest.raises(RenderError, match="the HTML does not show '120 Mill Street"):
        check_rendered(
            "Hello",
            _page(f'<a href="{UNSUBSCRIBE_URL_TAG}">Unsubscribe</a>'),
            GOOD_TEXT,
            required=(ADDRESS,),
        )


def test_links_inside_outlook_conditional_comments_are_checked() -> None:
    with pytest.raises(RenderError, match=r"'http://outlook\.example\.org/bg\.png'"):
        _check('<!--[if mso]><v:image src="http://outlook.example.org/bg.png" /><![endif]-->')
