"""Shared fixtures of the shadow tests.

Torch runs on one thread here: on a shared 2-core machine, two OpenMP threads contending with
other processes made training 30-60x slower. The setting is restored after each test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miakit.shadow.membership import balanced_membership
from miakit.shadow.signals import ShadowSignals


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def gaussian_signals(
    *,
    n: int = 200,
    n_models: int = 16,
    n_queries: int = 1,
    gap: float = 1.0,
    sigma: float = 1.0,
    spread: float = 3.0,
    seed: int = 0,
) -> ShadowSignals:
    """φ = μ_i + gap·IN + σ·noise, with per-example centres μ_i ~ N(0, spread²)."""
    rng = np.random.default_rng(seed)
    membership = balanced_membership(n, n_models, seed=seed)
    mu = rng.normal(0.0, spread, size=(n, 1, 1))
    phi = mu + gap * membership[:, :, None] + sigma * rng.normal(size=(n, n_models, n_queries))
    loss = np.logaddexp(0.0, -phi)  # binary cross-entropy whose logit margin is φ
    labels = rng.integers(0, 3, size=n)
    # correct more often when IN (0.9) than OUT (0.6), when there is a gap at all
    p_correct = np.where(membership[:, :, None], 0.9, 0.6) if gap else 0.8
    correct = rng.random((n, n_models, n_queries)) < p_correct
    pred = np.where(correct, labels[:, None, None], (labels[:, None, None] + 1) % 3)
    return ShadowSignals(
        phi=phi,
        loss=loss,
        log_max_prob=-np.minimum(loss, np.log(2.0)),
        pred=pred,
        labels=labels,
        membership=membership,
        queries=("identity", *(f"shift:{q},0" for q in range(1, n_queries))),
    )


@pytest.fixture
def gaussian():
    """The :func:`gaussian_signals` builder."""
    return gaussian_signals
