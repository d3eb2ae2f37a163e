"""Start a headless Chromium through Selenium, for tests that need a real browser.

Use ``chromium()`` as a context manager; it skips the test when Chromium or its driver
is missing, unless ``NEWSLETTER_TEST_REQUIRE_BROWSER=1`` (CI), where a missing browser
is a failure rather than a silent gap in coverage.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
REQUIRE_ENV = "NEWSLETTER_TEST_REQUIRE_BROWSER"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def _first_existing(env_name: str, candidates: tuple[str, ...]) -> str | None:
    override = os.environ.get(env_name)
    if override:
        return override if Path(override).exists() else None
    for candidate in candidates:
        if Path(candidate).exists():
            return candidate
    return None


def find_browser() -> tuple[str, str]:
    """Paths of Chromium and chromedriver, or skip (or fail, when required)."""
    binary = _first_existing("NEWSLETTER_TEST_CHROMIUM", CHROMIUM_CANDIDATES)
    driver = _first_existing("NEWSLETTER_TEST_CHROMEDRIVER", DRIVER_CANDIDATES)
    missing = [name for name, path in (("chromium", binary), ("chromedriver", driver)) if not path]
    if missing:
        reason = f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    assert binary is not None and driver is not None
    return binary, driver


@contextmanager
def chromium(width: int = 1024, height: int = 800) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium with its own profile, closed and cleaned up afterwards."""
    binary, driver_path = find_browser()
    profile = tempfile.mkdtemp(prefix="nl-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    # An explicit driver path keeps Selenium Manager from trying to download one.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_viewport(driver: webdriver.Chrome, width: int, height: int) -> int:
    """Make the layout viewport ``width`` CSS px wide; returns the measured clientWidth.

    Desktop Chromium refuses windows narrower than about 500 px, so phone widths are
    emulated through DevTools, the same way its device toolbar does it.
    """
    driver.set_window_size(width, height)
    client_width = int(driver.execute_script("return document.documentElement.clientWidth"))
    if client_width != width:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500},
        )
        client_width = int(driver.execute_script("return document.documentElement.clientWidth"))
    return client_width


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served(app: Any, port: int) -> Iterator[str]:
    """``app`` on uvicorn in a thread at ``port``; yields its base URL, stops it afterwards."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 15 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
