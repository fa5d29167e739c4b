"""scikit-learn estimators as shadow models: signals equal an independent recomputation,
every attack runs, resume, classes missing from a half, named estimators."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from miakit.shadow import attack, store, train
from miakit.shadow.attacks import default_registry
from miakit.shadow.data import load_data
from miakit.shadow.sklearn_models import MIN_PROB, SklearnModel, log_proba, logprob_path


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # BLAS threads contending with other processes made one logistic fit 25x slower
    with threadpool_limits(1):
        yield


def test_logreg_signals_equal_a_direct_fit(tmp_path):
    from sklearn.linear_model import LogisticRegression

    exp = train("digits", model="logreg", n_models=4, pool_size=200, out=tmp_path / "e")
    assert exp.trainer == "sklearn" and exp.trained == (0, 1, 2, 3)
    assert exp.manifest["model"] == "logreg" and exp.manifest["model_parameters"] is None
    sig = exp.signals()
    ds = load_data("digits")
    pool = store.load_array(exp.folder, store.POOL)
    x, y = ds.x[pool].reshape(len(pool), -1).astype(np.float64), ds.y[pool]
    for m in (0, 3):
        inn = sig.membership[:, m]
        ref = LogisticRegression(max_iter=2000, random_state=m).fit(x[inn], y[inn])
        p = ref.predict_proba(x)  # every class is in a half of 100 digits
        p_y = p[np.arange(len(y)), y]
        phi = np.log(p_y) - np.log(p.sum(axis=1) - p_y)
        np.testing.assert_allclose(sig.phi[:, m, 0], phi, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(sig.loss[:, m, 0], -np.log(p_y), rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(sig.pred[:, m, 0], p.argmax(axis=1))
    # the queries are applied to the image before flattening: hflip differs from identity
    assert sig.queries[1] == "hflip" and not np.allclose(sig.phi[:, 0, 0], sig.phi[:, 0, 1])


def test_every_attack_runs_and_a_tree_gives_the_known_loss_auroc(tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    out = tmp_path / "tree"
    exp = train("breast-cancer", model=DecisionTreeClassifier(), n_models=8, out=out)
    assert exp.manifest["model"] == "sklearn:DecisionTreeClassifier"
    metrics = attack(out, n_bootstrap=20)
    assert set(metrics["attacks"]) == set(default_registry().names())
    acc = metrics["models"]["shadow"]
    assert acc["train_accuracy"] == 1.0  # a full tree fits its half, with pure leaves
    # pure leaves: probabilities 0 or 1, so the loss is 0 (right) or -log(MIN_PROB) (wrong);
    # members are all right, so AUROC = P(non-member wrong) + P(non-member right) / 2
    want = 1.0 - acc["test_accuracy"] / 2
    assert metrics["attacks"]["loss"]["auroc"] == pytest.approx(want, abs=1e-12)
    assert want > 0.52
    # the trees differ by model: random_state is seed * 100003 + m
    sig = exp.signals()
    assert not np.array_equal(sig.pred[:, 0, 0], sig.pred[:, 1, 0])


def test_resume_and_new_queries(tmp_path):
    out = tmp_path / "e"
    make = SklearnModel(lambda: _logreg(C=0.5))
    first = train("digits", model=make, n_models=2, pool_size=100, out=out)
    assert first.manifest["model"] == "sklearn:LogisticRegression"
    again = train("digits", model=make, n_models=2, pool_size=100, out=out)
    assert again.trained == ()
    np.testing.assert_array_equal(again.signals().phi, first.signals().phi)
    logprob_path(out, 1).unlink()
    assert train("digits", model=make, n_models=2, pool_size=100, out=out).trained == (1,)
    new = train("digits", model=make, n_models=2, pool_size=100, out=out, queries=["identity"])
    assert new.trained == (0, 1) and new.signals().queries == ("identity",)


def _logreg(**kw):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500, **kw)


def test_classes_missing_from_a_half_get_the_floor():
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    est = LogisticRegression().fit(x, np.array([0, 0, 2, 2]))  # class 1 never seen
    logp = log_proba(est, x, 3)
    assert logp.shape == (4, 3)
    np.testing.assert_array_equal(logp[:, 1], np.log(MIN_PROB))
    np.testing.assert_allclose(np.exp(logp[:, [0, 2]]).sum(axis=1), 1.0)
