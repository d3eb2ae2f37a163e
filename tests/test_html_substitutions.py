"""A person's name reaches the HTML part escaped: each part has its own first-name tag."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from test_issues_support import make_issue, seed_audience

from newsletter.delivery.retry import RetryPolicy
from newsletter.delivery.senders import MemorySender
from newsletter.errors import RenderError
from newsletter.render import (
    FIRST_NAME_HTML_TAG,
    FIRST_NAME_TAG,
    RenderContext,
    check_rendered,
    html_part,
    render_issue,
    substitutions,
)
from newsletter.render.sample import sample_plan
from newsletter.services.issues_send import send_issue
from newsletter.settings import load_settings
from newsletter.storage.db import transaction
from newsletter.storage.models import Subscriber

REPO = Path(__file__).resolve().parent.parent
EVIL = '<a href=https://evil.example/login>Verify your account</a> & "co"'
ADDRESS = "Riverbend Pain & Spine Clinic, 120 Mill Street, Springfield"


def _fill(part: str, values: dict[str, str]) -> str:
    """What SendGrid does: every tag replaced as raw text."""
    for tag, value in values.items():
        part = part.replace(tag, value)
    return part


def test_each_part_carries_its_own_first_name_tag() -> None:
    ctx = RenderContext(
        templates_dir=REPO / "templates",
        list_name="Wellness",
        from_name="Riverbend",
        postal_address=ADDRESS,
        public_url="https://newsletter.example.org",
    )
    issue = render_issue(sample_plan(), ctx)
    assert f"Hi {FIRST_NAME_HTML_TAG}," in issue.html
    assert FIRST_NAME_TAG not in issue.html
    assert f"Hi {FIRST_NAME_TAG}," in issue.text
    assert FIRST_NAME_HTML_TAG not in issue.text
    values = substitutions(EVIL, "https://newsletter.example.org/u/T")
    html = _fill(issue.html, values)
    assert "evil.example/login>" not in html
    assert "Hi &lt;a href=https://evil.example/login&gt;Verify your account&lt;/a&gt;" in html
    assert f"Hi {EVIL}," in _fill(issue.text, values)


def test_the_text_tag_in_the_html_part_fails_the_render_check() -> None:
    html = (
        f"<html><body><p>Hi {FIRST_NAME_TAG},</p><p>{ADDRESS}</p>"
        '<a href="-unsubscribe_url-">Unsubscribe</a></body></html>'
    )
    text = f"Hi {FIRST_NAME_TAG},\n{ADDRESS}\nUnsubscribe: -unsubscribe_url-\n"
    with pytest.raises(RenderError, match="text tag -first_name-"):
        check_rendered("Hello", html, text, required=(ADDRESS,))


def test_substitutions_escape_only_the_html_value() -> None:
    values = substitutions("<b>Ana</b>", "https://x.example/u/T")
    assert values == {
        FIRST_NAME_TAG: "<b>Ana</b>",
        FIRST_NAME_HTML_TAG: "&lt;b&gt;Ana&lt;/b&gt;",
        "-unsubscribe_url-": "https://x.example/u/T",
    }
    assert substitutions(None, "u")[FIRST_NAME_HTML_TAG] == "there"


def test_an_issue_stored_with_the_old_tag_is_sent_with_the_escaped_one(
    db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    # A name stored before names were validated, and an issue rendered before the HTML
    # part had its own tag: the send must still not put raw HTML into the email.
    audience = seed_audience(sessions, 2)
    with transaction(sessions) as session:
        person = session.get(Subscriber, audience.ids[1])
        assert person is not None
        person.first_name = EVIL
    issue_id = make_issue(sessions, audience.list_id)
    sender = MemorySender()
    cfg = load_settings(database_url=db_url)
    send_issue(cfg, engine, issue_id, sender=sender, policy=RetryPolicy(max_attempts=1))
    (request,) = sender.sent
    body = request.decoded()
    text, html = (c["value"] for c in body["content"])
    assert FIRST_NAME_TAG not in html and FIRST_NAME_HTML_TAG in html
    evil = body["personalizations"][1]
    assert evil["to"][0]["email"] == audience.emails[1]
    seen = _fill(html, evil["substitutions"])
    assert "<a href=https://evil.example" not in seen
    assert "&lt;a href=https://evil.example/login&gt;" in seen
    assert EVIL in _fill(text, evil["substitutions"])
    assert html_part(html) == html
