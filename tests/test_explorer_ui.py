"""The explorer explains what it shows (issue 22 item 3), in headless Chromium, desktop and phone.

One page per screen size for the whole module: each test sets the selection it
needs. tests/test_explorer_page.py checks that the page drives window.lenet;
these check what a student sees: sizes, colour bars and their numbers, legends
true for each rule, receptive-field boxes, blank states, captions, the tour,
keyboard and screen-reader access, contrast and the phone layout.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from numpy_lenet.architecture import receptive_field
from numpy_lenet.model import forward
from torch_lenet.weights import load_params

from .conftest import SHIPPED_WEIGHTS
from .explorer_browser import browser, chromium, open_page, site, test_set, url  # noqa: F401

PHONE = {"width": 390, "height": 844}
#: WCAG AA's least contrast for text and for the outline that marks the selection.
MIN_CONTRAST = 4.5


@pytest.fixture(scope="module")
def page(browser, url):  # noqa: F811
    page = open_page(browser, url)
    _ready(page)
    yield page
    page.close()
    assert page.errors == [], page.errors


@pytest.fixture(scope="module")
def phone(browser, url):  # noqa: F811
    """The page at 390x844 on a touch screen (Chrome's own phone emulation, over CDP)."""
    page = browser.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Emulation.setDeviceMetricsOverride",
        {**PHONE, "deviceScaleFactor": 1, "mobile": True},
    )
    cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})
    page.set_default_timeout(20_000)
    page.goto(url)
    _ready(page)
    yield page
    page.close()
    assert page.errors == [], page.errors


@pytest.fixture(scope="module")
def data(site):  # noqa: F811
    return json.loads(site["data.json"])


@pytest.fixture(scope="module")
def image0(test_set):  # noqa: F811
    """Test image 0's float64 trace in NumPy: where the page's boxes must be."""
    images, _ = test_set
    params = load_params(SHIPPED_WEIGHTS)
    return forward(params, (images[:1, None] / 255.0).astype(np.float64))


