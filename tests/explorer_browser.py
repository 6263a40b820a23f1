"""Shared fixtures of the explorer's browser tests: the site, served, and headless Chromium.

Chromium comes from the system package manager (``apt-get install chromium``):
Playwright's own browser download is not used. Without Chromium the browser
tests skip, except in CI (``CI=true``), where a missing browser is a failure.
Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import pytest

from lenet_deconv.explorer.server import SiteServer
from lenet_deconv.explorer.site import site_files
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
#: Test images the site's top-9 search runs over in the tests: enough for 9 per channel.
SEARCHED = 300
#: A page that loads only the engine, for the tests that drive window.lenet directly.
ENGINE_PAGE = (
    b'<!doctype html><meta charset="utf-8"><title>engine</title>'
    b'<link rel="icon" href="data:,"><script src="lenet.js"></script>'
    b'<script src="engine-start.js"></script>'
)
ENGINE_START = b'window.lenet.ready = window.lenet.load("model.json");\n'


def find_chromium() -> str | None:
    """The system Chromium: $CHROMIUM, else chromium or chromium-browser on the PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def need(what: str) -> None:
    """Skip for lack of ``what``; in CI, fail instead: the browser tests must run there."""
    message = f"{what}; install it to run the browser tests (see docs/explorer.md)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        need("no system Chromium found (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def test_set(data_dir):
    """The MNIST test images (N, 28, 28) uint8 and labels."""
    return load_mnist(data_dir, "test", download=False)


@pytest.fixture(scope="module")
def site(test_set) -> dict[str, bytes]:
    """The site's files for the shipped weights, top 9 searched over the first SEARCHED images."""
    images, labels = test_set
    # The docs' screenshot searches the whole test set, as `lenet-deconv site` does.
    shots = os.environ.get("EXPLORER_SCREENSHOT") or os.environ.get("EXPLORER_SCREENSHOTS")
    count = None if shots else SEARCHED
    files = site_files(load_params(SHIPPED_WEIGHTS), images[:count], labels[:count])
    return {**files, "engine.html": ENGINE_PAGE, "engine-start.js": ENGINE_START}


@pytest.fixture(scope="module")
def url(site, chromium):
    with serving(site) as address:
        yield address


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("Playwright for Python is not installed (pip install playwright)")
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


def open_page(browser, address: str):
    """A new page at ``address`` whose console errors and page errors are collected."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.goto(address)
    return page


@contextmanager
def serving(files: Mapping[str, bytes], hosts: Iterable[str] = ()) -> Iterator[str]:
    """Serve ``files`` on a free loopback port in a thread; yield the site's URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = SiteServer(sock, files, hosts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
