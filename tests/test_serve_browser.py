"""The explorer page in a real browser: headless Chromium from the system, driven by Playwright.

Chromium comes from the system package manager (``apt-get install chromium``):
Playwright's own browser download is not used. Without Chromium these tests
skip, except in CI (``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from lenet_deconv.serve.background import serving
from lenet_deconv.serve.explorer import build_explorer
from torch_lenet.data import load_mnist
from torch_lenet.weights import load_params

from .conftest import SHIPPED_WEIGHTS

CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Every wait for the page, in ms: generous, for a loaded 2-core machine.
WAIT_MS = 20_000


def find_chromium() -> str | None:
    """The system Chromium: $CHROMIUM, else chromium or chromium-browser on the PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _need(what: str) -> None:
    """Skip for lack of ``what``; in CI, fail instead: the browser tests must run there."""
    message = f"{what}; install it to run the browser tests (see docs/explorer.md)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        _need("no system Chromium found (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def url(data_dir, chromium):
    images, labels = load_mnist(data_dir, "test", download=False)
    # 300 images are enough for 9 per channel; the docs' screenshot searches them all.
    count = None if os.environ.get("EXPLORER_SCREENSHOT") else 300
    explorer = build_explorer(
        load_params(SHIPPED_WEIGHTS),
        "numpy",
        np.float32,
        images[:count],
        labels[:count],
        cache_dir=None,
    )
    with serving(explorer) as address:
        yield address


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("Playwright for Python is not installed (pip install playwright)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser, url):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    expect(page.locator("#prediction")).not_to_have_text("-")  # the blank canvas answered
    yield page
    page.close()
    assert errors == [], errors


def _settled(page) -> None:
    """Wait until no request is in flight, so the prediction shown is the last image's."""
    from playwright.sync_api import expect

    expect(page.locator("body")).to_have_attribute("data-busy", "false")


def test_drawing_a_stroke_changes_the_prediction(page) -> None:
    _settled(page)
    before = page.text_content("#prediction")
    box = page.locator("#draw").bounding_box()
    left, top = box["x"], box["y"]
    page.mouse.move(left + 140, top + 40)
    page.mouse.down()
    for step in range(1, 21):  # a vertical stroke: a "1"
        page.mouse.move(left + 140, top + 40 + 10 * step)
    page.mouse.up()
    _settled(page)
    assert page.text_content("#source") == "your drawing"
    assert page.text_content("#prediction") != before
    assert page.text_content("#prediction") == "1"


def test_test_image_0_is_predicted_7(page) -> None:
    from playwright.sync_api import expect

    page.fill("#test-index", "0")
    page.click("#load-test")
    expect(page.locator("#source")).to_have_text("test image 0, labelled 7")
    _settled(page)
    expect(page.locator("#prediction")).to_have_text("7")


def test_clicking_a_conv2_channel_shows_its_projection_and_steps(page) -> None:
    from playwright.sync_api import expect

    page.fill("#test-index", "0")
    page.click("#load-test")
    expect(page.locator("#source")).to_contain_text("test image 0")
    _settled(page)
    page.click("#activations canvas[data-layer='conv2'][data-channel='3']")
    expect(page.locator("#projection")).to_have_attribute("data-ready", "true")
    expect(page.locator("#selected-name")).to_contain_text("conv2 channel 3")
    # The projection image is painted: some pixel is not white.
    painted = page.locator("#projection").evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data)"
        ".some((v, i) => i % 4 !== 3 && v < 250)"
    )
    assert painted
    expect(page.locator("#top9 .tile")).to_have_count(9)
    page.click("#open-steps")
    expect(page.locator("#steps")).to_be_visible()
    stages = page.locator("#steps .stage")
    # conv2's block (in, ReLU, filter), pool1's (in, unpool), conv1's (in, ReLU, filter).
    expect(stages).to_have_count(8)
    expect(page.locator("#steps .stage[data-stage='unpool']")).to_have_count(1)


def test_screenshot_for_the_docs(page) -> None:
    """With EXPLORER_SCREENSHOT=path, save the page with a projection and its steps open."""
    target = os.environ.get("EXPLORER_SCREENSHOT")
    if not target:
        pytest.skip("set EXPLORER_SCREENSHOT=docs/img/explorer.png to retake the screenshot")
    from playwright.sync_api import expect

    page.fill("#test-index", "0")
    page.click("#load-test")
    expect(page.locator("#source")).to_contain_text("test image 0")
    _settled(page)
    page.click("#activations canvas[data-layer='conv2'][data-channel='3']")
    expect(page.locator("#top9 .tile")).to_have_count(9)
    page.click("#open-steps")
    expect(page.locator("#steps .stage")).to_have_count(8)
    _settled(page)
    page.screenshot(path=str(Path(target)), full_page=True)
