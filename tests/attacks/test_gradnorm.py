"""The gradnorm attack (arXiv 2402.07841): sign, p, NaN policy, and end to end through a run on
a tiny model trained on the members (its grad_norms extra from the gradients provider)."""

from __future__ import annotations

import dataclasses
import json
import math
import random

import numpy as np
import pytest
import torch

import miakit
from miakit.attacks import default_registry
from miakit.attacks.gradnorm import GRAD_EXTRA, GradNorms
from miakit.backends.hf import HFTokenScorer
from miakit.errors import InvalidParameterError
from miakit.metrics import auroc
from miakit.testing import check_attack, random_synth
from tinymodels import build_llama, build_tokenizer

SPEC = default_registry().get("gradnorm")


def _norms(l2_total: list[float]) -> GradNorms:
    """One group per sample whose L1/L2/L∞ are x, 2x... chosen to tell p apart."""
    l2 = np.array(l2_total, dtype=np.float64)[:, None]
    return GradNorms(l2[:, 0], (None,) * len(l2), ("all",), 10 * l2, l2, l2 / 10, [3] * len(l2))


def test_score_is_the_negative_norm_for_each_p() -> None:
    l2 = [0.5, 4.0, 2.0, 3.0, 1.0, 6.0, 2.5, 7.0, 1.5, 5.0]
    synth = random_synth(1, n=10).with_extra(GRAD_EXTRA, _norms(l2))
    view = synth.view()
    rows = view.tokens("token_log_prob")
    ok = [i for i, r in enumerate(rows) if len(r) and np.isfinite(r).all()]
    assert 0 in ok and len(ok) >= 5
    for p, factor in ((2, 1.0), (1, 10.0), (math.inf, 0.1)):
        out = SPEC(view, p=p)
        np.testing.assert_allclose(out.scores[ok], -factor * np.array(l2)[ok])
    # MIMIR's error (arXiv 2402.07841 read with the wrong sign): +norm would rank the
    # largest gradient first; here the smallest gradient scores highest
    out = SPEC(view)
    assert np.all(out.scores[ok] <= 0)
    assert np.nanargmax(out.scores) == 0


def test_totals_combine_groups_exactly() -> None:
    norms = GradNorms(
        np.array([5.0]), (None,), ("a", "b"), [[1.0, 2.0]], [[3.0, 4.0]], [[0.5, 0.7]], [4]
    )
    assert norms.total(1)[0] == 3.0 and norms.total(2)[0] == 5.0 and norms.total(math.inf)[0] == 0.7
    assert norms.take([0, 0]).per_layer(2).shape == (2, 2)


@pytest.mark.parametrize("p", [0, 3, "inf", True, None])
def test_bad_p_is_an_error_naming_the_choices(p) -> None:
    view = random_synth(1, n=10).view()
    with pytest.raises(InvalidParameterError, match="p must be 1, 2 or inf"):
        SPEC(view, p=p)


def test_conformance() -> None:
    assert len(check_attack("gradnorm")) > 5


def test_opt_in_only() -> None:
    assert not SPEC.default  # costly and white-box: not in the default attack set


