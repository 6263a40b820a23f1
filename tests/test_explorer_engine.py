"""The page's engine (lenet_deconv/explorer/static/lenet.js) equals NumPy float64, in Chromium.

A third implementation, checked the way docs/agreement.md checks PyTorch
against NumPy: on 20 test images, every layer, the map, max and unit modes and
all three rules,

- forward: each of the page's own activations ||js - numpy|| / ||numpy|| per
  layer at most 1e-12; switches identical (a flip would have to be a near-tie
  by lenet_deconv/crosscheck/ties.py's bound);
- projections, from NumPy's trace (the same activations and switches, as
  docs/agreement.md's point 4: an activation that is a tiny difference of large
  sums would otherwise carry its forward rounding into every projection):
  ||js - numpy|| / max(||numpy||, 1e-3 L) at most 1e-12, L the largest
  ||numpy|| of the same layer, mode, rule and channel.

Each image projects 6 channels of every layer in every mode, a different 6 per
image and two under each rule, so that over the 20 images every channel of
every layer is projected, and every layer, mode and rule 40 times.
The comparisons run in one page.evaluate (values come back as base64 float64).
Three bugs planted in the page's engine make the check fail.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from lenet_deconv.crosscheck.agreement import (
    VERDICT_TOLERANCE,
    projection_errors,
    relative_error,
)
from lenet_deconv.crosscheck.ties import find_flips
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES, POOL_NAMES, is_spatial
from numpy_lenet.deconv import project
from numpy_lenet.model import Trace, forward
from numpy_lenet.rules import RULES
from torch_lenet.data import images_to_float
from torch_lenet.weights import load_params

from .conftest import SHIPPED_WEIGHTS
from .explorer_browser import browser, chromium, open_page, site, test_set, url  # noqa: F401

IMAGES = 20
PER_IMAGE = 6
MODES = ("map", "max", "unit")

#: Runs in the page: the forward pass and the projections of every job, as base64 float64.
RUN_ENGINE = """
async ({pixels, reference, jobs, layers, pools, sizes}) => {
  const lenet = window.lenet;
  await lenet.ready;
  const encode = (arrays) => {
    const total = arrays.reduce((n, a) => n + a.length, 0), all = new Float64Array(total);
    let at = 0;
    for (const a of arrays) { all.set(a, at); at += a.length; }
    const bytes = new Uint8Array(all.buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  };
  const traces = pixels.map((p) => lenet.forward(Float64Array.from(p, (v) => v / 255)));
  const forwardParts = [];
  for (const t of traces) {
    forwardParts.push(t.logProbs);
    for (const name of layers) forwardParts.push(t.activations[name]);
    for (const pool of pools) forwardParts.push(Float64Array.from(t.switches[pool]));
  }
  // NumPy's traces (the same layout, without log-probabilities): the projections start
  // from the same activations and switches, as docs/agreement.md's point 4.
  const bytes = Uint8Array.from(atob(reference), (c) => c.charCodeAt(0));
  const values = new Float64Array(bytes.buffer);
  const per = sizes.reduce((a, b) => a + b, 0);
  const given = pixels.map((_, n) => {
    const trace = { activations: {}, switches: {} };
    let at = n * per;
    layers.forEach((name, i) => {
      trace.activations[name] = values.slice(at, at + sizes[i]);
      at += sizes[i];
    });
    pools.forEach((pool, i) => {
      const size = sizes[layers.length + i];
      trace.switches[pool] = Int32Array.from(values.subarray(at, at + size));
      at += size;
    });
    return trace;
  });
  const projections = [];
  for (const [image, layer, mode, channel, rule, y, x] of jobs) {
    projections.push(lenet.projectTrace(given[image], layer, mode, channel, rule, [y, x]));
  }
  return { forward: encode(forwardParts), projections: encode(projections) };
}
"""


def decode(text: str) -> np.ndarray:
    """base64 of little-endian float64 -> a float64 array."""
    return np.frombuffer(base64.b64decode(text), dtype="<f8")


def make_jobs(trace: Trace, count: int) -> list[tuple[int, str, str, int, str, int, int]]:
    """(image, layer, mode, channel, rule, y, x): PER_IMAGE channels per layer and image.

    The channels rotate by image and the rules by channel, so that every image
    sees every rule on every layer and mode, and every channel is projected.
    Unit mode takes the unit at the channel's largest activation (a live one).
    """
    jobs = []
    for image in range(count):
        for layer in LAYER_NAMES:
            channels = LAYER_SHAPES[layer][0]
            for j in range(PER_IMAGE):
                channel = (image * PER_IMAGE + j) % channels
                rule = RULES[j % len(RULES)]
                y = x = 0
                if is_spatial(layer):
                    plane = trace.activations[layer][image, channel]
                    y, x = np.unravel_index(int(np.argmax(plane)), plane.shape)
                for mode in MODES if is_spatial(layer) else ("map", "max"):
                    jobs.append((image, layer, mode, channel, rule, int(y), int(x)))
    return jobs


def numpy_projections(params, trace: Trace, jobs) -> list[np.ndarray]:
    """NumPy float64's projection (28, 28) of every job, one call per image, layer, mode, rule."""
    groups: dict[tuple[int, str, str, str], list[int]] = {}
    for k, (image, layer, mode, _, rule, _, _) in enumerate(jobs):
        groups.setdefault((image, layer, mode, rule), []).append(k)
    out: list[np.ndarray] = [np.empty(0)] * len(jobs)
    for (image, layer, mode, rule), members in groups.items():
        one = trace.subset([image])
        if mode == "unit":
            units = [jobs[k][3:4] + jobs[k][5:] for k in members]
            value = project(params, one, layer, "unit", units=units, rule=rule)
        else:
            value = project(params, one, layer, mode, [jobs[k][3] for k in members], rule=rule)
        for k, projection in zip(members, value[0, :, 0], strict=True):
            out[k] = projection
    return out


def engine_failures(page, params, images_u8: np.ndarray) -> list[str]:
    """Every disagreement between the page's engine and NumPy float64 on these images."""
    pixels = images_to_float(images_u8, np.float64)
    trace = forward(params, pixels)
    jobs = make_jobs(trace, len(images_u8))
    parts = [trace.activations[n].reshape(len(images_u8), -1) for n in LAYER_NAMES]
    parts += [trace.switches[p].reshape(len(images_u8), -1) for p in POOL_NAMES]
    reference = np.concatenate(parts, axis=1).astype("<f8")
    answer = page.evaluate(
        RUN_ENGINE,
        {
            "pixels": images_u8.reshape(len(images_u8), -1).tolist(),
            "reference": base64.b64encode(reference.tobytes()).decode("ascii"),
            "jobs": jobs,
            "layers": list(LAYER_NAMES),
            "pools": list(POOL_NAMES),
            "sizes": [p.shape[1] for p in parts],
        },
    )
    failures: list[str] = []
    js = _js_trace(decode(answer["forward"]), len(images_u8))
    for layer in LAYER_NAMES:
        error = relative_error(js.activations[layer], trace.activations[layer])
        if not error <= VERDICT_TOLERANCE:
            failures.append(f"activations of {layer}: relative error {error:.3g}")
    error = relative_error(js.log_probs, trace.log_probs)
    if not error <= VERDICT_TOLERANCE:
        failures.append(f"log-probabilities: relative error {error:.3g}")
    flips = find_flips(params, pixels, trace, js)
    failures += [f"switch of {f.pool} image {f.image} ({f.why})" for f in flips if not f.near_tie]
    expected = numpy_projections(params, trace, jobs)
    got = decode(answer["projections"]).reshape(len(jobs), 28, 28)
    largest: dict[tuple, float] = {}  # per layer, mode, channel and rule, over the images
    for job, b in zip(jobs, expected, strict=True):
        largest[job[1:5]] = max(largest.get(job[1:5], 0.0), float(np.linalg.norm(b)))
    for job, a, b in zip(jobs, got, expected, strict=True):
        error = projection_errors(np.sum((a - b) ** 2), np.sum(b**2), largest[job[1:5]])
        if not error <= VERDICT_TOLERANCE:
            image, layer, mode, channel, rule = job[:5]
            failures.append(
                f"projection of image {image} {layer} {mode} channel {channel} {rule}: "
                f"error {error:.3g}"
            )
    return failures


def _js_trace(values: np.ndarray, count: int) -> Trace:
    """The page's forward results (RUN_ENGINE's layout) as a NumPy Trace."""
    sizes = [10] + [int(np.prod(LAYER_SHAPES[n])) for n in LAYER_NAMES]
    sizes += [int(np.prod(LAYER_SHAPES[p])) for p in POOL_NAMES]
    per_image = values.reshape(count, sum(sizes))
    parts = np.split(per_image, np.cumsum(sizes)[:-1], axis=1)
    activations = {
        n: parts[1 + i].reshape(count, *LAYER_SHAPES[n]) for i, n in enumerate(LAYER_NAMES)
    }
    switches = {
        p: parts[1 + len(LAYER_NAMES) + i].reshape(count, *LAYER_SHAPES[p]).astype(np.int64)
        for i, p in enumerate(POOL_NAMES)
    }
    return Trace(activations, switches, parts[0])


@pytest.fixture(scope="module")
def params():
    return load_params(SHIPPED_WEIGHTS)


@pytest.fixture
def engine(browser, url):  # noqa: F811
    page = open_page(browser, url + "engine.html")
    page.evaluate("() => window.lenet.ready")
    yield page
    page.close()
    assert page.errors == [], page.errors


def test_the_engine_equals_numpy_float64(engine, params, test_set) -> None:  # noqa: F811
    images, _ = test_set
    assert engine_failures(engine, params, images[:IMAGES]) == []


def test_every_channel_of_every_layer_is_projected() -> None:
    for layer in LAYER_NAMES:
        seen = {
            (i * PER_IMAGE + j) % LAYER_SHAPES[layer][0]
            for i in range(IMAGES)
            for j in range(PER_IMAGE)
        }
        assert seen == set(range(LAYER_SHAPES[layer][0])), layer


def test_project_takes_pixels_and_returns_784_values(engine, params, test_set) -> None:  # noqa: F811
    images, _ = test_set
    got = engine.evaluate(
        "(p) => Array.from(window.lenet.project(Float64Array.from(p, (v) => v / 255), "
        "'conv2', 'max', 3, 'guided'))",
        images[0].reshape(-1).tolist(),
    )
    trace = forward(params, images_to_float(images[:1], np.float64))
    expected = project(params, trace, "conv2", "max", [3], rule="guided")[0, 0, 0]
    assert relative_error(np.array(got).reshape(28, 28), expected) <= VERDICT_TOLERANCE


#: Bugs planted in the page's engine, each replacing one of window.lenet.ops.
PLANTS = {
    # The transposed convolution correlates with the filter instead of convolving:
    # the kernel is flipped back before the scatter.
    "missing kernel flip": """() => {
      const ops = window.lenet.ops, right = ops.conv_transpose2d;
      ops.conv_transpose2d = (x, shape, weight, [cin, cout, k], padding) => {
        const flipped = new Float64Array(weight.length);
        for (let p = 0; p < cin * cout; p++)
          for (let i = 0; i < k; i++) for (let j = 0; j < k; j++)
            flipped[(p * k + i) * k + j] = weight[(p * k + k - 1 - i) * k + k - 1 - j];
        return right(x, shape, flipped, [cin, cout, k, k], padding);
      };
    }""",
    # Ties in a pool window go to the last position instead of the first.
    "wrong tie rule": """() => {
      const ops = window.lenet.ops;
      ops.max_pool2d = (x, [c, h, w], kernel, stride) => {
        const ho = Math.floor((h - kernel) / stride) + 1;
        const wo = Math.floor((w - kernel) / stride) + 1;
        const values = new Float64Array(c * ho * wo), switches = new Int32Array(c * ho * wo);
        for (let ch = 0; ch < c; ch++) for (let y = 0; y < ho; y++)
        for (let xo = 0; xo < wo; xo++) {
          let best = -Infinity, where = 0;
          for (let i = 0; i < kernel; i++) for (let j = 0; j < kernel; j++) {
            const pos = (y * stride + i) * w + xo * stride + j, v = x[ch * h * w + pos];
            if (v >= best) { best = v; where = pos; }
          }
          values[(ch * ho + y) * wo + xo] = best; switches[(ch * ho + y) * wo + xo] = where;
        }
        return { values, switches, shape: [c, ho, wo] };
      };
    }""",
    # Guided backpropagation takes the gradient rule's ReLU step (no rectification).
    "ReLU step of another rule": """() => {
      const ops = window.lenet.ops, right = ops.rectify;
      ops.rectify = (signal, forward, rule) =>
        right(signal, forward, rule === "guided" ? "gradient" : rule);
    }""",
}


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        ("missing kernel flip", "projection of image 0 conv1"),
        ("wrong tie rule", "switch of pool1"),
        ("ReLU step of another rule", "guided: error"),
    ],
)
def test_planted_engine_bugs_fail_the_check(engine, params, test_set, plant, expected) -> None:  # noqa: F811
    images, _ = test_set
    engine.evaluate(PLANTS[plant])
    failures = engine_failures(engine, params, images[:3])
    assert failures, f"planting {plant!r} went unnoticed"
    assert any(expected in f for f in failures), failures[:5]
