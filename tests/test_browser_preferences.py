"""The preference centre in a real browser, on a phone-sized screen and on a desktop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import chromium, free_port, served, set_viewport
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from test_browser_flow import ARTIFACTS
from test_web_support import LIST_NAME, LIST_SLUG, web_settings

from newsletter.audience.tokens import TokenSigner
from newsletter.services import audience
from newsletter.settings import Settings
from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory
from newsletter.storage.models import MembershipStatus
from newsletter.web import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EMAIL = "mia@example.org"


def _fits(driver: WebDriver, width: int) -> None:
    scroll = driver.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways at {width} px ({scroll} px wide)"
    for element in driver.find_elements(By.CSS_SELECTOR, "button, input, label"):
        if element.is_displayed():
            right = element.rect["x"] + element.rect["width"]
            assert right <= width, f"{element.tag_name} sticks out at {width} px"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    cfg = web_settings(url, tmp_path)
    audience.create_list(session_factory(engine), LIST_SLUG, LIST_NAME)
    try:
        with served(create_app(cfg), free_port()) as base:
            yield base, cfg
    finally:
        engine.dispose()


def test_preference_centre_on_a_phone_and_a_desktop(server: tuple[str, Settings]) -> None:
    base, cfg = server
    engine = make_engine(cfg.database_url)
    sessions = session_factory(engine)
    audience.create_list(sessions, "sciatica", "Sciatica Notes", description="Once a month")
    person = audience.add_subscriber(sessions, LIST_SLUG, EMAIL, confirmed=True).subscriber_id
    assert person is not None
    list_id = next(
        c.list.id for c in audience.lists_with_counts(sessions) if c.list.slug == LIST_SLUG
    )
    token = TokenSigner.from_settings(cfg).unsubscribe_token(person, list_id)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with chromium(width=1280, height=1000) as driver:
            driver.get(f"{base}/u/{token}")
            assert driver.find_element(By.TAG_NAME, "h1").text == "Your email preferences"
            _fits(driver, 1280)
            driver.save_screenshot(str(ARTIFACTS / "preferences-1280.png"))
        with chromium() as driver:
            driver.get(f"{base}/u/{token}")
            assert set_viewport(driver, 375, 1400) == 375
            _fits(driver, 375)
            driver.save_screenshot(str(ARTIFACTS / "preferences-375.png"))
            driver.find_element(By.CSS_SELECTOR, "input[value=sciatica]").click()
            driver.find_element(By.CSS_SELECTOR, "input[value='4-weeks']").click()
            driver.find_element(By.CSS_SELECTOR, "form.nl-prefs button").click()
            # The click loads a new page: wait for it rather than read the old one.
            notice = WebDriverWait(driver, 10).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=status]"))
            )
            assert notice.text == "Saved."
            assert "Your emails are paused" in driver.page_source
            _fits(driver, 375)
            driver.save_screenshot(str(ARTIFACTS / "preferences-saved-375.png"))
        view = audience.show_subscriber(sessions, EMAIL)
        assert {m.list_slug: m.status for m in view.memberships} == {
            LIST_SLUG: MembershipStatus.SUBSCRIBED,
            "sciatica": MembershipStatus.SUBSCRIBED,
        }
    finally:
        engine.dispose()
