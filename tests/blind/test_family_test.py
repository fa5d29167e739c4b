"""The blind baselines' family-wise label-permutation test: exact, calibrated, and it warns.

The test's statistic is the best baseline's out-of-fold AUROC; every permutation reruns all
baselines on the same permuted labels (shared folds, one closed-form ridge solve per fold),
and p = (1 + #{max_perm >= max_obs}) / (1 + n_permutations).
"""

from __future__ import annotations

from pydoc_data.topics import topics

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold

from miakit.blind import BaselineRegistry, BlindPipeline, default_baselines, run_blind_baselines
from miakit.metrics import auroc


def paragraphs(min_words: int = 20) -> list[str]:
    """Distinct paragraphs of Python's own documentation (real English, available offline)."""
    out = []
    for key in sorted(topics):
        for p in topics[key].split("\n\n"):
            p = " ".join(p.split())
            if len(p.split()) >= min_words:
                out.append(p)
    return list(dict.fromkeys(out))


def random_labels(n: int, seed: int) -> np.ndarray:
    y = np.zeros(n, dtype=np.int64)
    y[np.random.default_rng(seed).permutation(n)[: n // 2]] = 1
    return y


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return paragraphs()[:600]


def weak_temporal_shift(texts: list[str], y: np.ndarray, fraction: float, seed: int) -> list[str]:
    """Every text gets a "last revised" year; ``fraction`` of the non-members a later one."""
    rng = np.random.default_rng(seed)
    out = []
    for t, label in zip(texts, y, strict=True):
        late = label == 0 and rng.random() < fraction
        year = rng.integers(2024, 2027) if late else rng.integers(1990, 2021)
        out.append(f"{t} This section was last revised in {year}.")
    return out


def test_a_weak_temporal_shift_warns_on_the_family_wise_p(corpus):
    # dates reaches only AUROC ~0.6 and its interval's lower bound stays below 0.6, which the
    # old interval rule (lower bound > 0.6) missed; the permutation test does not
    y = random_labels(len(corpus), seed=0)
    result = run_blind_baselines(weak_temporal_shift(corpus, y, 0.2, seed=0), y, seed=0)
    dates = result.metrics["dates"]
    assert 0.57 < dates["auroc"] < 0.63 and dates["auroc_ci"][0] < 0.6
    summary = result.summary()
    assert summary["permutation_p"] < 0.01 and summary["alpha"] == 0.05
    assert summary["n_permutations"] == 199 and summary["best"] == "dates"
    assert result.warning is not None and "dates" in result.warning
    assert (
        f"p = {summary['permutation_p']:.3g}" in result.warning and "alpha = 0.05" in result.warning
    )


def test_the_same_run_without_a_shift_is_quiet(corpus):
    y = random_labels(len(corpus), seed=0)
    result = run_blind_baselines(weak_temporal_shift(corpus, y, 0.0, seed=0), y, seed=0)
    assert result.summary()["permutation_p"] > 0.05 and result.warning is None


def cached_registry(names: list[str]) -> BaselineRegistry:
    """The real baselines, each featurizing a given list of texts only once (fast reruns)."""
    registry = BaselineRegistry()
    for name in names:
        real = default_baselines().get(name).build(seed=0)
        memo: dict[tuple[str, ...], object] = {}

        def featurize(texts, real=real, memo=memo):
            key = tuple(texts)
            if key not in memo:
                memo[key] = real.featurize(texts)
            return memo[key]

        registry.register(name, paper="-")(
            lambda *, seed, f=featurize, t=real.transform: BlindPipeline(f, t)
        )
    return registry


def test_family_wise_p_is_calibrated_under_random_labels(corpus):
    # 150 random labellings of 40 real texts, two baselines tested jointly:
    # P(p <= a) <= a within binomial error (3 sd)
    texts = corpus[:40]
    registry = cached_registry(["bag_of_words", "dates"])
    ps = []
    for seed in range(150):
        y = random_labels(40, seed)
        r = run_blind_baselines(
            texts, y, registry=registry, seed=seed, n_resamples=10, n_permutations=19, alpha=0.05
        )
        ps.append(r.summary()["permutation_p"])
    p = np.array(ps)
    for a in (0.05, 0.1, 0.25):
        bound = a + 3 * np.sqrt(a * (1 - a) / p.size)
        assert np.mean(p <= a) <= bound, (a, np.mean(p <= a))
    assert 0.35 < p.mean() < 0.65  # not degenerate (p stuck at 1 would pass the bound)


def _slow_null(texts, y, names, seed, n_permutations):
    """Independent recomputation: refit every fold of every baseline for every labelling."""
    from miakit.blind._folds import permuted_labels  # the same seeded permutations

    registry = default_baselines()
    labellings = np.column_stack([y, permuted_labels(y, n_permutations, seed)])
    folds = list(KFold(n_splits=5, shuffle=True, random_state=seed).split(np.zeros((len(y), 1))))
    top = np.full(labellings.shape[1], -np.inf)
    for name in names:
        pipeline = registry.get(name).build(seed=seed)
        x = pipeline.featurize(texts)
        for j in range(labellings.shape[1]):
            lab = labellings[:, j]
            scores = np.empty(len(y))
            for train, test in folds:
                t = clone(pipeline.transform)
                x_train, x_test = t.fit_transform(x[train]), t.transform(x[test])
                dense = x_train.toarray() if hasattr(x_train, "toarray") else x_train
                centred = dense - dense.mean(axis=0)
                lam = float((centred**2).sum()) / dense.shape[0]  # RIDGE = 1
                model = Ridge(alpha=lam, solver="svd").fit(dense, lab[train].astype(float))
                xt = x_test.toarray() if hasattr(x_test, "toarray") else x_test
                scores[test] = model.predict(xt) - lab[train].mean()  # without the intercept
            top[j] = max(top[j], auroc(scores, lab))
    return top


def test_shared_closed_form_null_equals_refitting_every_permutation(corpus):
    texts, y = corpus[:36], random_labels(36, seed=3)
    names = ["bag_of_words", "dates"]
    result = run_blind_baselines(
        texts, y, names=names, seed=5, n_permutations=7, alpha=0.5, n_resamples=10
    )
    top = _slow_null(texts, y, names, seed=5, n_permutations=7)
    test = result.test
    assert max(result.metrics[n]["auroc"] for n in names) == pytest.approx(top[0], abs=1e-9)
    assert test["permutation_p"] == (1 + np.sum(top[1:] >= top[0] - 1e-9)) / 8
    assert test["permutation_null_mean"] == pytest.approx(top[1:].mean(), abs=1e-9)


def test_a_training_fold_with_one_class_scores_a_constant():
    # 2 members among 30: with label-free folds some training folds hold one member or none
    texts = [f"text {i} in {1990 + i % 7}" for i in range(30)]
    y = np.zeros(30, dtype=np.int64)
    y[[0, 1]] = 1
    result = run_blind_baselines(texts, y, names=["dates"], n_permutations=19, n_resamples=10)
    assert result.n_folds == 2 and np.isfinite(result.scores["dates"]).all()
    assert 0 < result.test["permutation_p"] <= 1


def test_no_permutations_falls_back_to_the_interval_rule(corpus):
    y = random_labels(len(corpus), seed=0)
    weak = weak_temporal_shift(corpus, y, 0.2, seed=0)
    result = run_blind_baselines(weak, y, seed=0, n_permutations=0)
    assert result.test == {} and "permutation_p" not in result.summary()
    assert result.warning is None  # lower bound below 0.6: the fallback misses it


def test_spy_transformer_sees_no_labels_and_no_test_rows():
    seen: list[tuple[str, frozenset[int]]] = []

    class Spy:
        def get_params(self, deep=True):
            return {}

        def fit_transform(self, x, y=None):
            assert y is None
            seen.append(("fit", frozenset(int(v) for v in np.asarray(x)[:, 0])))
            return np.asarray(x)

        def transform(self, x):
            return np.asarray(x)

    registry = BaselineRegistry()
    ids = lambda texts: np.array([[int(t.split()[0][1:]), len(t)] for t in texts], float)  # noqa: E731
    registry.register("spy", paper="-")(lambda *, seed: BlindPipeline(ids, Spy()))
    texts = [f"t{i} {'x' * (i % 5)}" for i in range(20)]
    run_blind_baselines(
        texts,
        [i % 2 for i in range(20)],
        registry=registry,
        n_folds=4,
        n_permutations=9,
        alpha=0.1,
        n_resamples=10,
    )
    assert len(seen) == 4  # one fit per fold, whatever the number of permutations
    assert all(len(rows) == 15 for _, rows in seen)


def test_above_max_test_the_scores_are_primal_and_the_test_runs_on_a_subsample(corpus, monkeypatch):
    import miakit.blind._cv as cv

    texts, y = corpus[:90], random_labels(90, seed=1)
    full = run_blind_baselines(texts, y, names=["dates"], n_permutations=19, n_resamples=10)
    monkeypatch.setattr(cv, "MAX_TEST", 60)
    capped = run_blind_baselines(texts, y, names=["dates"], n_permutations=19, n_resamples=10)
    # the same ridge model, solved iteratively in primal form: the same scores to tolerance
    np.testing.assert_allclose(capped.scores["dates"], full.scores["dates"], atol=1e-4)
    assert capped.test["test_n"] == 60 and full.test["test_n"] == 90
    assert any("subsample of 60 of the 90" in note for note in capped.notes)


def test_null_auroc_gives_each_baselines_spread_under_no_shift(corpus):
    texts, y = corpus[:120], random_labels(120, seed=2)
    test = run_blind_baselines(texts, y, n_resamples=10).test
    assert set(test["null_auroc"]) == {"bag_of_words", "char_ngrams", "dates"}
    for mean, sd in test["null_auroc"].values():
        assert abs(mean - 0.5) < 0.05 and 0.01 < sd < 0.15
