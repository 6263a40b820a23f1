"""The explorer's speed in headless Chromium, timed by the page itself.

    python benchmarks/bench_explorer.py [--weights FILE] [--data-dir DIR] [--clicks 50]

Builds the site (as `lenet-deconv site` does) in memory, serves it on 127.0.0.1
(lenet_deconv/explorer/server.py) and drives the system's Chromium with
Playwright. Every figure comes from the page's own performance.now() stamps
(window.explorer.timings; "painted" is the next animation frame after the
pictures are drawn):

- first render: from the start of the navigation to the first screen (test
  image 0, computed and drawn), over --loads fresh page loads;
- click to projection painted: --clicks real mouse clicks on units, cycling
  through every layer, every rule and the three modes;
- the whole-layer strip (every channel of a layer projected and drawn): once
  per layer and rule;
- the site's size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summary(values: list[float]) -> str:
    """p50, p95 and max of timings in ms, as one line."""
    return (
        f"p50 {statistics.median(values):6.1f} ms  p95 {percentile(values, 95):6.1f} ms  "
        f"max {max(values):6.1f} ms  (n={len(values)})"
    )


def wait_painted(page, count: int) -> list[dict]:
    """The page's timings once there are ``count`` or more and all have their painted stamp."""
    page.wait_for_function(
        "(n) => window.explorer.timings.length >= n && "
        "window.explorer.timings.every((t) => t.painted !== null)",
        arg=count,
    )
    return page.evaluate("() => window.explorer.timings")


def click_unit(page, layer: str, channel: int) -> None:
    """A real mouse click on a unit of ``layer`` in the activations panel."""
    if layer.startswith("fc"):
        target = page.locator(f"#activations .unit[data-layer='{layer}'][data-channel='{channel}']")
    else:
        target = page.locator(
            f"#activations canvas[data-layer='{layer}'][data-channel='{channel}']"
        )
    target.scroll_into_view_if_needed()  # as a student scrolls to it: the page is taller now
    box = target.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def main() -> int:
    """Build and serve the site, drive Chromium, print the page's timings."""
    from playwright.sync_api import sync_playwright

    from lenet_deconv.explorer.site import site_files
    from lenet_deconv.mnist import resolve_data_dir
    from tests.explorer_browser import serving
    from torch_lenet.data import load_mnist
    from torch_lenet.weights import load_params

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=REPO / "weights" / "lenet5-mnist.npz")
    parser.add_argument("--data-dir", help="MNIST root (default: as lenet-deconv site)")
    parser.add_argument("--clicks", type=int, default=50)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args()

    images, labels = load_mnist(resolve_data_dir(args.data_dir), "test")
    files = site_files(load_params(args.weights), images, labels)
    size = sum(len(body) for body in files.values())
    print(f"site: {len(files)} files, {size / 1e6:.2f} MB")
    results: dict[str, object] = {"site_bytes": size}
    with serving(files) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        first = []
        for _ in range(args.loads):
            page.goto(url)
            page.wait_for_function("() => window.explorer && window.explorer.firstRender")
            first.append(page.evaluate("() => window.explorer.firstRender"))
        print(f"first render (navigation start -> first screen drawn): {summary(first)}")
        results["first_render_ms"] = first

        spec = page.evaluate("() => window.lenet.model.spec")
        layers = [(entry["name"], entry["shape"][0]) for entry in spec["layers"]]
        rules, modes = spec["rules"], spec["modes"]

        # The strip: every layer under every rule, by the menus as a student changes them.
        strips: dict[str, list[float]] = {}
        for layer, _ in layers:
            for rule in rules:
                before = page.evaluate("() => window.explorer.timings.length")
                page.select_option("#rule", rule)
                page.select_option("#layer", layer)
                timings = wait_painted(page, before + 1)
                strips.setdefault(layer, []).extend(
                    t["painted"] for t in timings[before:] if t["what"] == "strip"
                )
        every_strip = [v for values in strips.values() for v in values]
        for layer, values in strips.items():
            print(f"strip {layer:5s}: max {max(values):6.1f} ms over {len(values)}")
        print(f"whole-layer strip: {summary(every_strip)}")
        results["strip_ms"] = strips

        # Clicks: every layer, rule and mode in turn, a different channel each time.
        page.select_option("#layer", "conv1")
        clicks = []
        for i in range(args.clicks):
            layer, channels = layers[i % len(layers)]
            page.select_option("#rule", rules[(i // len(layers)) % len(rules)])
            page.select_option("#mode", modes[i % len(modes)])
            page.wait_for_timeout(50)  # let the menus' redraw settle: a student's pause
            before = page.evaluate("() => window.explorer.timings.length")
            click_unit(page, layer, (7 * i) % channels)
            timings = wait_painted(page, before + 1)
            clicks += [t["painted"] for t in timings[before:] if t["what"].startswith("select")]
        print(f"click -> projection painted: {summary(clicks)}")
        results["click_ms"] = clicks
        browser.close()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
