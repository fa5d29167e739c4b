"""Every registered classifier attack: shape, finiteness, determinism, equivariance under a
permutation of the examples, and higher = member on a leaky synthetic experiment."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.metrics import auroc
from miakit.shadow.attacks import TargetView, default_registry
from miakit.shadow.evaluate import leave_one_out, target_view

NAMES = default_registry().names()


def _permuted(view: TargetView, order: np.ndarray) -> TargetView:
    return TargetView(
        target={k: v[order] for k, v in view.target.items()},
        shadows={k: v[order] for k, v in view.shadows.items()},
        shadow_in=view.shadow_in[order],
        shadow_out=view.shadow_out[order],
        labels=view.labels[order],
        queries=view.queries,
    )


@pytest.mark.parametrize("name", NAMES)
def test_conformance(gaussian, name):
    spec = default_registry().get(name)
    sig = gaussian(n=120, n_models=8, n_queries=2, gap=1.5, spread=1.0, seed=9)
    view = target_view(sig, 0, spec.needs)
    scores = spec(view)
    assert scores.shape == (120,) and scores.dtype == np.float64
    assert np.all(np.isfinite(scores))
    np.testing.assert_array_equal(spec(view), scores)  # deterministic
    order = np.random.default_rng(0).permutation(120)
    np.testing.assert_allclose(spec(_permuted(view, order)), scores[order], rtol=1e-12)
    pooled, labels = leave_one_out(sig, spec)
    assert auroc(pooled.ravel(), labels.ravel()) > 0.55, name  # higher = member
    assert spec.paper and spec.summary
