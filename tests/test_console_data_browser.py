"""The content, results and audience pages in a real browser: layout, axe, screenshots.

Each page is opened at 1280 px and at 375 px wide; neither may scroll sideways, axe-core
must find no serious or critical violation, and a screenshot of each goes to
tests/artifacts/ (console-data-<page>-<width>.png).
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_selenium_python import Axe
from browser import chromium, free_port, served
from console_support import EMAILS, PASSWORD
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait
from test_web_support import REPO, Web, event, make_issue, open_web, subscribed

from newsletter.services import users
from newsletter.storage.models import UserRole

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WIDTHS = (1280, 375)
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The app on uvicorn with a sent issue and its events; (base URL, issue id)."""
    content = tmp_path / "content"
    shutil.copytree(REPO / "content", content)
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    from newsletter.storage import migrate
    from newsletter.storage.db import make_engine

    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    port = free_port()
    with open_web(
        url,
        tmp_path,
        content_dir=content,
        import_reports_dir=tmp_path / "imports",
        public_url=f"http://127.0.0.1:{port}",
        allow_insecure_public_url=True,  # a local trial: loopback http only
    ) as web:
        users.add_user(web.sessions, EMAILS[UserRole.ADMIN], UserRole.ADMIN, password=PASSWORD)
        issue = _sent_issue(web)
        with served(web.client.app, port) as base:
            yield base, issue


def _sent_issue(web: Web) -> int:
    people = [
        (subscribed(web, f"reader{i}@example.org"), f"reader{i}@example.org") for i in range(6)
    ]
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(
        hours=30
    )
    issue = make_issue(web.sessions, web.list_id, recipients=people, started=start)
    t0 = int(start.timestamp())
    events = [
        event("delivered", e, n=i, issue_id=issue, timestamp=t0 + 60)
        for i, (_, e) in enumerate(people)
    ]
    events += [
        event("open", e, n=10 + i, issue_id=issue, timestamp=t0 + 3600 * (1 + i))
        for i, (_, e) in enumerate(people[:4])
    ]
    events += [
        event(
            "click",
            people[0][1],
            n=20,
            issue_id=issue,
            timestamp=t0 + 7300,
            url="https://riverbendclinic.example.org/articles/core-bracing-made-simple",
        ),
        event("bounce", people[5][1], n=21, issue_id=issue, timestamp=t0 + 200, type="bounce"),
    ]
    assert web.post_events(events).status_code == 200
    return issue


def _wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    # A page that is being replaced by the next one makes found elements stale: retry.
    return WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,))


def _text_of(driver: WebDriver, selector: str) -> str:
    """The element's text, read in one script call.

    Finding the element and then asking for its text are two calls; when a form post or an
    htmx swap replaces the document between them, chromedriver fails the second with
    "Node with given id does not belong to the document", which is not a stale-element
    error a wait ignores. One script call reads whichever document is current.
    """
    text = driver.execute_script(
        "var e = document.querySelector(arguments[0]); return e ? e.innerText : '';", selector
    )
    return str(text)


def _sign_in(driver: WebDriver, base: str) -> None:
    driver.get(f"{base}/admin/login")
    driver.find_element(By.NAME, "email").send_keys(EMAILS[UserRole.ADMIN])
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait(driver).until(lambda d: "/admin/login" not in d.current_url)


def _check(driver: WebDriver, name: str) -> None:
    for width in WIDTHS:
        driver.set_window_size(width, 1000)
        time.sleep(0.3)
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(int(height), 600), 4000))
        time.sleep(0.2)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"console-data-{name}-{width}.png"))
    axe = Axe(driver)
    axe.inject()
    found = axe.run()
    bad = [v for v in found["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(f"{v['id']}: {v['help']}" for v in bad)


def test_content_results_and_audience_pages_in_a_browser(site: tuple[str, int]) -> None:
    base, issue = site
    with chromium(1280, 1000) as driver:
        _sign_in(driver, base)
        driver.get(f"{base}/admin/content")
        _check(driver, "content-library")
        # htmx: choosing a kind swaps the table only (the filter form stays as it was).
        form = driver.find_element(By.CSS_SELECTOR, "form.filters")
        Select(driver.find_element(By.ID, "kind")).select_by_value("tip")
        _wait(driver).until(
            lambda d: (
                "kind=tip" in d.current_url
                and {c.text for c in d.find_elements(By.CSS_SELECTOR, "#content-results .badge")}
                and "article" not in d.find_element(By.ID, "content-results").text.split()
            )
        )
        assert form.is_displayed()  # the same element: the page was not reloaded
        driver.get(f"{base}/admin/content/article/core-bracing-made-simple")
        _wait(driver).until(
            lambda d: d.execute_script(
                "var f = document.getElementById('content-preview');"
                "return f && f.contentDocument && f.contentDocument.body"
                " && f.contentDocument.body.innerText.indexOf('Core Bracing') >= 0"
            )
        )
        _check(driver, "content-editor")
        title = driver.find_element(By.ID, "f-title")
        title.clear()
        driver.find_element(By.ID, "f-url").clear()
        driver.find_element(By.ID, "f-url").send_keys("http://not-secure.example.org")
        driver.find_element(
            By.CSS_SELECTOR, "#content-form button[type=submit]:not(#preview-button)"
        ).click()
        _wait(driver).until(lambda d: d.find_elements(By.ID, "e-url"))
        assert "https://" in driver.find_element(By.ID, "e-url").text
        _check(driver, "content-editor-problems")
        driver.get(f"{base}/admin/issues/{issue}/results")
        _wait(driver).until(
            lambda d: d.execute_script(
                "return typeof Chart !== 'undefined' && !!Chart.getChart('events-chart')"
            )
        )
        _check(driver, "results")
        driver.get(f"{base}/admin/lists")
        _check(driver, "lists")
        driver.get(f"{base}/admin/subscribers")
        # htmx: the results follow the typing, without pressing Search.
        driver.find_element(By.ID, "q").send_keys("reader1")
        _wait(driver).until(lambda d: "reader1@example.org" in _text_of(d, "#subscriber-results"))
        assert "q=reader1" in driver.current_url  # pushed, so the result can be bookmarked
        driver.get(f"{base}/admin/subscribers?q=reader")
        _check(driver, "subscribers")
        driver.get(f"{base}/admin/subscribers/reader0@example.org")
        _check(driver, "subscriber")
        driver.get(f"{base}/admin/lists/back-care/import")
        csv_file = Path(driver.capabilities.get("tmp", "/tmp")) / "console-data-people.csv"
        csv_file.write_text("email,first_name\nnew.person@example.org,New\nbroken,X\n")
        driver.find_element(By.ID, "file").send_keys(str(csv_file))
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        _wait(driver).until(lambda d: "Trial run" in _text_of(d, "main"))
        _check(driver, "import")
