"""Seeding every random generator, and capturing or restoring their states for checkpoints."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch's global generators; return a CPU generator for shuffling."""
    random.seed(seed)
    # NumPy's legacy global generator on purpose: it is the one any library code draws from.
    np.random.seed(seed)  # noqa: NPY002
    torch.manual_seed(seed)
    # The shuffle order has a generator of its own, on the CPU whatever the device, so
    # the batches do not depend on how many numbers weight initialisation drew.
    return torch.Generator(device="cpu").manual_seed(seed)


def capture_rng_states(shuffle: torch.Generator) -> dict[str, Any]:
    """Every generator's state, in types ``torch.load(weights_only=True)`` accepts."""
    _, key, pos, has_gauss, cached_gaussian = np.random.get_state()  # noqa: NPY002
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(key.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "shuffle": shuffle.get_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any], shuffle: torch.Generator) -> None:
    """Put every generator back in a captured state; raise ValueError if it does not fit."""
    try:
        python = states["python"]
        random.setstate((python[0], tuple(python[1]), python[2]))
        numpy = states["numpy"]
        key = np.asarray(numpy["key"].numpy(), dtype=np.uint32)
        np.random.set_state(  # noqa: NPY002
            ("MT19937", key, numpy["pos"], numpy["has_gauss"], numpy["cached_gaussian"])
        )
        torch.set_rng_state(states["torch"])
        shuffle.set_state(states["shuffle"])
        if "cuda" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["cuda"])
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise ValueError(
            f"random generator states do not fit ({type(exc).__name__}: {exc})"
        ) from exc
