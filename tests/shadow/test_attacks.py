"""Classifier attacks: parity with loop references, a Neyman-Pearson known answer, the
one-sided offline test, registry errors, and the equal-count fix of leave-one-out."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from miakit.errors import InvalidParameterError, MissingSignalError
from miakit.metrics import auroc, tpr_at_fpr
from miakit.shadow.attacks import default_registry
from miakit.shadow.evaluate import equal_sides, evaluate_attacks, leave_one_out, target_view

REG = default_registry()


def _lira_reference(view, *, online: bool, fixed: bool) -> np.ndarray:
    """LiRA from its definition, with loops and scipy.stats.norm."""
    tgt, sh = view.target["phi"], view.shadows["phi"]
    n, _, q = sh.shape
    inn, out = view.shadow_in, view.shadow_out

    def stats_of(mask):
        mu = np.array([[np.median(sh[i, mask[i], j]) for j in range(q)] for i in range(n)])
        var = np.array([[np.var(sh[i, mask[i], j]) for j in range(q)] for i in range(n)])
        if fixed:
            var = np.tile(var.mean(axis=0), (n, 1))
        return mu, np.sqrt(var)

    mu_out, sd_out = stats_of(out)
    scores = np.zeros(n)
    if online:
        mu_in, sd_in = stats_of(inn)
    for i in range(n):
        for j in range(q):
            if online:
                s = stats.norm.logpdf(tgt[i, j], mu_in[i, j], sd_in[i, j])
                s -= stats.norm.logpdf(tgt[i, j], mu_out[i, j], sd_out[i, j])
            else:
                s = np.log(stats.norm.cdf(tgt[i, j], mu_out[i, j], sd_out[i, j]))
            scores[i] += s / q
    return scores


@pytest.mark.parametrize(
    ("name", "online", "fixed"),
    [
        ("lira_online", True, False),
        ("lira_online_fixed_var", True, True),
        ("lira_offline", False, False),
        ("lira_offline_fixed_var", False, True),
    ],
)
def test_lira_matches_loop_reference(gaussian, name, online, fixed):
    sig = gaussian(n=60, n_models=10, n_queries=2, gap=0.7, spread=0.5, seed=3)
    for t in (0, 7):
        view = target_view(sig, t, ("phi",))
        got = REG.get(name)(view)
        np.testing.assert_allclose(got, _lira_reference(view, online=online, fixed=fixed),
                                   rtol=1e-9, atol=1e-9)  # fmt: skip


def _rmia_reference(view, *, gamma: float, offline: bool, a: float, z=None) -> np.ndarray:
    """RMIA from its definition: probabilities (not logs), every pair (x, z) in a loop."""
    p_t = np.exp(-view.target["loss"])  # (n, q)
    p_s = np.exp(-view.shadows["loss"])  # (n, s, q)
    n, _, q = p_s.shape
    p_x = np.zeros((n, q))
    for i in range(n):
        out = p_s[i, view.shadow_out[i]].mean(axis=0)
        if offline:
            p_x[i] = 0.5 * ((1 + a) * out + (1 - a))
        else:
            p_x[i] = 0.5 * (p_s[i, view.shadow_in[i]].mean(axis=0) + out)
    lr = p_t / p_x
    population = range(n) if z is None else z
    scores = np.zeros(n)
    for i in range(n):
        for j in range(q):
            others = [k for k in population if k != i]
            hits = sum(lr[i, j] / lr[k, j] >= gamma for k in others)
            scores[i] += hits / len(others) / q
    return scores


@pytest.mark.parametrize("gamma", [0.5, 1.0, 1.3])
@pytest.mark.parametrize("offline", [False, True])
def test_rmia_matches_pairwise_reference(gaussian, gamma, offline):
    sig = gaussian(n=50, n_models=8, n_queries=2, gap=0.8, spread=1.0, seed=5)
    view = target_view(sig, 2, ("loss",))
    name = "rmia_offline" if offline else "rmia"
    kwargs = {"a": 0.4} if offline else {}
    got = REG.get(name)(view, gamma=gamma, **kwargs)
    ref = _rmia_reference(view, gamma=gamma, offline=offline, a=0.4)
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_rmia_population_subset_matches_reference(gaussian):
    sig = gaussian(n=40, n_models=8, gap=0.8, seed=6)
    view = target_view(sig, 1, ("loss",))
    got = REG.get("rmia")(view, n_population=15, population_seed=4)
    z = np.random.default_rng(4).choice(40, size=15, replace=False)
    np.testing.assert_allclose(got, _rmia_reference(view, gamma=1.0, offline=False, a=1, z=z))


def test_rmia_offline_a_one_is_the_out_mean(gaussian):
    """a = 1 means p_IN = p_OUT: p(x) is the OUT mean alone."""
    sig = gaussian(n=30, n_models=8, seed=2)
    view = target_view(sig, 0, ("loss",))
    got = REG.get("rmia_offline")(view, a=1.0)
    np.testing.assert_allclose(got, _rmia_reference(view, gamma=1.0, offline=True, a=1.0))


def test_rmia_stays_finite_for_vanishing_probabilities(gaussian):
    sig = gaussian(n=30, n_models=8, seed=2)
    view = target_view(sig, 0, ("loss",))
    view.target["loss"][:] += 2000.0  # exp(-loss) underflows to 0 in float64
    scores = REG.get("rmia")(view)
    assert np.all(np.isfinite(scores))


def test_offset_matches_reference(gaussian):
    sig = gaussian(n=40, n_models=8, n_queries=3, seed=1)
    view = target_view(sig, 4, ("phi",))
    ref = [
        np.mean([view.target["phi"][i, j] - view.shadows["phi"][i, view.shadow_out[i], j].mean()
                 for j in range(3)])
        for i in range(40)
    ]  # fmt: skip
    np.testing.assert_allclose(REG.get("offset")(view), ref)


def test_lira_tpr_matches_neyman_pearson(gaussian):
    """Gaussian IN/OUT signals with per-example centres: the pooled LiRA ROC is the optimal
    test of N(d, 1) against N(0, 1), TPR(α) = 1 − Φ(Φ⁻¹(1 − α) − d)."""
    d, fpr = 2.0, 0.01
    sig = gaussian(n=2000, n_models=64, gap=d, sigma=1.0, spread=3.0, seed=11)
    expected = 1 - stats.norm.cdf(stats.norm.ppf(1 - fpr) - d)  # 0.372
    targets = range(0, 64, 4)
    # efficient estimates (a mean, one pooled variance): the optimum, less the small loss of
    # estimating the centres from 31 shadows a side (d_eff = 2 / 1.008: TPR 0.366)
    spec = REG.get("lira_online_fixed_var")
    scores, labels = leave_one_out(sig, spec, params={"center": "mean"}, targets=targets)
    assert tpr_at_fpr(scores.ravel(), labels.ravel(), fpr=fpr) == pytest.approx(expected, abs=0.02)
    # per-example variances from 31 shadows a side cost power, and never beat the optimum
    scores, labels = leave_one_out(sig, REG.get("lira_online"), targets=targets)
    assert expected - 0.08 < tpr_at_fpr(scores.ravel(), labels.ravel(), fpr=fpr) < expected
    # the uncalibrated threshold is far from optimal when examples differ in difficulty
    raw = np.stack([sig.phi[:, t, 0] for t in targets]).ravel()
    assert tpr_at_fpr(raw, labels.ravel(), fpr=fpr) < expected / 3


def test_lira_offline_is_one_sided(gaussian):
    """Offline LiRA increases with φ (a one-sided test); a two-sided logpdf score would fall
    again once φ passes the OUT centre."""
    sig = gaussian(n=20, n_models=8, seed=0)
    view = target_view(sig, 0, ("phi",))
    grid = np.linspace(-8, 8, 33)  # beyond ~35 sigma log Φ rounds to 0 in float64
    scores = []
    for v in grid:
        view.target["phi"][0, 0] = v
        scores.append(REG.get("lira_offline")(view)[0])
    assert np.all(np.diff(scores) > 0)


def test_lira_online_is_a_density_ratio_not_a_cdf_ratio(gaussian):
    """At φ equal to μ_in with σ_in = σ_out, the score is (μ_in − μ_out)² / (2σ²) exactly."""
    sig = gaussian(n=20, n_models=8, seed=0)
    view = target_view(sig, 0, ("phi",))
    sh = view.shadows["phi"]
    sh[0, view.shadow_in[0], 0] = [1.0, 3.0, 2.0]  # median 2, var 2/3
    sh[0, view.shadow_out[0], 0] = [-1.0, 1.0, 0.0]  # median 0, var 2/3
    view.target["phi"][0, 0] = 2.0
    assert REG.get("lira_online")(view)[0] == pytest.approx(4 / (2 * 2 / 3))


def test_equal_sides_gives_equal_counts_within_each_side():
    rng = np.random.default_rng(0)
    mem = rng.random((50, 9)) < 0.5
    inn, out = equal_sides(mem, seed=1)
    assert not np.any(inn & out)
    assert np.all(inn <= mem) and np.all(out <= ~mem)
    np.testing.assert_array_equal(inn.sum(1), np.minimum(mem.sum(1), (~mem).sum(1)))
    np.testing.assert_array_equal(out.sum(1), inn.sum(1))


def test_no_signal_means_chance_with_few_models(gaussian):
    """With no membership signal at all (gap 0), leave-one-out LiRA with 8 models is at
    chance. Without equal IN/OUT counts it scored AUROC 0.42 (0.31 on digits): the target's
    side had one shadow fewer, hence a systematically narrower fit."""
    sig = gaussian(n=1000, n_models=8, gap=0.0, seed=4)
    scores, labels = leave_one_out(sig, REG.get("lira_online"))
    assert abs(auroc(scores.ravel(), labels.ravel()) - 0.5) < 0.03


def test_threshold_attacks_read_query_zero(gaussian):
    sig = gaussian(n=30, n_models=4, n_queries=2, seed=0)
    view = target_view(sig, 1, ("loss", "log_max_prob", "correct"))
    np.testing.assert_array_equal(REG.get("loss")(view), -sig.loss[:, 1, 0])
    np.testing.assert_array_equal(REG.get("confidence")(view), sig.log_max_prob[:, 1, 0])
    np.testing.assert_array_equal(REG.get("label_only")(view), sig.correct[:, 1].mean(axis=1))


def test_attack_reads_only_declared_signals(gaussian):
    sig = gaussian(n=10, n_models=4, seed=0)
    view = target_view(sig, 0, ("phi", "loss"))
    restricted = REG.get("loss")
    assert restricted.needs == ("loss",)
    with pytest.raises(MissingSignalError, match="not declared"):
        REG.get("offset").func(target_view(sig, 0, ("loss",)))
    assert restricted(view).shape == (10,)


def test_registry_names_and_errors(gaussian):
    assert {"loss", "offset", "lira_online", "lira_offline", "rmia", "rmia_offline",
            "label_only", "confidence"} <= set(REG.names())  # fmt: skip
    sig = gaussian(n=10, n_models=4, seed=0)
    with pytest.raises(InvalidParameterError, match="Did you mean 'lira_online'"):
        evaluate_attacks(sig, attacks=["lira_onlin"])
    with pytest.raises(InvalidParameterError, match="no hyperparameter 'gama'"):
        evaluate_attacks(sig, attacks=["rmia"], params={"rmia": {"gama": 2}})
    with pytest.raises(InvalidParameterError, match="not run"):
        evaluate_attacks(sig, attacks=["loss"], params={"rmia": {"gamma": 2}})
    with pytest.raises(InvalidParameterError, match="gamma must be > 0"):
        evaluate_attacks(sig, attacks=["rmia"], params={"rmia": {"gamma": 0}})
    with pytest.raises(InvalidParameterError, match="targets must be"):
        evaluate_attacks(sig, attacks=["loss"], targets=[4])


def test_lira_needs_two_shadows_per_side(gaussian):
    sig = gaussian(n=10, n_models=4, seed=0)  # leave-one-out: 1 shadow per side
    for name in ("lira_online", "lira_online_fixed_var", "lira_offline_fixed_var"):
        with pytest.raises(InvalidParameterError, match=r"at least 2 (IN|OUT) shadow"):
            evaluate_attacks(sig, attacks=[name], n_bootstrap=10)
    six = gaussian(n=10, n_models=6, seed=0)
    out = evaluate_attacks(six, attacks=["lira_online_fixed_var"], n_bootstrap=10)
    assert out["lira_online_fixed_var"]["n_targets"] == 6


def test_evaluate_pools_targets(gaussian):
    sig = gaussian(n=40, n_models=6, gap=2.0, seed=0)
    out = evaluate_attacks(sig, attacks=["offset"], n_bootstrap=50)["offset"]
    assert out["n_members"] == out["n_nonmembers"] == 6 * 20
    assert out["auroc"] > 0.7 and out["paper"] == "2111.08440"
    scores, labels = leave_one_out(sig, REG.get("offset"))
    assert out["auroc"] == pytest.approx(auroc(scores.ravel(), labels.ravel()))


def test_dense_and_nan_paths_agree():
    from miakit.shadow.attacks import _stats

    rng = np.random.default_rng(0)
    values = rng.normal(size=(30, 7, 2))
    mask = np.zeros((30, 7), dtype=bool)
    for i in range(30):
        mask[i, rng.choice(7, size=3, replace=False)] = True
    assert _stats.dense(values, mask) is not None
    ragged = mask.copy()
    ragged[0, ~mask[0]] = True  # one row with more entries: the NaN path
    assert _stats.dense(values, ragged) is None
    for how in ("median", "mean"):
        fast = _stats.center(values, mask, how)
        slow = np.array([[getattr(np, how)(values[i, mask[i], j]) for j in range(2)]
                         for i in range(30)])  # fmt: skip
        np.testing.assert_allclose(fast, slow)
        np.testing.assert_allclose(_stats.center(values, ragged, how)[1:], slow[1:])
    np.testing.assert_allclose(
        _stats.spread(values, mask, fixed=False)[1:], _stats.spread(values, ragged, fixed=False)[1:]
    )


def test_shadows_per_side_caps_the_references(gaussian):
    sig = gaussian(n=40, n_models=10, gap=1.0, seed=0)
    view = target_view(sig, 3, ("loss",), per_side=2)
    np.testing.assert_array_equal(view.shadow_in.sum(axis=1), 2)
    np.testing.assert_array_equal(view.shadow_out.sum(axis=1), 2)
    out = evaluate_attacks(sig, attacks=["rmia_offline"], per_side=1, n_bootstrap=10)
    assert out["rmia_offline"]["shadows_per_side"] == 1
    with pytest.raises(InvalidParameterError, match="per side must be >= 1"):
        evaluate_attacks(sig, attacks=["rmia"], per_side=0)
