"""compare_live: the per-projection squared norms the verdict and the drift report are built on."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet_deconv.crosscheck.check import _job_groups, _squared_differences, compare_live
from lenet_deconv.crosscheck.jobs import jobs_for
from numpy_lenet.deconv import LiveProjections


def live_projections(live: np.ndarray, values: np.ndarray) -> LiveProjections:
    """LiveProjections with ``values`` (one per live entry, row-major order); no plan needed."""
    return LiveProjections(None, np.zeros((len(live), 1)), live, values)


def expected(other_live, other_values, ref_live, ref_values):
    """The definition, entry by entry: a projection that is not live is all zeros."""
    shape = ref_live.shape
    full_ref = np.zeros((*shape, 3, 3))
    full_other = np.zeros((*shape, 3, 3))
    full_ref[ref_live] = ref_values
    full_other[other_live] = other_values
    diff = ((full_other - full_ref) ** 2).sum(axis=(2, 3))
    return diff, (full_ref**2).sum(axis=(2, 3))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 4), s=st.integers(1, 4), same=st.booleans())
def test_squared_norms_match_the_definition(seed, n, s, same):
    rng = np.random.default_rng(seed)
    ref_live = rng.random((n, s)) < 0.7
    other_live = ref_live.copy() if same else rng.random((n, s)) < 0.7
    ref_values = rng.standard_normal((int(ref_live.sum()), 3, 3))
    other_values = rng.standard_normal((int(other_live.sum()), 3, 3)).astype(np.float32)
    ref = live_projections(ref_live, ref_values)
    other = live_projections(other_live, other_values)
    want_diff, want_norm = expected(other_live, other_values, ref_live, ref_values)
    diff, norm = compare_live(other, ref, (ref_values**2).sum(axis=(1, 2)))
    np.testing.assert_allclose(diff, want_diff, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(norm, want_norm, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(0, 23),
    chunk=st.integers(1, 7),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_squared_differences_in_chunks_are_the_whole_computation(rows, chunk, dtype, seed):
    """Chunked row norms of a - b equal the unchunked float64 computation, bit for bit."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(rows, 5)).astype(dtype), rng.normal(size=(rows, 5))
    diff = np.subtract(a, b, dtype=np.float64)
    expected = np.einsum("ij,ij->i", diff, diff)
    np.testing.assert_array_equal(_squared_differences(a, b, chunk), expected)


@settings(max_examples=50, deadline=None)
@given(jobs=st.lists(st.sampled_from(jobs_for()), max_size=12))
def test_job_groups_keep_the_order_and_put_only_neighbouring_fc_jobs_together(jobs):
    groups = _job_groups(jobs)
    assert [job for group in groups for job in group] == jobs
    for group in groups:
        assert len(group) == 1 or all(mode == "fc" for _, mode in group)
    for first, second in itertools.pairwise(groups):
        assert not (first[-1][1] == "fc" and second[0][1] == "fc"), (first, second)


def test_the_cross_checks_jobs_group_as_expected():
    groups = _job_groups(jobs_for())
    assert groups[-1] == [("fc1", "fc"), ("fc2", "fc"), ("fc3", "fc")]
    assert all(len(group) == 1 for group in groups[:-1])