# -- end to end ----------------------------------------------------------------------------
def _trained(n: int = 24):
    rng = random.Random(0)
    words = ["the", "a", "cat", "dog", "fox", "sat", "ran", "slept", "on", "under"]
    texts = [" ".join(rng.choice(words) for _ in range(14)) for _ in range(2 * n)]
    members, nonmembers = texts[:n], texts[n:]
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok), seed=0)
    with torch.no_grad():
        model.lm_head.weight.div_(20.0)
    model.train()
    batch = tok(members, return_tensors="pt", padding=True)
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(60):
        model(**batch, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    return HFTokenScorer(model, tok, name="tiny-trained"), members, nonmembers


@pytest.fixture(scope="module")
def trained():
    return _trained()


def _write(tmp_path, members, nonmembers):
    for name, group in (("members", members), ("nonmembers", nonmembers)):
        lines = (json.dumps({"id": f"{name}-{i}", "text": t}) for i, t in enumerate(group))
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(tmp_path / "members.jsonl"), str(tmp_path / "nonmembers.jsonl")


def test_members_have_smaller_gradients(trained, tmp_path) -> None:
    scorer, members, nonmembers = trained
    m, nm = _write(tmp_path, members, nonmembers)
    result = miakit.run(
        members=m, nonmembers=nm, scorers={"target": scorer}, attacks=["loss", "gradnorm"],
        out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    scores = result.scores["gradnorm"].to_numpy()
    labels = (result.scores["label"] == "member").to_numpy(dtype=np.int64)
    assert np.isfinite(scores).all() and (scores < 0).all()
    assert auroc(scores, labels) > 0.8  # the negative norm: members score higher
    assert auroc(-scores, labels) < 0.2  # MIMIR's sign would read far below chance
    assert "gradients" in result.metrics["models"]["target"]["capabilities"]


def test_cached_rerun_runs_no_backward(trained, tmp_path) -> None:
    scorer, members, nonmembers = trained
    m, nm = _write(tmp_path, members[:4], nonmembers[:4])
    calls: list[int] = []
    inner = scorer.gradient_norms

    def counting(inputs):
        calls.append(len(inputs))
        return inner(inputs)

    scorer.gradient_norms = counting  # type: ignore[method-assign]
    try:
        runs = [
            miakit.run(
                members=m,
                nonmembers=nm,
                scorers={"target": scorer},
                attacks=["gradnorm"],
                out=str(tmp_path / f"run{k}"),
                cache_dir=str(tmp_path / "cache"),
            )
            for k in range(2)
        ]
    finally:
        del scorer.gradient_norms
    assert calls == [8]  # the second run read every sample's norms from the cache
    np.testing.assert_array_equal(runs[0].scores["gradnorm"], runs[1].scores["gradnorm"])
    # its cost is a stage of its own in --timings, absent when nothing was computed
    assert runs[0].metrics["setup"]["timings"]["gradients"] > 0
    assert "gradients" not in runs[1].metrics["setup"]["timings"]


def test_bad_p_is_refused_before_any_gradient(trained, tmp_path) -> None:
    scorer, members, nonmembers = trained
    m, nm = _write(tmp_path, members[:2], nonmembers[:2])
    calls: list[int] = []
    scorer.gradient_norms = lambda inputs: calls.append(1)  # type: ignore[method-assign]
    try:
        with pytest.raises(InvalidParameterError, match="p must be 1, 2 or inf"):
            miakit.run(
                members=m, nonmembers=nm, scorers={"target": scorer}, attacks=["gradnorm"],
                attack_params={"gradnorm": {"p": 3}}, out=str(tmp_path / "run"), no_cache=True,
            )  # fmt: skip
    finally:
        del scorer.gradient_norms
    assert not calls


def test_backend_without_gradients_is_skipped_with_the_reason(trained, tmp_path) -> None:
    scorer, members, nonmembers = trained
    m, nm = _write(tmp_path, members[:3], nonmembers[:3])
    stub = HFTokenScorer(scorer.model, scorer.tokenizer, name="black-box")
    stub.capabilities = dataclasses.replace(stub.capabilities, gradients=False)
    result = miakit.run(
        members=m, nonmembers=nm, scorers={"target": stub}, attacks=["loss", "gradnorm"],
        out=str(tmp_path / "run"), no_cache=True,
    )  # fmt: skip
    # as an attack that cannot run: no scores, no metrics, a skipped entry with the reason
    assert "gradnorm" not in result.scores and "gradnorm" not in result.metrics["attacks"]
    assert result.scores["loss"].notna().all()
    assert result.skipped == {
        "gradnorm": "backend 'black-box' has no 'gradients' capability (white-box weights needed)"
    }
    with open(tmp_path / "run" / "metrics.json", encoding="utf-8") as f:
        assert "gradnorm" in json.load(f)["skipped_attacks"]
