"""Why CrossEntropyLoss on log_softmax output is the right loss: log_softmax is idempotent.

Training applies CrossEntropyLoss to the model's log_softmax output
(torch_lenet/train.py); these tests show that is the softmax cross-entropy of the
logits, value and gradient, and the NLL of the log-probabilities that the
per-epoch test loss reports (torch_lenet/evaluate.py, summarize).
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from numpy_lenet.functional import log_softmax

logits = arrays(
    np.float64,
    st.tuples(st.integers(1, 8), st.integers(2, 12)),
    elements=st.floats(-50, 50, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(logits)
def test_log_softmax_is_idempotent(x):
    once = torch.log_softmax(torch.from_numpy(x), dim=1)
    twice = torch.log_softmax(once, dim=1)
    torch.testing.assert_close(twice, once, rtol=0, atol=1e-12)
    np.testing.assert_allclose(log_softmax(log_softmax(x)), log_softmax(x), rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(logits, st.data())
def test_cross_entropy_on_log_probs_equals_it_on_logits(x, data):
    labels = torch.tensor(
        data.draw(st.lists(st.integers(0, x.shape[1] - 1), min_size=len(x), max_size=len(x)))
    )
    z = torch.from_numpy(x).requires_grad_()
    loss_fn = torch.nn.CrossEntropyLoss()
    on_logits = loss_fn(z, labels)
    on_log_probs = loss_fn(torch.log_softmax(z, dim=1), labels)
    nll = torch.nn.functional.nll_loss(torch.log_softmax(z, dim=1), labels)
    torch.testing.assert_close(on_log_probs, on_logits, rtol=0, atol=1e-12)
    torch.testing.assert_close(on_log_probs, nll, rtol=0, atol=1e-12)
    # Same gradients too, so training sees exactly the softmax cross-entropy.
    (g_logits,) = torch.autograd.grad(on_logits, z)
    (g_log_probs,) = torch.autograd.grad(loss_fn(torch.log_softmax(z, dim=1), labels), z)
    torch.testing.assert_close(g_log_probs, g_logits, rtol=0, atol=1e-12)
    # The NLL of the log-probabilities, what the test loss reports: the same gradient again.
    (g_nll,) = torch.autograd.grad(
        torch.nn.functional.nll_loss(torch.log_softmax(z, dim=1), labels), z
    )
    torch.testing.assert_close(g_nll, g_logits, rtol=0, atol=1e-12)
