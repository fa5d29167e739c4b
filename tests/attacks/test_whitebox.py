"""The supervised white-box attack (Pandora's White-Box, arXiv 2402.17012): its classifier
against scikit-learn, its conformance, and end to end on a tiny model fine-tuned on the
members (the evaluation members and the calibration members): the sign, blindness to the
evaluation labels, the calibration/evaluation overlap refused, the missing split named."""

from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest
import torch

import miakit
from miakit.attacks import default_registry
from miakit.backends.hf import HFTokenScorer
from miakit.errors import DataError, InvalidParameterError
from miakit.inference.combiner import Preprocessor
from miakit.inference.logistic import fit_cv, fit_logistic, stratified_folds
from miakit.metrics import auroc
from miakit.testing import check_attack
from tinymodels import build_llama, build_tokenizer

SPEC = default_registry().get("whitebox")


def test_conformance() -> None:
    assert len(check_attack("whitebox")) > 5


def test_opt_in_only() -> None:
    assert not SPEC.default and "2402.17012" in (SPEC.func.__doc__ or "")


@pytest.mark.parametrize("c", [0.01, 1.0, 100.0])
def test_logistic_equals_scikit_learn(c) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 7)) * rng.uniform(0.1, 10.0, 7) + rng.normal(size=7)
    y = (x[:, 0] / 3 + rng.normal(size=60) > 0).astype(int)
    z = Preprocessor.fit(x, clip=None).transform(x)
    w, b = fit_logistic(z, y, c)
    ref = LogisticRegression(C=c, tol=1e-12, max_iter=100_000).fit(z, y)
    np.testing.assert_allclose(w, ref.coef_[0], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(b, ref.intercept_[0], rtol=1e-5, atol=1e-8)


def test_cv_folds_are_stratified_and_seeded() -> None:
    y = np.array([1] * 7 + [0] * 13)
    folds = stratified_folds(y, 3, seed=5)
    for j in range(3):
        assert 2 <= (y[folds == j] == 1).sum() <= 3 and 4 <= (y[folds == j] == 0).sum() <= 5
    np.testing.assert_array_equal(folds, stratified_folds(y, 3, seed=5))
    assert not np.array_equal(folds, stratified_folds(y, 3, seed=6))


def test_cv_needs_two_of_each_class() -> None:
    x = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.raises(InvalidParameterError, match="at least 2 members and 2 non-members"):
        fit_cv(x, np.array([1, 0, 0, 0, 0]))


def test_cv_equals_scikit_learn_on_the_same_folds() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 12)) * rng.uniform(0.5, 5.0, 12)
    y = (x[:, 0] / 2 + rng.normal(size=50) > 0).astype(int)
    fit = fit_cv(x, y, seed=4)
    folds = stratified_folds(y, 5, seed=4)
    for c, mean_auc in fit.grid.items():
        aucs = []
        for j in range(5):
            tr, te = folds != j, folds == j
            scaler = StandardScaler().fit(x[tr])
            lr = LogisticRegression(C=c, tol=1e-12, max_iter=100_000)
            lr.fit(scaler.transform(x[tr]), y[tr])
            aucs.append(roc_auc_score(y[te], lr.decision_function(scaler.transform(x[te]))))
        assert mean_auc == pytest.approx(np.mean(aucs), abs=1e-9), c
    assert fit.c == max(fit.grid, key=lambda c: (fit.grid[c], -c)) and fit.n_folds == 5
    assert fit.cv_auroc == fit.grid[fit.c] > 0.75
    ref = LogisticRegression(C=fit.c, tol=1e-12, max_iter=100_000)
    ref.fit(StandardScaler().fit_transform(x), y)
    np.testing.assert_allclose(fit.coef, ref.coef_[0], rtol=1e-5, atol=1e-8)


# -- end to end ----------------------------------------------------------------------------
N = 10


