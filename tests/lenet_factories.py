"""Parameters and images for tests: random but reproducible, with a knob for sharp features."""

from __future__ import annotations

import numpy as np

from numpy_lenet.architecture import PARAM_SHAPES


def random_params(seed: int, dtype: type = np.float64, gain: float = 1.0) -> dict[str, np.ndarray]:
    """He-like random weights and small biases, so every layer has live, varied activations."""
    rng = np.random.default_rng(seed)
    params = {}
    for key, shape in PARAM_SHAPES.items():
        if key.endswith("weight"):
            fan_in = int(np.prod(shape[1:]))
            params[key] = rng.normal(0.0, gain * np.sqrt(2.0 / fan_in), size=shape)
        else:
            params[key] = rng.normal(0.0, 0.05, size=shape)
    return {k: v.astype(dtype) for k, v in params.items()}


def random_images(seed: int, n: int, dtype: type = np.float64) -> np.ndarray:
    """Images (n, 1, 28, 28) in [0, 1]: sparse blobs like handwriting plus exact zeros."""
    rng = np.random.default_rng(seed)
    images = rng.random((n, 1, 28, 28))
    images[images < 0.6] = 0.0  # MNIST is mostly exact zeros: keep that tie-rich regime
    return images.astype(dtype)
