"""The leave-one-out sides sorted once per attack give the statistics of gathering each
view's shadows (medians and means, per-example and fixed variances, odd and even side sizes),
and LiRA's scores do not change."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.shadow.attacks import default_registry
from miakit.shadow.attacks._stats import gaussian_fit
from miakit.shadow.evaluate import leave_one_out, loo_sides, signal_arrays, target_view


@pytest.mark.parametrize("n_models", [10, 16])  # 4 and 7 shadows per side: even, odd
def test_fit_from_sorted_sides_equals_the_gathered_shadows(gaussian, n_models):
    sig = gaussian(n=300, n_models=n_models, n_queries=3, seed=2)
    sig.phi[:5] = 1.5  # constant sides: a variance of 0 stays 0 (floored), no round-off < 0
    arrays = signal_arrays(sig, ("phi",))
    sides = loo_sides(sig, arrays)
    assert sides is not None
    for t in (0, 3, n_models - 1):
        view = target_view(sig, t, ("phi",), seed=4, arrays=arrays, sides=sides)
        assert view.sides is not None
        for inn in (True, False):
            mask = view.shadow_in if inn else view.shadow_out
            for how in ("median", "mean"):
                for fixed in (False, True):
                    got = view.fit("phi", inn=inn, how=how, fixed=fixed)
                    want = gaussian_fit(view.shadows["phi"], mask, how, fixed=fixed)
                    np.testing.assert_allclose(got[0], want[0], rtol=1e-13, atol=1e-13)
                    np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-12)


def test_lira_scores_unchanged_and_fallbacks(gaussian, monkeypatch):
    from miakit.shadow import evaluate

    sig = gaussian(n=200, n_models=12, n_queries=2, seed=5)
    reg = default_registry()
    names = [n for n in reg.names() if n.startswith("lira") or n == "offset"]
    fast = {n: leave_one_out(sig, reg.get(n))[0] for n in names}
    monkeypatch.setattr(evaluate, "loo_sides", lambda signals, arrays: None)
    for n in names:
        np.testing.assert_allclose(fast[n], leave_one_out(sig, reg.get(n))[0], rtol=1e-9)
    # capped sides are random subsets: no sorted sides; an unbalanced design: none either
    assert target_view(sig, 0, ("phi",), per_side=2).sides is None
    unbalanced = gaussian(n=50, n_models=12, seed=1)
    unbalanced.membership[0, :] = True
    assert loo_sides(unbalanced, signal_arrays(unbalanced, ("phi",))) is None


def _reference_equal_sides(shadow_in, seed, per_side=None):
    """The partition algorithm of equal_sides, for every row (the reference)."""
    inn = np.asarray(shadow_in, dtype=bool)
    keys = np.random.default_rng(seed).random(inn.shape)
    k = np.minimum(inn.sum(axis=1), (~inn).sum(axis=1))
    if per_side is not None:
        k = np.minimum(k, per_side)
    out = []
    for side in (inn, ~inn):
        kept = np.zeros_like(side)
        for i in range(side.shape[0]):
            order = np.argsort(np.where(side[i], keys[i], np.inf))
            kept[i, order[: k[i]]] = True
        out.append(kept)
    return tuple(out)


@pytest.mark.parametrize("per_side", [None, 1, 3])
def test_equal_sides_keeps_the_smallest_keys(gaussian, per_side):
    from miakit.shadow.evaluate import equal_sides

    sig = gaussian(n=80, n_models=12, seed=3)
    for t in (0, 5):
        others = sig.membership[:, [m for m in range(12) if m != t]]
        for mask in (others, np.random.default_rng(t).random(others.shape) < 0.3):
            got = equal_sides(mask, seed=[7, t], per_side=per_side)
            want = _reference_equal_sides(mask, [7, t], per_side)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