def _ready(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#source")).to_have_text("test image 0, labelled 7")
    expect(page.locator("body")).to_have_attribute("data-busy", "false")
    expect(page.locator("#projection")).to_have_attribute("data-ready", "true")


def _select(page, layer: str, channel: int, *, mode="max", rule="deconvnet", unit=None) -> None:
    """Set mode and rule as a student would (the selects), then select the channel or unit."""
    page.select_option("#mode", mode)
    page.select_option("#rule", rule)
    page.evaluate("([l, c, u]) => window.explorer.select(l, c, u)", [layer, channel, unit])
    page.wait_for_function(
        "([l, c]) => document.querySelector('#top9').dataset.layer === l"
        " && document.querySelector('#top9').dataset.channel === String(c)",
        arg=[layer, channel],
    )


def _width(page, selector: str) -> list[float]:
    return page.eval_on_selector_all(selector, "es => es.map(e => e.getBoundingClientRect().width)")


def test_the_first_screen_is_image_0_with_a_projection(page) -> None:
    name = page.text_content("#selected-name")
    assert name.startswith("conv2 channel"), name
    assert page.eval_on_selector("#projection-bar", "e => e.dataset.scale") != "0"


def test_pictures_are_large_enough_to_compare(page) -> None:
    _select(page, "conv2", 3)
    for selector in ("#projection", "#overlay", "#unit-map"):
        assert _width(page, selector)[0] >= 224, selector
    assert min(_width(page, "#projections canvas")) >= 84
    assert min(_width(page, "#top9 canvas")) >= 84


def test_any_map_can_be_enlarged(page) -> None:
    _select(page, "conv2", 3)
    _open_steps(page)
    for selector in (
        "#projection",
        "#steps .stage[data-stage='unpool'] canvas",
        "#top9 canvas.zoomable",
    ):
        page.locator(selector).first.click()
        assert page.eval_on_selector("#zoom", "d => d.open"), selector
        assert _width(page, "#zoom-canvas")[0] >= 224
        assert page.eval_on_selector("#zoom-bar", "e => e.dataset.scale") != "each"
        page.keyboard.press("Escape")
        assert not page.eval_on_selector("#zoom", "d => d.open")


def _open_steps(page) -> None:
    if page.get_attribute("#open-steps", "aria-expanded") != "true":
        page.click("#open-steps")
    page.wait_for_selector("#steps .stage")


def _bar_numbers(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(
        f"{selector} .ends span", "es => es.map(e => e.textContent).filter(t => t)"
    )


def test_every_projection_view_has_a_colour_bar_with_numbers(page) -> None:
    _select(page, "conv2", 3)
    _open_steps(page)
    stages = page.locator("#steps .stage").count()
    bars = page.locator("#steps .stage .colourbar").count()
    assert bars == stages
    for selector in ("#projection-bar", "#strip-bar", "#top9-bar"):
        numbers = _bar_numbers(page, selector)
        assert len(numbers) == 3 and numbers[1] == "0", (selector, numbers)
        assert float(numbers[2]) == -float(numbers[0]) > 0, (selector, numbers)


def test_the_scale_switch_shares_or_separates_scales(page) -> None:
    _select(page, "conv2", 3)
    page.select_option("#scale", "shared")
    tiles = page.eval_on_selector_all("#projections canvas", "cs => cs.map(c => +c.dataset.scale)")
    # Shared: every tile painted with one scale, the bar's, the largest of all.
    shared = float(page.eval_on_selector("#strip-bar", "e => e.dataset.scale"))
    assert set(tiles) == {shared}
    page.select_option("#scale", "each")
    own = page.eval_on_selector_all("#projections canvas", "cs => cs.map(c => +c.dataset.scale)")
    assert page.eval_on_selector("#strip-bar", "e => e.dataset.scale") == "each"
    assert max(own) == shared and len(set(own)) > 1
    assert "own largest value" in page.text_content("#strip-bar")
    page.select_option("#scale", "shared")


def test_the_legend_is_true_for_each_rule(page) -> None:
    for rule in ("deconvnet", "gradient", "guided"):
        _select(page, "conv2", 3, rule=rule)
        legend = page.text_content("#rule-legend")
        assert legend.startswith(rule if rule != "guided" else "guided backprop"), legend
        if rule == "gradient":
            assert "not a derivative" not in legend
            assert "a derivative" in legend and "pushes the activation up" in legend
        else:  # only the gradient is a derivative
            assert "not a derivative" in legend and "pushes the activation up" not in legend
    page.select_option("#rule", "deconvnet")


def _box_in(page, box: str, canvas: str, side: int) -> tuple[int, int, int, int]:
    """The box over a canvas as (top, left, bottom, right) in the canvas's own cells."""
    return tuple(
        page.evaluate(
            """([b, c, n]) => {
              const r = document.querySelector(b).getBoundingClientRect();
              const q = document.querySelector(c).getBoundingClientRect();
              const cell = (v, o, size) => Math.round((v - o) / size * n);
              return [cell(r.top, q.top, q.height), cell(r.left, q.left, q.width),
                      cell(r.bottom, q.top, q.height), cell(r.right, q.left, q.width)];
            }""",
            [box, canvas, side],
        )
    )


@pytest.mark.parametrize("layer", ["conv1", "pool1", "conv2", "pool2"])
def test_the_receptive_field_and_the_unit_are_boxed(page, image0, layer) -> None:
    """max mode: NumPy's first largest unit is marked on its map, and its field on the digit."""
    channel = 3
    values = image0.activations[layer][0, channel]
    y, x = np.unravel_index(np.argmax(values), values.shape)
    _select(page, layer, channel)
    assert _box_in(page, "#overlay-box", "#overlay", 28) == receptive_field(layer, y, x)
    assert _box_in(page, "#seen-box", "#seen", 28) == receptive_field(layer, y, x)
    side = values.shape[0]
    assert _box_in(page, "#unit-map-box", "#unit-map", side) == (y, x, y + 1, x + 1)
    marked = f"#activations canvas[data-layer='{layer}'][data-channel='{channel}'] + .box"
    assert page.is_visible(marked)
    assert f"row {y}, column {x}" in page.text_content("#selected-name")


def test_the_layer_menu_clears_the_selection_and_its_pictures(page) -> None:
    _select(page, "conv2", 3)
    page.select_option("#layer", "pool1")
    assert page.text_content("#selected-name") == "click a channel or unit"
    for selector in ("#projection", "#overlay", "#seen-box", "#rule-legend"):
        assert page.is_hidden(selector), selector


def test_an_fc_unit_sees_the_whole_image(page) -> None:
    _select(page, "fc1", 0)
    assert _box_in(page, "#overlay-box", "#overlay", 28) == (0, 0, 28, 28)
    assert not page.is_visible("#unit-map")


def test_a_unit_that_never_fires_says_so_and_shows_no_top9(page, data) -> None:
    dead = [c for c, top in enumerate(data["top9"]["fc1"]) if all(e["value"] == 0 for e in top)]
    assert dead, "the searched images leave no fc1 unit silent"
    _select(page, "fc1", dead[0])
    assert "never fires on the test set" in page.text_content("#selected-note")
    assert page.locator("#top9 .tile").count() == 0
    assert "never fires" in page.text_content("#top9")
    assert page.eval_on_selector(
        f"#activations .unit[data-layer='fc1'][data-channel='{dead[0]}']",
        "e => e.classList.contains('dead')",
    )


def test_a_zero_activation_says_so(page, image0) -> None:
    values = image0.activations["conv2"][0, 3]
    y, x = map(int, np.argwhere(values == 0)[0])
    _select(page, "conv2", 3, mode="unit", unit=[y, x])
    assert "zero for this image" in page.text_content("#selected-note")
    _select(page, "conv2", 3, mode="max")
    assert page.is_hidden("#selected-note")


def test_every_stage_has_a_caption_and_arrows_between(page) -> None:
    _select(page, "conv2", 3, rule="gradient")
    _open_steps(page)
    captions = page.eval_on_selector_all(
        "#steps .stage .caption", "es => es.map(e => e.textContent)"
    )
    assert len(captions) == 8 and all(len(c) > 20 for c in captions)
    blocks = page.locator("#steps .block").count()
    assert page.locator("#steps .arrow").count() == len(captions) - blocks
    relu = page.text_content("#steps .stage[data-stage='relu'] .caption")
    assert "gradient" in relu and "active going up" in relu
    assert "switch" in page.text_content("#steps .stage[data-stage='unpool'] .caption")
    assert "flipped" in page.text_content("#steps .stage[data-stage='filter'] .caption")
    page.select_option("#rule", "deconvnet")
    assert "negative values become 0" in page.text_content(
        "#steps .stage[data-stage='relu'] .caption"
    )


def test_the_fc1_bars_fit_their_box(page) -> None:
    _select(page, "fc2", 0)
    _open_steps(page)
    fits = page.eval_on_selector_all(
        "#steps canvas.bars",
        "cs => cs.map(c => c.getBoundingClientRect().width"
        " <= c.closest('.stage').getBoundingClientRect().width + 0.5)",
    )
    assert len(fits) >= 2 and all(fits)


def test_the_top9_belongs_to_the_selection(page, data) -> None:
    """Two selections in one go: the tiles are the second's, under the second's heading."""
    page.evaluate(
        "() => { window.explorer.select('conv1', 0, null);"
        " window.explorer.select('conv2', 5, null); }"
    )
    page.wait_for_selector("#top9 .tile")
    assert "conv2 channel 5" in page.text_content("#top9-title")
    shown = page.eval_on_selector_all("#top9 .tile span", "es => es.map(e => e.textContent)")
    expected = [e["index"] for e in data["top9"]["conv2"][5]]
    assert [int(s.split()[0][1:]) for s in shown] == expected


def test_the_tour_walks_from_drawing_to_the_rules(page) -> None:
    page.click("#tour-start")
    titles, panels = [], []
    while page.is_visible("#tour"):
        titles.append(page.text_content("#tour-title"))
        panels.append(page.eval_on_selector(".tour-target", "e => e.id"))
        page.click("#tour-next")
    assert 5 <= len(titles) <= 6
    assert "Draw" in titles[0] and panels[0] == "input-panel"
    assert "deconvnet" in titles[-1].lower() and "guided" in titles[-1].lower()
    assert page.locator(".tour-target").count() == 0


def test_tab_reaches_every_map_and_fc_layer(page) -> None:
    page.focus("#scale")
    reached = set()
    for _ in range(80):
        page.keyboard.press("Tab")
        key = page.evaluate(
            "() => { const e = document.activeElement;"
            " return e.dataset.layer ? `${e.dataset.layer}/${e.dataset.channel}` : e.id; }"
        )
        reached.add(key)
        if key.startswith("fc3/"):
            break
    maps = page.eval_on_selector_all(
        "#activations canvas", "cs => cs.map(c => `${c.dataset.layer}/${c.dataset.channel}`)"
    )
    assert set(maps) <= reached
    assert {k.split("/")[0] for k in reached if k.startswith("fc")} == {"fc1", "fc2", "fc3"}


def test_arrows_move_and_enter_projects(page, image0) -> None:
    _select(page, "conv2", 3, mode="unit")
    values = image0.activations["conv2"][0, 3]
    y, x = np.unravel_index(np.argmax(values), values.shape)
    target = "#activations canvas[data-layer='conv2'][data-channel='3']"
    page.evaluate(f'() => {{ document.querySelector("{target}").cursor = null; }}')
    page.focus(target)
    page.keyboard.press("ArrowLeft" if x > 0 else "ArrowRight")
    page.keyboard.press("Enter")
    x2 = x - 1 if x > 0 else x + 1
    assert f"conv2 channel 3 at row {y}, column {x2}" in page.text_content("#selected-name")
    page.focus("#activations .unit[data-layer='fc1'][tabindex='0']")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert page.text_content("#selected-name").startswith("fc1 unit 2")
    page.select_option("#mode", "max")


def test_everything_has_a_name_and_the_prediction_is_announced(page) -> None:
    _select(page, "fc2", 0)  # the step-through then holds maps and bars
    _open_steps(page)
    unnamed = page.eval_on_selector_all(
        "canvas, button, select, input, [role=button]",
        "es => es.filter(e => !(e.getAttribute('aria-label') || e.labels?.length"
        " || e.textContent.trim())).map(e => e.outerHTML.slice(0, 80))",
    )
    assert unnamed == []
    live = page.locator("#announce")
    assert live.get_attribute("aria-live") == "polite"
    assert "predicts 7" in live.text_content()


CONTRAST = """(selectors) => {
  const lum = (rgb) => {
    const [r, g, b] = rgb.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (e) => {
    for (; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      if (c && !c.startsWith("rgba(0, 0, 0, 0)") && c !== "transparent") return c;
    }
    return "rgb(255, 255, 255)";
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const out = [];
  for (const [selector, property] of selectors) {
    for (const e of document.querySelectorAll(selector)) {
      const parent = property === "outlineColor" ? e.parentElement : e;
      out.push([selector, ratio(getComputedStyle(e)[property], background(parent))]);
    }
  }
  return out;
}"""


def test_text_and_the_selection_outline_have_enough_contrast(page) -> None:
    _select(page, "conv2", 3)
    checked = page.evaluate(
        CONTRAST,
        [
            ["canvas.selected", "outlineColor"],
            [".hint", "color"],
            ["figcaption", "color"],
            ["#status", "color"],
            ["#prediction", "color"],
            [".colourbar .ends span", "color"],
            [".note", "color"],
            ["#top9 .tile span", "color"],
            [".unit[data-layer='fc3']", "color"],  # digits on their own logit's colour
        ],
    )
    assert {s for s, _ in checked} >= {"canvas.selected", ".hint", "figcaption", "#status"}
    low = [(s, round(r, 2)) for s, r in checked if r < MIN_CONTRAST]
    assert low == []


def test_text_on_any_unit_colour_has_enough_contrast(page) -> None:
    """fc units print their digit (fc3) on their own colour: black or white, whichever reads."""
    worst = page.evaluate(
        """() => {
          const lum = (rgb) => {
            const [r, g, b] = rgb.map((v) => {
              v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
          };
          let worst = Infinity;
          for (const kind of ["signed", "gray"]) for (let i = -100; i <= 100; i++) {
            const back = window.views.colour(i / 100, 1, kind);
            const text = window.views.textOn(back) === "#000" ? [0, 0, 0] : [255, 255, 255];
            const [x, y] = [lum(back), lum(text)].sort((p, q) => q - p);
            worst = Math.min(worst, (x + 0.05) / (y + 0.05));
          }
          return worst;
        }"""
    )
    assert worst >= MIN_CONTRAST


def _no_sideways_panning(phone) -> None:
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


def test_phone_has_no_sideways_panning(phone) -> None:
    _no_sideways_panning(phone)
    _select(phone, "fc2", 0)
    _open_steps(phone)
    _no_sideways_panning(phone)
    _select(phone, "conv1", 0)
    _no_sideways_panning(phone)


def test_phone_units_are_large_enough_to_tap(phone) -> None:
    assert min(_width(phone, "#activations .unit[data-layer='fc1']")) >= 20
    assert min(_width(phone, "#activations canvas")) >= 40
    _select(phone, "conv2", 3)
    assert _width(phone, "#projection")[0] >= 224  # and still on the screen:
    assert phone.eval_on_selector("#projection", "c => c.getBoundingClientRect().right") <= 390
    assert min(_width(phone, "#projections canvas")) >= 84


def test_phone_a_tap_leaves_no_tooltip(phone) -> None:
    """A tap's events as a phone browser sends them: touch pointer events, then the mouse
    events it makes up for old pages (mousemove first), which no pointer follows."""
    hover = phone.evaluate(
        """() => {
          const target = document.querySelector("#projection"), r = target.getBoundingClientRect();
          const at = {clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true};
          const touch = {...at, pointerType: "touch", isPrimary: true};
          target.dispatchEvent(new PointerEvent("pointerdown", touch));
          target.dispatchEvent(new PointerEvent("pointerup", touch));
          target.dispatchEvent(new MouseEvent("mousemove", at));
          return !document.querySelector("#hover").hidden;
        }"""
    )
    assert not hover


def test_a_mouse_still_gets_the_value_under_the_pointer(page) -> None:
    page.hover("#projection")
    assert re.fullmatch(
        r"row 1[34], column 1[34]: -?\d\.\d+(e[-+]\d+)?", page.text_content("#hover")
    )
    page.mouse.move(0, 0)


def test_screenshots_for_the_readme(page, phone) -> None:
    """With EXPLORER_SCREENSHOTS=DIR, save DIR/explorer-{desktop,selected,phone}.png."""
    target = os.environ.get("EXPLORER_SCREENSHOTS")
    if not target:
        pytest.skip("set EXPLORER_SCREENSHOTS=docs/img to retake the README's screenshots")
    folder = Path(target)
    shots = ("explorer-desktop.png", "explorer-selected.png", "explorer-phone.png")
    _select(page, "conv2", 3)
    _open_steps(page)
    page.locator("#activations-panel").evaluate("e => e.scrollIntoView()")
    page.screenshot(path=str(folder / shots[0]))
    page.locator("#selected-panel").screenshot(path=str(folder / shots[1]))
    _select(phone, "conv2", 3)
    phone.set_viewport_size(PHONE)  # Playwright's screenshot keeps its own viewport, not CDP's
    phone.locator("#selected-panel").evaluate("e => e.scrollIntoView()")
    phone.screenshot(path=str(folder / shots[2]))
    for name in shots:  # the README stays light
        assert (folder / name).stat().st_size < 300_000, name