@pytest.fixture(scope="module")
def trained():
    rng = random.Random(1)
    words = ["the", "a", "cat", "dog", "fox", "sat", "ran", "slept", "on", "under", "red"]
    texts = [" ".join(rng.choice(words) for _ in range(14)) for _ in range(4 * N)]
    groups = {k: texts[i * N : (i + 1) * N] for i, k in enumerate(("m", "nm", "cm", "cnm"))}
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok), seed=0)
    with torch.no_grad():
        model.lm_head.weight.div_(20.0)
    model.train()
    batch = tok(groups["m"] + groups["cm"], return_tensors="pt", padding=True)
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(30):
        model(**batch, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    return HFTokenScorer(model, tok, name="tiny-finetuned"), groups


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return str(path)


def _files(tmp_path, groups, *, eval_labels=None):
    evaluation = [(t, "member") for t in groups["m"]] + [(t, "nonmember") for t in groups["nm"]]
    labels = eval_labels or [label for _, label in evaluation]
    texts = [t for t, _ in evaluation]
    data = _write(
        tmp_path / "data.jsonl",
        [{"id": f"e{i}", "text": t, "label": lab} for i, (t, lab) in enumerate(zip(texts, labels))],
    )
    calib = [(t, "member") for t in groups["cm"]] + [(t, "nonmember") for t in groups["cnm"]]
    cal = _write(
        tmp_path / "calib.jsonl",
        [{"id": f"c{i}", "text": t, "label": lab} for i, (t, lab) in enumerate(calib)],
    )
    return data, cal


def _run(tmp_path, scorer, data, cal, name="run", **kw):
    return miakit.run(
        data=data, calibrate=cal, scorers={"target": scorer}, attacks=["loss", "whitebox"],
        out=str(tmp_path / name), cache_dir=str(tmp_path / "cache"), **kw,
    )  # fmt: skip


def test_members_score_higher(trained, tmp_path) -> None:
    scorer, groups = trained
    data, cal = _files(tmp_path, groups)
    result = _run(tmp_path, scorer, data, cal)
    scores = result.scores["whitebox"].to_numpy()
    labels = (result.scores["label"] == "member").to_numpy(dtype=np.int64)
    assert np.isfinite(scores).all()
    assert auroc(scores, labels) > 0.7  # log-odds of member: members score higher
    assert auroc(-scores, labels) < 0.3
    assert scores[labels == 1].mean() > 0 > scores[labels == 0].mean()
    fit = result.metrics["auxiliary"]["whitebox"]
    assert fit["n_members"] == fit["n_nonmembers"] == N
    assert fit["cv_auroc"] > 0.6 and f"{fit['C']:g}" in fit["cv_grid"]
    assert any(k.startswith("grad.l2.") for k in fit["coefficients"])
    # the calibration texts are not evaluated
    assert set(result.scores["id"]) == {f"e{i}" for i in range(2 * N)}
    assert result.metrics["attacks"]["whitebox"]["n_members"] == N
    assert not any("--calibrate was given" in w for w in result.metrics["warnings"])


def test_scores_ignore_the_evaluation_labels(trained, tmp_path) -> None:
    scorer, groups = trained
    data, cal = _files(tmp_path, groups)
    base = _run(tmp_path, scorer, data, cal, "a")
    labels = ["member"] * N + ["nonmember"] * N
    random.Random(7).shuffle(labels)
    data2, _ = _files(tmp_path, groups, eval_labels=labels)
    permuted = _run(tmp_path, scorer, data2, cal, "b")
    a = base.scores.set_index("id")["whitebox"]
    b = permuted.scores.set_index("id")["whitebox"].loc[a.index]
    assert (
        permuted.scores.set_index("id")["label"].loc[a.index]
        != base.scores.set_index("id")["label"]
    ).any()
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())  # bitwise: NaN-free, equal


def test_calibration_sharing_a_text_is_refused(trained, tmp_path) -> None:
    scorer, groups = trained
    data, _ = _files(tmp_path, groups)
    rows = [{"id": f"c{i}", "text": t, "label": "member"} for i, t in enumerate(groups["cm"])]
    rows += [{"id": "c-copy", "text": groups["nm"][3].upper() + "!", "label": "nonmember"}]
    rows += [{"id": f"d{i}", "text": t, "label": "nonmember"} for i, t in enumerate(groups["cnm"])]
    cal = _write(tmp_path / "overlap.jsonl", rows)
    with pytest.raises(DataError, match=r"'c-copy' ≈ evaluation 'e13'"):
        _run(tmp_path, scorer, data, cal)


def test_calibration_sharing_an_id_is_refused(trained, tmp_path) -> None:
    scorer, groups = trained
    data, cal = _files(tmp_path, groups)
    with open(cal, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rows[2]["id"] = "e5"
    cal = _write(tmp_path / "ids.jsonl", rows)
    with pytest.raises(DataError, match=r"shares 1 id\(s\) with the evaluation data: 'e5'"):
        _run(tmp_path, scorer, data, cal)


def test_no_calibration_split_names_the_flag(trained, tmp_path) -> None:
    scorer, groups = trained
    data, _ = _files(tmp_path, groups)
    with pytest.raises(InvalidParameterError, match="attack 'whitebox' needs --calibrate"):
        miakit.run(data=data, scorers={"target": scorer}, attacks=["whitebox"], no_cache=True,
                   out=str(tmp_path / "run"))  # fmt: skip


def test_backend_without_gradients_skips_it(trained, tmp_path) -> None:
    scorer, groups = trained
    data, cal = _files(tmp_path, groups)
    stub = HFTokenScorer(scorer.model, scorer.tokenizer, name="black-box")
    stub.capabilities = dataclasses.replace(stub.capabilities, gradients=False)
    result = _run(tmp_path, stub, data, cal, no_cache=True)
    assert "whitebox" not in result.scores and result.scores["loss"].notna().all()
    assert result.skipped["whitebox"] == (
        "backend 'black-box' has no 'gradients' capability (white-box weights needed)"
    )
