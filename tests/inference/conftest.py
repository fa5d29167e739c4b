"""Synthetic attack-score generators for the dataset-inference tests.

Real attack scores are strongly correlated (LOSS, zlib, Min-K% share one latent: how well the
model predicts the text), heavy-tailed and sometimes missing; the generator has all three.
"""

from __future__ import annotations

import numpy as np
import pytest


def synth_scores(
    rng: np.random.Generator,
    n: int,
    *,
    n_features: int = 6,
    shift: float = 0.0,
    leaky: int = 3,
    nan_share: float = 0.02,
) -> np.ndarray:
    """``(n, n_features)`` correlated, heavy-tailed scores; ``shift`` added to the first
    ``leaky`` features (a member signal); about ``nan_share`` of the cells missing."""
    latent = rng.standard_t(4, size=(n, 1))
    x = 0.8 * latent + 0.6 * rng.standard_t(3, size=(n, n_features))
    x[:, :leaky] += shift
    x[:, -1] *= 1000.0  # one feature on another scale (e.g. a raw log-likelihood sum)
    if nan_share:
        x[rng.random((n, n_features)) < nan_share] = np.nan
    return x


def binomial_margin(alpha: float, trials: int) -> float:
    """One-sided 99% margin of a binomial proportion at ``alpha``: 2.326 standard errors."""
    return 2.326 * float(np.sqrt(alpha * (1 - alpha) / trials))


@pytest.fixture()
def synth():
    return synth_scores


@pytest.fixture()
def margin():
    return binomial_margin
