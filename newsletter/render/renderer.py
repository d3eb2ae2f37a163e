"""Render an issue plan, or any other email, into checked HTML and text parts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsletter.assembly.plan import IssuePlan
from newsletter.render.checks import check_rendered
from newsletter.render.compile import compile_mjml, render_template
from newsletter.render.model import (
    FIRST_NAME_HTML_TAG,
    FIRST_NAME_TAG,
    HTML_TAG_VALUES,
    TEXT_TAG_VALUES,
    RenderedIssue,
)
from newsletter.render.text import tidy_text
from newsletter.settings import Settings

ISSUE_TEMPLATE = "issue"


@dataclass(frozen=True)
class RenderContext:
    """What the templates need beyond the plan: who sends, to which list, from where."""

    templates_dir: Path
    list_name: str
    from_name: str
    postal_address: str
    public_url: str
    reply_to: str | None = None
    archive: bool = True
    """Whether sent issues have a web version (``NEWSLETTER_ARCHIVE``)."""

    def web_url(self, list_slug: str, issue_date: dt.date) -> str | None:
        """The issue's web version, or None when the archive is off or not on https."""
        if not self.archive or not self.public_url.startswith("https://"):
            return None
        return f"{self.public_url}/archive/{list_slug}/{issue_date.isoformat()}"

    @classmethod
    def from_settings(cls, cfg: Settings, list_name: str) -> RenderContext:
        return cls(
            templates_dir=cfg.templates_dir,
            list_name=list_name,
            from_name=cfg.from_name,
            postal_address=cfg.postal_address,
            public_url=cfg.public_url,
            reply_to=cfg.reply_to,
            archive=cfg.archive,
        )


def _base_values(ctx: RenderContext) -> dict[str, Any]:
    return {"site": ctx}


def render_pair(template: str, values: Mapping[str, Any], templates_dir: Path) -> tuple[str, str]:
    """``<template>.mjml.j2`` compiled to HTML and ``<template>.txt.j2`` as text, unchecked.

    ``first_name`` and ``unsubscribe_url`` are left as literal tags, each part its own
    (SendGrid fills them per recipient: render once, send many); ``values`` may
    override them.
    """
    mjml_name = f"{template}.mjml.j2"
    markup = render_template(templates_dir, mjml_name, HTML_TAG_VALUES | dict(values))
    html = compile_mjml(markup, source=mjml_name)
    text_values = TEXT_TAG_VALUES | dict(values)
    text = tidy_text(render_template(templates_dir, f"{template}.txt.j2", text_values))
    return html, text


def issue_values(plan: IssuePlan, ctx: RenderContext) -> dict[str, Any]:
    """What the issue templates see."""
    return _base_values(ctx) | {
        "unsubscribe": True,
        "plan": plan,
        "web_url": ctx.web_url(plan.list_slug, plan.issue_date),
        "subject": plan.subject,
        "preheader": plan.preheader,
    }


def render_issue(plan: IssuePlan, ctx: RenderContext) -> RenderedIssue:
    """The issue's HTML and text, with substitution tags in place, after every check."""
    html, text = render_pair(ISSUE_TEMPLATE, issue_values(plan, ctx), ctx.templates_dir)
    check_issue(plan.subject, html, text, postal_address=ctx.postal_address)
    return RenderedIssue(subject=plan.subject, preheader=plan.preheader, html=html, text=text)


def check_issue(subject: str, html: str, text: str, *, postal_address: str) -> None:
    """Every check an issue must pass; also run on a stored issue before it is approved."""
    check_rendered(
        subject,
        html,
        text,
        required=(postal_address,),
        required_html=(FIRST_NAME_HTML_TAG,),
        required_text=(FIRST_NAME_TAG,),
        require_unsubscribe=True,
    )


def render_email(
    template: str,
    ctx: Mapping[str, Any],
    *,
    context: RenderContext,
    subject: str,
    require_unsubscribe: bool = False,
) -> tuple[str, str]:
    """Any other email (confirmation, review notice): ``(html, text)``, checked.

    ``template`` is the name without suffix (``"emails/notice"``); the templates see
    ``ctx``'s keys plus ``site`` (the context), ``subject`` and the tags.
    """
    values = (
        _base_values(context)
        | {"subject": subject, "preheader": "", "unsubscribe": require_unsubscribe}
        | dict(ctx)
    )
    html, text = render_pair(template, values, context.templates_dir)
    check_rendered(
        subject,
        html,
        text,
        required=(context.postal_address,),
        require_unsubscribe=require_unsubscribe,
    )
    return html, text
