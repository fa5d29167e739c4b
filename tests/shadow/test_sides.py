"""The leave-one-out sides sorted once per attack give the statistics of gathering each
view's shadows (medians and means, per-example and fixed variances, odd and even side sizes),
and LiRA's scores do not change."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.shadow.attacks import default_registry
from miakit.shadow.attacks._stats import gaussian_fit, log_mean_exp_neg
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
    names = [n for n in reg.names() if n.startswith(("lira", "rmia")) or n == "offset"]
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


def test_log_mean_prob_from_sorted_sides_without_cancellation(gaussian):
    """RMIA's log mean probability over a side: equal to the gathered log-sum-exp, also
    when the removed model holds by far the largest probability (a naive downdate of the
    full side's sum would cancel to nothing there)."""
    sig = gaussian(n=200, n_models=10, seed=6)
    loss = sig.loss
    loss[:20] = 60.0  # every model far from the label ...
    loss[:20, :, 0] = np.where(sig.membership[:20], 1e-3, 60.0)  # ... but the IN ones
    loss[20:40] = 60.0
    loss[20:40, 3] = 1e-6  # model 3 holds by far the largest probability (target 3 drops it)
    arrays = signal_arrays(sig, ("loss",))
    sides = loo_sides(sig, arrays)
    for t in (0, 3, 9):
        view = target_view(sig, t, ("loss",), seed=1, arrays=arrays, sides=sides)
        for inn in (True, False):
            mask = view.shadow_in if inn else view.shadow_out
            want = log_mean_exp_neg(view.shadows["loss"], mask)
            got = view.log_mean_prob("loss", inn=inn)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
