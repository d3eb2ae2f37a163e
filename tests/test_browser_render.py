"""The rendered issue in a real headless Chromium, at phone and desktop widths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import chromium, set_viewport
from selenium import webdriver
from selenium.webdriver.common.by import By

from newsletter.render import FIRST_NAME_TAG, UNSUBSCRIBE_URL_TAG, RenderContext, render_issue
from newsletter.render.sample import sample_plan

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
PLAN = sample_plan()

# The sample image's host does not exist offline; a drawn stand-in keeps the layout
# (and the screenshot) honest about how a real photo would sit in the card.
_PAINT_IMAGES = """
const canvas = document.createElement('canvas');
canvas.width = 1200; canvas.height = 600;
const g = canvas.getContext('2d');
const grad = g.createLinearGradient(0, 0, 1200, 600);
grad.addColorStop(0, '#9fd3c7'); grad.addColorStop(1, '#0f6b73');
g.fillStyle = grad; g.fillRect(0, 0, 1200, 600);
const url = canvas.toDataURL('image/png');
const images = Array.from(document.images);
images.forEach(img => { img.src = url; });
return images.length;
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    ctx = RenderContext(
        templates_dir=REPO_ROOT / "templates",
        list_name="Wellness",
        from_name="Riverbend Pain & Spine Clinic",
        postal_address="Riverbend Pain & Spine Clinic, 120 Mill Street, Springfield, ST 00000",
        public_url="https://newsletter.riverbendclinic.example.org",
    )
    issue = render_issue(PLAN, ctx).filled(
        {FIRST_NAME_TAG: "Alex", UNSUBSCRIBE_URL_TAG: "https://newsletter.example.org/u/x"}
    )
    html_file = tmp_path_factory.mktemp("browser") / "issue.html"
    html_file.write_text(issue.html, encoding="utf-8")
    with chromium(600, 900) as driver:
        driver.get(html_file.as_uri())
        assert driver.execute_script(_PAINT_IMAGES) == 1
        yield driver


@pytest.mark.parametrize("width", [375, 600])
def test_issue_fits_the_viewport_and_shows_every_title(page: webdriver.Chrome, width: int) -> None:
    assert set_viewport(page, width, 900) == width
    client_width = page.execute_script("return document.documentElement.clientWidth")
    scroll_width = page.execute_script("return document.documentElement.scrollWidth")
    assert client_width == width
    assert scroll_width <= client_width, f"horizontal overflow at {width}px: {scroll_width}px"

    for article in PLAN.articles:
        link = page.find_element(By.LINK_TEXT, article.title)
        assert link.is_displayed(), article.title
        box = page.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return [r.left, r.right, r.width, r.height];",
            link,
        )
        left, right, box_width, box_height = box
        assert box_width > 0 and box_height > 0, article.title
        assert left >= 0 and right <= client_width, f"{article.title!r} spills out: {box}"

    image = page.find_element(By.TAG_NAME, "img")
    assert 0 < image.size["width"] <= client_width

    unsubscribe = page.find_element(By.LINK_TEXT, "Unsubscribe")
    assert unsubscribe.is_displayed()

    # A full-height window, so the screenshot shows the whole email, footer included.
    full_height = int(page.execute_script("return document.documentElement.scrollHeight"))
    # The window's height includes a little browser frame, hence the margin.
    set_viewport(page, width, full_height + 200)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"render-{width}.png"
    assert page.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
