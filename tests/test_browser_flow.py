"""A real browser through the whole subscriber journey, against uvicorn on loopback.

Sign up on the demo form, confirm from the link in the outbox, receive an issue in the
outbox, preview it as marketing, then leave through the issue's unsubscribe page. Each
page is saved as a screenshot under tests/artifacts/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from browser import chromium, free_port, served
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from test_web_support import ADMIN_TOKEN, LIST_NAME, LIST_SLUG, web_settings

from newsletter.audience.timezones import normalize_timezone
from newsletter.services import audience
from newsletter.services.issues import approve_issue, build_issue
from newsletter.services.issues_send import send_issue
from newsletter.settings import Settings
from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory
from newsletter.storage.models import MembershipStatus
from newsletter.web import create_app

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
EMAIL = "maria.lopez@example.org"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """The app on uvicorn in a thread; (base URL, settings)."""
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    # Links in emails must be https (a render check); the test follows their paths here.
    cfg = web_settings(url, tmp_path, admin_token=ADMIN_TOKEN)
    audience.create_list(session_factory(engine), LIST_SLUG, LIST_NAME)
    try:
        with served(create_app(cfg), free_port()) as base:
            yield base, cfg
    finally:
        engine.dispose()


def _shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"web-{name}.png"))


def _heading(driver: WebDriver) -> str:
    # Read inside the wait: right after a click the old page's h1 may go stale mid-read.
    wait = WebDriverWait(driver, 10, ignored_exceptions=(StaleElementReferenceException,))
    return str(wait.until(lambda d: d.find_element(By.TAG_NAME, "h1").text))


def _outbox_bodies(outbox: Path, prefix: str) -> list[dict[str, object]]:
    return [orjson.loads(p.read_bytes()) for p in sorted(outbox.glob(f"{prefix}*.json"))]


def _token_path(text: str, kind: str) -> str:
    found = re.search(rf"https://[^/\s]+(/{kind}/[A-Za-z0-9_-]+)", text)
    assert found is not None, f"no /{kind}/ link in {text[:300]!r}"
    return found.group(1)


def test_sign_up_confirm_receive_and_unsubscribe_in_a_browser(
    server: tuple[str, Settings],
) -> None:
    base, cfg = server
    with chromium(width=900, height=900) as driver:
        # 1. The signup form, as the clinic's website embeds it.
        driver.get(f"{base}/signup")
        assert _heading(driver) == "Our weekly wellness newsletter"
        _shot(driver, "1-signup")
        driver.find_element(By.ID, "nl-email").send_keys(EMAIL)
        driver.find_element(By.ID, "nl-name").send_keys("Maria")
        assert not driver.find_element(By.ID, "nl-website").is_displayed()
        driver.find_element(By.CSS_SELECTOR, "form.nl-signup button[type=submit]").click()
        assert _heading(driver) == "Check your inbox"
        _shot(driver, "2-check-inbox")

        # 2. The confirmation email arrives in the outbox (after the response).
        deadline = time.monotonic() + 10
        while not (confirmations := _outbox_bodies(cfg.outbox_dir, "confirm-")):
            assert time.monotonic() < deadline, "no confirmation email in the outbox"
            time.sleep(0.1)
        (mail,) = confirmations
        text = mail["content"][0]["value"]  # type: ignore[index]
        driver.get(base + _token_path(str(text), "confirm"))
        assert _heading(driver) == "Confirm your subscription"
        _shot(driver, "3-confirm")
        engine = make_engine(cfg.database_url)
        sessions = session_factory(engine)
        # Opening the link (what a mail scanner does) changes nothing; the button does.
        pending = audience.show_subscriber(sessions, EMAIL).memberships[0].status
        assert pending == MembershipStatus.PENDING
        old = driver.find_element(By.TAG_NAME, "h1")
        driver.find_element(By.CSS_SELECTOR, "form.actions button[type=submit]").click()
        WebDriverWait(driver, 10).until(expected_conditions.staleness_of(old))
        assert _heading(driver) == "You are subscribed"
        _shot(driver, "3-confirmed")

        member = audience.show_subscriber(sessions, EMAIL).memberships[0]
        assert member.status == MembershipStatus.SUBSCRIBED
        assert member.consent_source == "web-form"
        assert member.consent_ip == "127.0.0.1"
        assert "Chrome" in (member.consent_user_agent or "")
        # The form's script filled in the browser's own time zone.
        zone = driver.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone")
        assert audience.show_subscriber(sessions, EMAIL).timezone == normalize_timezone(zone)

        # 3. An issue goes out; Maria's copy lands in the outbox.
        issue = build_issue(cfg, engine, LIST_SLUG)
        approve_issue(engine, issue.id, by="browser-test")
        send_issue(cfg, engine, issue.id, send_now=True)  # today's issue, whatever the hour
        # The confirmation was followed by one welcome (sent after the page's response).
        deadline = time.monotonic() + 10
        while not _outbox_bodies(cfg.outbox_dir, "welcome-"):
            assert time.monotonic() < deadline, "no welcome email in the outbox"
            time.sleep(0.1)
        assert len(_outbox_bodies(cfg.outbox_dir, "welcome-")) == 1
        issues = [
            b
            for b in _outbox_bodies(cfg.outbox_dir, "")
            if b.get("categories") not in (["confirmation"], ["welcome"])
        ]
        assert len(issues) == 1
        (personalization,) = issues[0]["personalizations"]  # type: ignore[misc]
        assert personalization["to"] == [{"email": EMAIL, "name": "Maria"}]
        header = personalization["headers"]["List-Unsubscribe"]
        assert personalization["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

        # 4. Marketing previews it (HTTP Basic, the token as password).
        driver.get(
            base.replace("://", f"://marketing:{ADMIN_TOKEN}@") + f"/issues/{issue.id}/preview"
        )
        assert "Alex" in driver.page_source
        _shot(driver, "4-preview")

        # 5. The unsubscribe page from the issue's header; GET alone changes nothing.
        driver.get(base + _token_path(header, "u"))
        assert _heading(driver) == "Your email preferences"
        assert "m•••@example.org" in driver.page_source
        _shot(driver, "5-unsubscribe")
        assert audience.show_subscriber(sessions, EMAIL).memberships[0].status == (
            MembershipStatus.SUBSCRIBED
        )
        driver.find_element(By.CSS_SELECTOR, "button[value=list]").click()
        assert _heading(driver) == "You are unsubscribed"
        _shot(driver, "6-unsubscribed")
        view = audience.show_subscriber(sessions, EMAIL).memberships[0]
        assert view.status == MembershipStatus.UNSUBSCRIBED
        assert view.unsubscribe_source == "web:unsubscribe-page"
        engine.dispose()
