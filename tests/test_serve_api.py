"""The explorer's API: right answers for good requests, one clear JSON line for bad ones."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lenet_deconv.serve.app import create_app
from lenet_deconv.serve.explorer import build_explorer
from lenet_deconv.serve.schemas import MAX_BODY_BYTES
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES
from numpy_lenet.rules import RULES
from torch_lenet.data import load_mnist
from torch_lenet.weights import load_params

from .conftest import SHIPPED_WEIGHTS

#: Test images the top-9 search runs over here: enough for 9 per channel, quick to search.
SEARCHED = 300


@pytest.fixture(scope="module")
def explorer(data_dir):
    images, labels = load_mnist(data_dir, "test", download=False)
    params = load_params(SHIPPED_WEIGHTS)
    return build_explorer(
        params, "numpy", np.float32, images[:SEARCHED], labels[:SEARCHED], cache_dir=None
    )


@pytest.fixture(scope="module")
def client(explorer):
    with TestClient(create_app(explorer), raise_server_exceptions=False) as test_client:
        yield test_client


def decode(packed: dict) -> np.ndarray:
    raw = np.frombuffer(base64.b64decode(packed["data"]), dtype="<f4")
    return raw.reshape(packed["shape"])


def blank() -> list[list[float]]:
    return [[0.0] * 28 for _ in range(28)]


def test_image(client, index: int = 0) -> tuple[list[list[float]], int]:
    body = client.get(f"/api/test-image/{index}").json()
    return decode(body["image"]).tolist(), body["label"]


test_image.__test__ = False  # a helper, not a test


# ---- good requests ----


def test_the_page_and_its_files_come_from_the_app(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name, kind in (("/app.js", "text/javascript"), ("/style.css", "text/css")):
        response = client.get(name)
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
    # Nothing the page loads names another host.
    for name in ("/", "/app.js", "/style.css"):
        text = client.get(name).text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text


def test_info_lists_layers_modes_and_rules(client) -> None:
    info = client.get("/api/info").json()
    assert [layer["name"] for layer in info["layers"]] == list(LAYER_NAMES)
    assert info["rules"] == list(RULES) and info["modes"] == ["map", "max", "unit"]
    assert info["test_images"] == SEARCHED and info["backend"] == "numpy"


def test_test_image_0_is_a_7_and_predicted_7(client) -> None:
    image, label = test_image(client, 0)
    assert label == 7
    answer = client.post("/api/explore", json={"image": image}).json()
    assert answer["prediction"] == 7
    assert abs(sum(answer["probabilities"]) - 1) < 1e-5


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("layer", ["conv1", "pool2", "fc2"])
def test_explore_answers_what_the_engine_computes(client, explorer, layer: str, rule: str) -> None:
    image, _ = test_image(client, 1)
    answer = client.post(
        "/api/explore", json={"image": image, "layer": layer, "rule": rule, "channel": 1}
    )
    assert answer.status_code == 200
    body = answer.json()
    pixels = np.asarray(image, dtype=np.float32)[None, None]
    trace = explorer.engine.trace(pixels)
    for name in LAYER_NAMES:
        assert decode(body["activations"][name]).shape == LAYER_SHAPES[name]
    expected = explorer.engine.project(trace, layer, "max", rule=rule)[0, :, 0]
    np.testing.assert_array_equal(decode(body["projections"]), expected)
    # The step-through ends at the projection (one selection instead of all: BLAS may round
    # a 1-row product differently from a 16-row one, so within float32 rounding).
    last = decode(body["stages"][-1]["signal"])[0]
    np.testing.assert_allclose(last, expected[1], rtol=0, atol=1e-5 * np.abs(expected[1]).max())
    assert server_time(answer) >= 0


def server_time(response) -> float:
    """The handler's own time in ms, from the Server-Timing header."""
    return float(response.headers["server-timing"].split("dur=")[1])


