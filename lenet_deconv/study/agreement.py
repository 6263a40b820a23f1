"""Checking one backend's study numbers against the other's, array by array (docs/study.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from numpy_lenet.architecture import LAYER_NAMES, PRE_POOL
from numpy_lenet.model import Trace

from ..backends import BACKENDS, Engine, check_backend, make_engine
from ..crosscheck.agreement import relative_error
from ..crosscheck.ties import find_flips

#: The float64 bound (docs/agreement.md) on the relative error of every compared array.
FLOAT64_BOUND = 1e-12


@dataclass
class Agreement:
    """Relative errors of the checking backend against the reference, and any near-ties met."""

    reference: str
    checked: str
    bound: float = FLOAT64_BOUND
    errors: dict[str, float] = field(default_factory=dict)
    near_ties: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def compare(self, name: str, checked: np.ndarray, reference: np.ndarray) -> None:
        """Record the relative error of one array; a failure when it exceeds the bound."""
        error = relative_error(checked, reference)
        self.errors[name] = error
        if not error <= self.bound:  # NaN fails too
            self.failures.append(f"{name}: relative error {error:.2e} > {self.bound:.0e}")

    def compare_traces(
        self,
        name: str,
        checked: Trace,
        reference: Trace,
        params: Mapping[str, np.ndarray],
        images: np.ndarray,
    ) -> None:
        """Every layer's activations, the log-probabilities, and the switches of two traces."""
        for layer in LAYER_NAMES:
            self.compare(
                f"{name}/{layer}", checked.activations[layer], reference.activations[layer]
            )
        self.compare(f"{name}/log_probs", checked.log_probs, reference.log_probs)
        flips = find_flips(params, images, reference, checked)
        for flip in flips:
            where = f"{name}/{flip.pool} image {flip.image} window {(flip.channel, flip.y, flip.x)}"
            if flip.near_tie:
                self.near_ties.append(f"{where}: gap {flip.gap:.1e}")
        for pool in PRE_POOL:
            real = [f for f in flips if f.pool == pool and not f.near_tie]
            if real:
                worst = max(real, key=lambda f: f.gap)
                self.failures.append(
                    f"{name}/{pool}: {len(real)} switch(es) differ by more than rounding "
                    f"(largest gap {worst.gap:.1e} > {worst.bound:.1e}; {worst.why})"
                )

    @property
    def worst(self) -> float:
        """The largest relative error recorded (0 when nothing was compared)."""
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self) -> bool:
        """Whether every compared array is within the bound and every switch flip a near-tie."""
        return not self.failures

    def summary(self) -> str:
        """One line: who checked whom, how many arrays, the worst error, the verdict."""
        verdict = "agree" if self.passed else "DISAGREE"
        ties = f", {len(self.near_ties)} near-tie switch flip(s)" if self.near_ties else ""
        return (
            f"{self.checked} against {self.reference}: {verdict} over {len(self.errors)} arrays, "
            f"worst relative error {self.worst:.1e} (bound {self.bound:.0e}){ties}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The agreement as JSON-ready data."""
        return {
            "reference": self.reference,
            "checked": self.checked,
            "measure": "||checked - reference|| / ||reference|| per array",
            "bound": self.bound,
            "passed": self.passed,
            "worst": self.worst,
            "arrays": len(self.errors),
            "errors": self.errors,
            "near_tie_switch_flips": self.near_ties,
            "failures": self.failures,
        }


#: Both backends compute the study in float64: the precision of compare's verdict.
STUDY_DTYPE = np.float64


def other_backend(backend: str) -> str:
    """The backend that checks ``backend``'s numbers."""
    check_backend(backend)
    return BACKENDS[1 - BACKENDS.index(backend)]


def engine_pair(params: Mapping[str, np.ndarray], backend: str) -> tuple[Engine, Engine]:
    """(the engine that computes the study, the one that checks it), both in float64."""
    return (
        make_engine(params, backend, STUDY_DTYPE),
        make_engine(params, other_backend(backend), STUDY_DTYPE),
    )


def new_agreement(backend: str) -> Agreement:
    """An empty Agreement for ``backend`` checked by the other backend."""
    return Agreement(f"{backend} float64", f"{other_backend(backend)} float64")
