"""The marketing console in a real headless Chromium, end to end, with axe-core on every page.

An editor signs in, writes an article in the content editor, composes next week's issue
with it, previews it at 375 and 600 px (no horizontal overflow inside either frame) and
sends a test that lands in the outbox; an approver signs in and approves; ``python
scheduler.py --once --now …`` sends it; signed webhook events are posted; the results
page shows the counts and the chart.
Every console page is checked with axe-core (serious and critical violations fail) and
saved at 375 px and 1280 px under tests/artifacts/console-*.png.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from axe_selenium_python import Axe
from browser import chromium, free_port, set_viewport
from console_support import EMAILS, PASSWORD
from cryptography.hazmat.primitives.asymmetric import ec
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait
from test_web_support import (
    LIST_NAME,
    LIST_SLUG,
    REPO,
    event,
    new_keypair,
    signed_headers,
    web_settings,
)

from newsletter.services import audience, users
from newsletter.services.compose import send_dates
from newsletter.services.issues import show_issue
from newsletter.settings import Settings
from newsletter.storage import migrate
from newsletter.storage.db import make_engine, session_factory
from newsletter.storage.models import IssueStatus, UserRole
from newsletter.web import create_app

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ARTICLE = "console-e2e-stretch"
BLOCKING = ("serious", "critical")
READERS = ("ana@example.org", "ben@example.org", "cy@example.org")
# Pages whose tables become one card per row on a phone: nothing may scroll inside them.
STACKED = {"users"}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass
class Site:
    base: str
    settings: Settings
    private_key: ec.EllipticCurvePrivateKey
    db_url: str


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    content = tmp_path / "content"
    shutil.copytree(REPO / "content", content)
    private, public = new_keypair()
    cfg = web_settings(
        url, tmp_path, content_dir=content, sendgrid_webhook_public_key=public, sender="outbox"
    )
    sessions = session_factory(engine)
    audience.create_list(sessions, LIST_SLUG, LIST_NAME)
    for reader in READERS:
        audience.add_subscriber(sessions, LIST_SLUG, reader, confirmed=True)
    for role in (UserRole.EDITOR, UserRole.APPROVER, UserRole.ADMIN):
        users.add_user(sessions, EMAILS[role], role, name=role.value.title(), password=PASSWORD)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(cfg), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 15 s")
        time.sleep(0.05)
    try:
        yield Site(f"http://127.0.0.1:{port}", cfg, private, url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


class Visit:
    """Opens console pages, checks each with axe and saves it at both widths."""

    def __init__(self, driver: WebDriver, base: str) -> None:
        self.driver = driver
        self.base = base
        self.checked: list[str] = []

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def check(self, name: str) -> None:
        """axe-core on the current page at desktop width, then screenshots at 375 and 1280."""
        driver = self.driver
        set_viewport(driver, 1280, 900)
        axe = Axe(driver)
        axe.inject()
        results: dict[str, Any] = axe.run()
        bad = [v for v in results["violations"] if v.get("impact") in BLOCKING]
        assert not bad, f"{name}: " + json.dumps(
            [{"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]}
             for v in bad], indent=1,
        )  # fmt: skip
        _full_page(driver, ARTIFACTS / f"console-{name}-1280.png")
        width = set_viewport(driver, 375, 800)
        assert width == 375
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at 375 px"
        if name in STACKED:
            inner = driver.execute_script(
                "return Array.from(document.querySelectorAll('.table-wrap'))"
                ".map(function (b) { return b.scrollWidth - b.clientWidth; })"
            )
            assert max(inner, default=0) <= 0, f"{name}: a table scrolls sideways in its box"
        _full_page(driver, ARTIFACTS / f"console-{name}-375.png")
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        set_viewport(driver, 1280, 900)
        self.checked.append(name)


def _full_page(driver: WebDriver, path: Path, max_height: int = 6000) -> None:
    """The whole page from its top (not just the viewport), cut at ``max_height`` px."""
    ARTIFACTS.mkdir(exist_ok=True)
    size = driver.execute_script(
        "var d = document.documentElement; return [d.scrollWidth, d.scrollHeight];"
    )
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": min(size[1], max_height),
                     "scale": 1},
        },
    )  # fmt: skip
    path.write_bytes(base64.b64decode(shot["data"]))


def _sign_in(visit: Visit, role: UserRole, *, check: bool = False) -> None:
    visit.open("/admin/login")
    if check:
        visit.check("login")
    driver = visit.driver
    driver.find_element(By.ID, "email").send_keys(EMAILS[role])
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    _wait_for(driver, lambda url: url.rstrip("/").endswith("/admin"))


def _wait_for(driver: WebDriver, ok: Callable[[str], bool]) -> None:
    """Wait for the page a click started to load: its URL satisfies ``ok``."""
    try:
        WebDriverWait(driver, 20).until(lambda d: ok(d.current_url))
    except TimeoutException:
        main = driver.find_elements(By.TAG_NAME, "main")
        pytest.fail(f"stuck at {driver.current_url}: {main[0].text[:500] if main else ''}")


def _sign_out(visit: Visit) -> None:
    visit.driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
    _wait_for(visit.driver, lambda url: "/admin/login" in url)


def _create_article(visit: Visit, content: Path) -> None:
    """Through the content editor, as an editor would: every front-matter key a field."""
    driver = visit.driver
    visit.open("/admin/content/new/article")
    fields = {
        "f-slug": ARTICLE,
        "f-title": "A two-minute morning stretch",
        "f-summary": "Three gentle moves before you get out of bed make the first steps easier.",
        "f-url": f"https://riverbendclinic.example.org/articles/{ARTICLE}",
        "f-category": "exercise",
        "f-tags": "stretching, morning",
        "f-published": dt.date.today().isoformat(),
        "f-author": "Riverbend physiotherapy team",
    }
    for field_id, value in fields.items():
        element = driver.find_element(By.ID, field_id)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.XPATH, "//form//button[normalize-space()='Save']").click()
    _wait_for(driver, lambda url: not url.endswith("/admin/content/new/article"))
    saved = content / "articles" / f"{ARTICLE}.md"
    deadline = time.monotonic() + 10
    while not saved.exists():
        assert time.monotonic() < deadline, driver.find_element(By.TAG_NAME, "main").text[:800]
        time.sleep(0.1)
    assert "A two-minute morning stretch" in saved.read_text("utf-8")


def _frames_fit(driver: WebDriver) -> None:
    frames = driver.find_elements(By.CSS_SELECTOR, ".frames iframe")
    assert len(frames) == 2
    widths = []
    for frame in frames:
        widths.append(frame.size["width"])
        driver.switch_to.frame(frame)
        try:
            deadline = time.monotonic() + 10
            while driver.execute_script("return document.readyState") != "complete":
                assert time.monotonic() < deadline, "preview frame did not load"
                time.sleep(0.1)
            assert "Hi Alex" in driver.find_element(By.TAG_NAME, "body").text
            scroll, client = driver.execute_script(
                "var d = document.documentElement; return [d.scrollWidth, d.clientWidth];"
            )
            assert scroll <= client, f"the email overflows a {client}px frame ({scroll}px)"
        finally:
            driver.switch_to.default_content()
    assert widths == [375, 600]


def _outbox_subjects(outbox: Path) -> list[str]:
    subjects = []
    for path in sorted(outbox.glob("*.json")):
        subjects.append(orjson.loads(path.read_bytes())["subject"])
    return subjects


def _run_scheduler(site: Site, when: dt.datetime) -> None:
    cfg = site.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env |= {
        "PYTHONPATH": str(REPO),
        "NEWSLETTER_DATABASE_URL": site.db_url,
        "NEWSLETTER_CONTENT_DIR": str(cfg.content_dir),
        "NEWSLETTER_TEMPLATES_DIR": str(cfg.templates_dir),
        "NEWSLETTER_OUTBOX_DIR": str(cfg.outbox_dir),
        "NEWSLETTER_SENDER": "outbox",
        "NEWSLETTER_PUBLIC_URL": cfg.public_url,
        "NEWSLETTER_SECRET_KEY": cfg.secret_key.get_secret_value(),
    }
    local = when.astimezone(cfg.zone).replace(tzinfo=None).isoformat(timespec="minutes")
    done = subprocess.run(
        [sys.executable, str(REPO / "scheduler.py"), "--once", "--now", local],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _post_events(site: Site, issue_id: int) -> None:
    stamp = int(time.time())
    events = [event("delivered", r, n=i, issue_id=issue_id, timestamp=stamp) for i, r in
              enumerate(READERS)]  # fmt: skip
    events += [
        event("open", READERS[0], n=10, issue_id=issue_id, timestamp=stamp + 60),
        event("click", READERS[0], n=11, issue_id=issue_id, timestamp=stamp + 120,
              url="https://riverbendclinic.example.org/articles/" + ARTICLE),
        event("open", READERS[1], n=12, issue_id=issue_id, timestamp=stamp + 3700),
    ]  # fmt: skip
    body = orjson.dumps(events)
    import httpx

    answer = httpx.post(
        site.base + "/webhooks/sendgrid",
        content=body,
        headers=signed_headers(site.private_key, body),
        timeout=30,
    )
    assert answer.status_code in (200, 204), answer.text


def _plain_pages() -> list[str]:
    from test_console_routes import _ROUTES

    return sorted(
        r.path
        for r in _ROUTES
        if "GET" in r.methods and "{" not in r.path and r.path not in ("/admin", "/admin/login")
    )


def test_editor_to_approver_to_sent_issue_in_a_real_browser(site: Site) -> None:
    cfg = site.settings
    day = send_dates(cfg, cfg.today())[1].day  # next week's send date
    engine = make_engine(site.db_url)
    with chromium(1280, 900) as driver:
        visit = Visit(driver, site.base)
        visit.open("/admin/issues")
        assert "/admin/login" in driver.current_url  # no session: the login page
        _sign_in(visit, UserRole.EDITOR, check=True)
        visit.check("home")

        _create_article(visit, cfg.content_dir)

        visit.open(f"/admin/issues/new?list={LIST_SLUG}")
        Select(driver.find_element(By.ID, "date")).select_by_value(day.isoformat())
        driver.find_element(By.ID, f"articles-{ARTICLE}").click()
        driver.find_element(By.NAME, f"pos-articles-{ARTICLE}").send_keys("1")
        driver.find_element(By.ID, "subject").send_keys("Start the day with a stretch")
        visit.check("compose")
        driver.find_element(By.CSS_SELECTOR, "form.form > button[type=submit]").click()
        _wait_for(driver, lambda url: "done=queued" in url)
        issue_id = int(driver.current_url.split("/admin/issues/")[1].split("?")[0])
        assert "It goes out" in driver.find_element(By.CSS_SELECTOR, ".notice-ok").text

        _frames_fit(driver)
        visit.check("issue")

        outbox = cfg.outbox_dir
        before = len(_outbox_subjects(outbox)) if outbox.exists() else 0
        to = driver.find_element(By.ID, "to")
        to.clear()
        to.send_keys("marketing@clinic.org")
        to.submit()
        _wait_for(driver, lambda url: "done=test" in url)
        subjects = _outbox_subjects(outbox)
        assert len(subjects) == before + 1
        assert subjects[-1] == "[TEST] Start the day with a stretch"

        visit.open("/admin/issues")
        visit.check("issues")
        visit.open("/admin/audit")
        visit.check("audit")
        visit.open("/admin/no-such-page")
        visit.check("not-found")
        _sign_out(visit)

        _sign_in(visit, UserRole.APPROVER)
        visit.open(f"/admin/issues/{issue_id}")
        driver.find_element(By.XPATH, "//button[normalize-space()='Approve…']").click()
        _wait_for(driver, lambda url: url.endswith("/approve"))
        assert "It goes out" in driver.find_element(By.TAG_NAME, "main").text
        visit.check("confirm-approve")
        driver.find_element(By.XPATH, "//button[normalize-space()='Approve']").click()
        _wait_for(driver, lambda url: "done=approved" in url)
        assert show_issue(engine, issue_id).status == IssueStatus.APPROVED
        # The approver's Send form and its confirmation; left unconfirmed, so the
        # scheduler sends the issue below as it would any week.
        visit.check("issue-approved")
        driver.find_element(By.ID, "deliver-now").click()
        driver.find_element(By.XPATH, "//button[normalize-space()='Send now…']").click()
        _wait_for(driver, lambda url: url.endswith("/send"))
        assert "SendGrid delivers it" in driver.find_element(By.TAG_NAME, "main").text
        visit.check("confirm-send")
        assert show_issue(engine, issue_id).status == IssueStatus.APPROVED

        view = show_issue(engine, issue_id)
        from newsletter.services.timing import due_time

        _run_scheduler(site, due_time(cfg, view.issue_date))
        sent = show_issue(engine, issue_id)
        assert sent.status == IssueStatus.SENT, sent
        assert sent.recipients == len(READERS)

        _post_events(site, issue_id)
        visit.open(f"/admin/issues/{issue_id}/results")
        main = driver.find_element(By.TAG_NAME, "main").text
        shown = main.lower()
        for row in ("delivered 3", "opened 2 66.67%", "clicked 1 33.33%", "bounced 0"):
            assert row in shown, main[:1200]
        assert driver.find_elements(By.CSS_SELECTOR, ".chart canvas")
        visit.check("results")
        _sign_out(visit)

        # Every other console page without an id in its path, whoever added it.
        _sign_in(visit, UserRole.ADMIN)
        for path in _plain_pages():
            name = path.removeprefix("/admin/").replace("/", "-")
            if name in visit.checked or path in ("/admin/issues/new",):
                continue
            visit.open(path)
            assert "Not found" not in driver.title, path
            visit.check(name)
    engine.dispose()
    assert {
        "login", "home", "compose", "issue", "issues", "audit", "confirm-approve", "users",
        "issue-approved", "confirm-send",
    } <= set(visit.checked)  # fmt: skip