def test_unit_mode_projects_the_clicked_unit(client, explorer) -> None:
    image, _ = test_image(client, 0)
    trace = explorer.engine.trace(np.asarray(image, dtype=np.float32)[None, None])
    # conv2 channel 3's second strongest unit: live, and not what max mode would pick.
    flat = trace.activations["conv2"][0, 3].ravel()
    y, x = (int(i) for i in divmod(int(np.argsort(-flat, kind="stable")[1]), 10))
    body = client.post(
        "/api/explore",
        json={"image": image, "layer": "conv2", "mode": "unit", "channel": 3, "unit": [y, x]},
    ).json()
    expected = explorer.engine.project(trace, "conv2", "unit", units=[(3, y, x)])[0, 0, 0]
    scale = np.abs(expected).max()
    assert scale > 0
    np.testing.assert_allclose(
        decode(body["stages"][-1]["signal"])[0], expected, rtol=0, atol=1e-5 * scale
    )
    assert body["unit"] == [y, x]


def test_top9_lists_the_strongest_images_of_a_channel(client, explorer) -> None:
    body = client.get("/api/top9", params={"layer": "conv2", "channel": 3}).json()
    assert len(body["indices"]) == 9 and all(0 <= i < SEARCHED for i in body["indices"])
    assert body["values"] == sorted(body["values"], reverse=True)
    assert decode(body["projections"]).shape == (9, 28, 28)
    # The first one's activation is the channel's largest over the searched images.
    traced = explorer.engine.trace(decode(body["images"])[:1, None])
    assert traced.activations["conv2"][0, 3].max() == pytest.approx(body["values"][0])


# ---- bad requests ----

BAD_EXPLORE: dict[str, tuple[object, str]] = {
    "27 rows": ({"image": blank()[:27]}, "image"),
    "29 columns": ({"image": [[0.0] * 29 for _ in range(28)]}, "image[0]"),
    "not a list": ({"image": 3}, "image"),
    "pixel above 1": ({"image": [[1.5] + [0.0] * 27, *blank()[1:]]}, "image[0][0]"),
    "negative pixel": ({"image": [*blank()[:5], [-0.1] * 28, *blank()[6:]]}, "image[5][0]"),
    "text pixel": ({"image": [["0.5"] * 28, *blank()[1:]]}, "image[0][0]"),
    "true as pixel": ({"image": [[True] * 28, *blank()[1:]]}, "image[0][0]"),
    "no image": ({"layer": "conv2"}, "image"),
    "unknown layer": ({"image": blank(), "layer": "conv3"}, "layer"),
    "unknown mode": ({"image": blank(), "mode": "mean"}, "mode"),
    "unknown rule": ({"image": blank(), "rule": "lrp"}, "rule"),
    "channel too big": ({"image": blank(), "layer": "conv2", "channel": 16}, "channel 16"),
    "negative channel": ({"image": blank(), "channel": -1}, "channel"),
    "unit without y, x": ({"image": blank(), "mode": "unit", "channel": 1}, "unit"),
    "unit outside": (
        {"image": blank(), "mode": "unit", "channel": 1, "unit": [10, 0]},
        "unit y 10",
    ),
    "unit on fc": ({"image": blank(), "layer": "fc1", "channel": 1, "unit": [0, 0]}, "unit"),
    "a file path": ({"image": blank(), "path": "/etc/passwd"}, "path"),
    "a list body": ([1, 2], ""),
}


def assert_clear_error(response, status: int | tuple[int, ...], *words: str) -> None:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, response.text
    body = response.json()
    assert set(body) == {"error"}
    message = body["error"]
    assert "\n" not in message and "Traceback" not in message and len(message) < 300
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("case", sorted(BAD_EXPLORE))
def test_bad_explore_requests_get_one_clear_line(client, case: str) -> None:
    body, where = BAD_EXPLORE[case]
    assert_clear_error(client.post("/api/explore", json=body), 422, where)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_pixels_are_refused(client, literal: str) -> None:
    rows = json.dumps(blank()[1:])[1:-1]
    text = f'{{"image": [[{literal}{", 0.0" * 27}], {rows}]}}'
    response = client.post(
        "/api/explore", content=text, headers={"content-type": "application/json"}
    )
    assert_clear_error(response, 422, "image[0][0]")


