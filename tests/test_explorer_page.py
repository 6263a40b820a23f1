"""The explorer page in headless Chromium: drawing, test images, clicks, steps, top 9, drops.

Everything on the page is computed by window.lenet in the page
(tests/test_explorer_engine.py proves it equal to NumPy); these tests check
that the page drives it: what a student does, and what they see.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from .explorer_browser import browser, chromium, open_page, site, test_set, url  # noqa: F401


@pytest.fixture
def page(browser, url):  # noqa: F811
    from playwright.sync_api import expect

    page = open_page(browser, url)
    # The first screen is test image 0, computed.
    expect(page.locator("#source")).to_have_text("test image 0, labelled 7")
    _settled(page)
    yield page
    page.close()
    assert page.errors == [], page.errors


def _settled(page) -> None:
    """Wait until the pending frame has computed, so what is shown is the last image's."""
    from playwright.sync_api import expect

    expect(page.locator("body")).to_have_attribute("data-busy", "false")


def test_the_first_screen_is_test_image_0_predicted_7(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#prediction")).to_have_text("7")


def test_drawing_a_stroke_changes_the_prediction(page) -> None:
    page.click("#clear")
    _settled(page)
    box = page.locator("#draw").bounding_box()
    left, top = box["x"], box["y"]
    page.mouse.move(left + 140, top + 40)
    page.mouse.down()
    for step in range(1, 21):  # a vertical stroke: a "1"
        page.mouse.move(left + 140, top + 40 + 10 * step)
    page.mouse.up()
    _settled(page)
    assert page.text_content("#source") == "your drawing"
    assert page.text_content("#prediction") == "1"


def test_enter_in_the_test_image_box_loads_it(page) -> None:
    from playwright.sync_api import expect

    page.fill("#test-index", "1")
    page.press("#test-index", "Enter")
    expect(page.locator("#source")).to_have_text("test image 1, labelled 2")
    _settled(page)
    expect(page.locator("#prediction")).to_have_text("2")


def test_clicking_a_conv2_channel_shows_its_projection_top9_and_steps(page) -> None:
    from playwright.sync_api import expect

    page.click("#activations canvas[data-layer='conv2'][data-channel='3']")
    expect(page.locator("#projection")).to_have_attribute("data-ready", "true")
    expect(page.locator("#selected-name")).to_contain_text("conv2 channel 3")
    painted = page.locator("#projection").evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data)"
        ".some((v, i) => i % 4 !== 3 && v < 250)"
    )
    assert painted
    expect(page.locator("#top9 .tile")).to_have_count(9)
    page.click("#open-steps")
    expect(page.locator("#steps")).to_be_visible()
    # conv2's block (in, ReLU, filter), pool1's (in, unpool), conv1's (in, ReLU, filter).
    expect(page.locator("#steps .stage")).to_have_count(8)
    expect(page.locator("#steps .stage[data-stage='unpool']")).to_have_count(1)


def test_the_step_through_ends_in_the_projection(page) -> None:
    """window.lenet.steps' last signal is project's result, for every layer and rule."""
    worst = page.evaluate(
        """() => {
          const L = window.lenet, t = window.explorer.state.trace;
          let worst = 0;
          for (const {name} of L.model.spec.layers) for (const rule of L.model.spec.rules) {
            const steps = L.steps(t, name, "max", 0, rule);
            const last = steps[steps.length - 1].values;
            const p = L.projectTrace(t, name, "max", 0, rule);
            for (let i = 0; i < 784; i++) worst = Math.max(worst, Math.abs(last[i] - p[i]));
            if (steps[steps.length - 1].shape.join() !== "1,28,28") return "bad shape";
          }
          return worst;
        }"""
    )
    assert worst == 0


