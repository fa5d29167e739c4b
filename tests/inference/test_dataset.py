"""dataset_inference_from_features: the verdict, its record, the power curve, the errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from miakit.errors import DataError, InvalidParameterError
from miakit.inference import ShiftCheck, dataset_inference_from_features

FAST = {"n_permutations": 199, "n_resamples": 20, "power_repeats": 2, "alpha": 0.01}


def _sets(synth, n=120, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return synth(rng, n, shift=shift), synth(rng, n)


def test_leaky_suspect_set_is_a_member_with_its_record(synth):
    s, v = _sets(synth, shift=0.8)
    r = dataset_inference_from_features(s, v, **FAST, power_sizes=[10, 50, 120])
    assert r.verdict == "member" and r.p_value == 1 / 200
    d = json.loads(json.dumps(r.to_dict()))  # JSON-ready
    for key in ("verdict", "p_value", "alpha", "reason", "method", "effect_size", "weights"):
        assert key in d
    assert d["method"]["name"] == "permutation" and d["method"]["n_permutations"] == 199
    assert "permutation p = 0.005" in d["reason"] and "did not run" in d["reason"]
    lo, hi = d["effect_size"]["auroc_ci"]
    assert 0.5 < lo <= hi <= 1.0 and d["effect_size"]["auroc"] > 0.6
    # the three leaky features carry the largest positive weights
    w = np.array(list(r.weights.values()))
    assert set(np.argsort(-w)[:3]) == {0, 1, 2}
    assert [row["n_per_set"] for row in r.power] == [10, 50, 120]
    assert r.power[-1]["median_p"] <= r.power[0]["median_p"]
    assert r.power[-1]["detected"] == 1.0
    assert len(r.power[0]["p_values"]) == 2
    assert r.scores.shape == (240,) and r.folds.shape == (240,)


def test_null_sets_are_not_detected(synth):
    s, v = _sets(synth, seed=3)
    r = dataset_inference_from_features(s, v, **FAST)
    assert r.verdict == "not_detected" and r.p_value > 0.01
    assert "not evidence that the model was NOT trained" in r.reason
    assert r.power[-1]["n_per_set"] == 120  # the default sizes end at the smaller set


def test_withheld_when_the_checks_tell_the_sets_apart(synth):
    s, v = _sets(synth, shift=0.8)
    shift = ShiftCheck(blind_p=0.005, blind_alpha=0.05, blind_best="dates", blind_auroc=0.71)
    r = dataset_inference_from_features(s, v, **FAST, shift=shift)
    assert r.verdict == "withheld" and r.p_value is None
    assert "'dates'" in r.reason and "p = 0.005" in r.reason
    assert "differ without the model" in r.reason
    d = r.to_dict()
    assert d["p_value"] is None and d["assumption_checks"]["withhold"] is True
    assert d["effect_size"] == {} and d["p_value_by_n"] == []
    passed = ShiftCheck(blind_p=0.4, blind_alpha=0.05, blind_best="dates", blind_auroc=0.52)
    r = dataset_inference_from_features(s, v, **FAST, shift=passed)
    assert r.verdict == "member" and "p = 0.4 > 0.05" in r.reason


def test_dataframes_with_ids_and_missing_features(synth):
    s, v = _sets(synth, n=40, shift=0.8)
    cols = [f"attack_{j}" for j in range(s.shape[1])]
    ds = pd.DataFrame(s, columns=cols).assign(id=[f"s{i}" for i in range(40)], dead=np.nan)
    dv = pd.DataFrame(v, columns=cols).assign(id=[f"v{i}" for i in range(40)], dead=np.nan)
    dv = dv[["dead", "id", *reversed(cols)]]  # other column order: matched by name
    r = dataset_inference_from_features(ds, dv, **FAST)
    assert r.features == tuple(cols) and r.dropped == ("dead",)
    n_nan = int(np.isnan(s).sum() + np.isnan(v).sum())
    assert sum(r.to_dict()["features_missing"].values()) == n_nan
    assert r.verdict == "member"


def test_shuffling_the_rows_changes_nothing(synth):
    s, v = _sets(synth, n=40, shift=0.3, seed=4)
    ids_s, ids_v = [f"s{i}" for i in range(40)], [f"v{i}" for i in range(40)]
    a = dataset_inference_from_features(s, v, suspect_ids=ids_s, validation_ids=ids_v, **FAST)
    perm = np.random.default_rng(0).permutation(40)
    b = dataset_inference_from_features(
        s[perm], v, suspect_ids=[ids_s[i] for i in perm], validation_ids=ids_v, **FAST
    )
    assert b.p_value == a.p_value and b.effect["auroc"] == pytest.approx(a.effect["auroc"])
    np.testing.assert_allclose(b.scores[:40], a.scores[:40][perm], atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.001, "n_permutations": 99}, "cannot be reached with 99 permutations"),
        ({"alpha": 1.5}, "alpha must be a number in (0, 1)"),
        ({"n_folds": 1}, "folds must be an integer"),
        ({"clip": 0.7}, "clip must be a share"),
        ({"n_permutations": 0}, "permutations must be an integer >= 1"),
    ],
)
def test_bad_options_name_the_fix(synth, kwargs, message):
    s, v = _sets(synth, n=20)
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        dataset_inference_from_features(s, v, **kwargs)


def test_too_few_texts_and_bad_inputs(synth):
    s, v = _sets(synth, n=20)
    with pytest.raises(DataError, match=r"at least 10 suspect .* got 4 suspect texts\. Add texts"):
        dataset_inference_from_features(s[:4], v)
    with pytest.raises(DataError, match="duplicate suspect ids"):
        dataset_inference_from_features(s, v, suspect_ids=["a"] * 20)
    with pytest.raises(InvalidParameterError, match="features differ"):
        dataset_inference_from_features(s, v[:, :3])
    with pytest.raises(DataError, match="no feature has a finite value"):
        dataset_inference_from_features(np.full((12, 2), np.nan), np.full((12, 2), np.nan))
    with pytest.raises(InvalidParameterError, match="power_sizes must lie in"):
        dataset_inference_from_features(s, v, **{**FAST, "power_sizes": [5]})