def test_not_json_is_refused(client) -> None:
    response = client.post(
        "/api/explore", content=b"{image: oops", headers={"content-type": "application/json"}
    )
    assert_clear_error(response, 422, "not valid JSON")


def test_a_body_over_the_cap_is_refused_before_reading(client) -> None:
    big = b"[" + b"0," * MAX_BODY_BYTES + b"0]"
    response = client.post(
        "/api/explore", content=big, headers={"content-type": "application/json"}
    )
    assert_clear_error(response, 413, str(MAX_BODY_BYTES))


def test_a_streamed_body_over_the_cap_is_refused(client) -> None:
    def chunks():  # no Content-Length: the body arrives chunked
        for _ in range(MAX_BODY_BYTES // 1000 + 2):
            yield b" " * 1000

    response = client.post(
        "/api/explore", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_clear_error(response, 413, "request body over")


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ({"layer": "conv2", "channel": 16}, "channel 16 out of range"),
        ({"layer": "conv2", "channel": -1}, "channel"),
        ({"layer": "conv2", "channel": "x"}, "channel"),
        ({"layer": "conv2", "channel": "1.5"}, "channel"),
        ({"layer": "../weights", "channel": 0}, "layer"),
        ({"channel": 0}, "layer"),
        ({"layer": "fc3", "channel": 2, "rule": "nope"}, "rule"),
    ],
)
def test_bad_top9_requests_get_one_clear_line(client, query: dict, where: str) -> None:
    assert_clear_error(client.get("/api/top9", params=query), 422, where)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/test-image/300", 404),
        ("/api/test-image/-1", 422),
        ("/api/test-image/x", 422),
        ("/api/test-image/..%2F..%2Fetc%2Fpasswd", (404, 422)),
        ("/etc/passwd", 404),
        ("/static/../app.py", 404),
        ("/%2e%2e/weights/lenet5-mnist.npz", 404),
        ("/index.html", 404),
    ],
)
def test_no_request_reaches_a_file(client, path: str, status: int) -> None:
    assert_clear_error(client.get(path), status)


def test_wrong_method_is_a_json_405(client) -> None:
    assert_clear_error(client.get("/api/explore"), 405)


def test_an_unexpected_failure_is_a_500_without_traceback(explorer, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom\nTraceback (most recent call last): secret")

    monkeypatch.setattr(explorer, "explore", broken)
    with TestClient(create_app(explorer), raise_server_exceptions=False) as failing:
        response = failing.post("/api/explore", json={"image": blank()})
    assert_clear_error(response, 500, "RuntimeError")
    assert "secret" not in response.text and "boom" not in response.text


def test_the_torch_backend_answers_the_same(client, explorer, data_dir) -> None:
    images, labels = load_mnist(data_dir, "test", download=False)
    params = load_params(SHIPPED_WEIGHTS)
    torch_explorer = build_explorer(
        params, "torch", np.float32, images[:SEARCHED], labels[:SEARCHED], cache_dir=None
    )
    image, _ = test_image(client, 0)
    request = {"image": image, "layer": "conv2", "rule": "guided", "channel": 3}
    with TestClient(create_app(torch_explorer)) as torch_client:
        by_torch = torch_client.post("/api/explore", json=request).json()
        assert torch_client.get("/api/info").json()["backend"] == "torch"
    by_numpy = client.post("/api/explore", json=request).json()
    assert by_torch["prediction"] == by_numpy["prediction"] == 7
    ours, theirs = decode(by_torch["projections"]), decode(by_numpy["projections"])
    assert np.linalg.norm(ours - theirs) <= 1e-5 * np.linalg.norm(theirs)