def test_a_unit_that_never_fires_says_so(page, site) -> None:  # noqa: F811
    import json

    from playwright.sync_api import expect

    top9 = json.loads(site["data.json"])["top9"]["fc1"]
    dead = [c for c, entries in enumerate(top9) if all(e["value"] == 0 for e in entries)]
    if not dead:
        pytest.skip("every fc1 unit fires on the searched images")
    page.evaluate("(c) => window.explorer.select('fc1', c, null)", dead[0])
    expect(page.locator("#top9")).to_contain_text("never fires")


def test_a_dropped_png_is_centred_as_mnist(page) -> None:
    """A dark off-centre bar on white paper: ink inverted, fitted to 20 px, centred by mass."""
    from matplotlib.image import imsave  # writes PNG without a new dependency
    from playwright.sync_api import expect

    picture = np.ones((200, 300))
    picture[20:120, 30:70] = 0.0  # a dark bar, 100 x 40, near the top left
    buffer = io.BytesIO()
    imsave(buffer, picture, cmap="gray", vmin=0, vmax=1, format="png")
    pixels = page.evaluate(
        """async (bytes) => {
          const file = new File([new Uint8Array(bytes)], "bar.png", {type: "image/png"});
          const drop = new DataTransfer();
          drop.items.add(file);
          document.dispatchEvent(new DragEvent("drop", {dataTransfer: drop, bubbles: true}));
          await new Promise((r) => setTimeout(r, 300));
          return Array.from(window.explorer.state.pixels);
        }""",
        list(buffer.getvalue()),
    )
    expect(page.locator("#source")).to_have_text("dropped bar.png")
    image = np.array(pixels).reshape(28, 28)
    rows, cols = np.nonzero(image > 0.5)
    assert rows.max() - rows.min() + 1 == 20  # the long side fills the 20-pixel box
    assert cols.max() - cols.min() + 1 == 8  # 40 / 100 of it, the aspect kept
    mass = image.sum()
    centre = (image.sum(1) @ np.arange(28) / mass, image.sum(0) @ np.arange(28) / mass)
    assert abs(centre[0] - 13.5) <= 0.5 and abs(centre[1] - 13.5) <= 0.5


def test_the_page_records_its_own_timings(page) -> None:
    page.evaluate("() => window.explorer.select('fc1', 5, null)")
    page.wait_for_function("() => window.explorer.timings.some((t) => t.painted !== null)")
    whats = page.evaluate("() => window.explorer.timings.map((t) => t.what)")
    assert "strip" in whats and "select fc1" in whats


def test_screenshot_for_the_docs(page) -> None:
    """With EXPLORER_SCREENSHOT=path, save the page with a projection and its steps open."""
    target = os.environ.get("EXPLORER_SCREENSHOT")
    if not target:
        pytest.skip("set EXPLORER_SCREENSHOT=docs/img/explorer.png to retake the screenshot")
    from playwright.sync_api import expect

    page.click("#activations canvas[data-layer='conv2'][data-channel='3']")
    expect(page.locator("#top9 .tile")).to_have_count(9)
    page.click("#open-steps")
    expect(page.locator("#steps .stage")).to_have_count(8)
    page.screenshot(path=str(Path(target)), full_page=True)


def test_the_site_works_from_a_plain_static_server(browser, site, tmp_path) -> None:  # noqa: F811
    """The folder `site` writes, from a sub-folder of http.server's plain file server."""
    import functools
    import http.server
    import threading

    from playwright.sync_api import expect

    from lenet_deconv.explorer.site import site_file_names

    folder = tmp_path / "www" / "explorer"
    folder.mkdir(parents=True)
    for name in site_file_names():
        (folder / name).write_bytes(site[name])
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www")
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = open_page(browser, f"http://127.0.0.1:{server.server_port}/explorer/")
        expect(page.locator("#source")).to_have_text("test image 0, labelled 7")
        expect(page.locator("#prediction")).to_have_text("7")
        page.close()
        assert page.errors == [], page.errors
    finally:
        server.shutdown()
        server.server_close()
