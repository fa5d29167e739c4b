"""The pac attack (arXiv 2405.11930): the polarized distance by hand, parity with an fp64
recomputation from full logits, and the sign on a tiny model trained on the members."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

import miakit
from miakit.attacks import SignalView, default_registry
from miakit.attacks.pac import PAC_EXTRA, AugmentedLogProbs, polarized_distance
from miakit.backends.hf import HFTokenScorer
from miakit.errors import InvalidParameterError
from miakit.metrics import auroc
from miakit.perturb.swap import WordSwapPerturber
from tinymodels import build_llama, build_tokenizer

PAC = default_registry().get("pac")


def official_pd(log_probs, ratio_local=0.3, ratio_far=0.05) -> float:
    """The official code's polarized distance (yyy01/PAC, attack.py), written out again."""
    local = max(int(len(log_probs) * ratio_local), 1)
    far = max(int(len(log_probs) * ratio_far), 1)
    ordered = np.sort(log_probs)
    return float(np.mean(ordered[::-1][:far]) - np.mean(ordered[:local]))


def _view(make_view, own, copies) -> SignalView:
    table = make_view(token_log_prob=own).table()
    extra = AugmentedLogProbs.of_rows([[np.asarray(c) for c in row] for row in copies], "none")
    return SignalView({("target", "plain"): table}, extras={PAC_EXTRA: extra})


def test_polarized_distance_matches_the_official_formula() -> None:
    rng = np.random.default_rng(0)
    rows = [-rng.exponential(1.0, n) for n in (1, 2, 3, 19, 20, 21, 40, 101)]
    offsets = np.cumsum([0] + [len(r) for r in rows])
    got = polarized_distance(np.concatenate(rows), offsets, k_far=0.05, k_local=0.3)
    np.testing.assert_allclose(got, [official_pd(r) for r in rows], rtol=1e-12)


def test_known_answers_and_nan_policy(make_view) -> None:
    own = [[-1.0, -2.0, -3.0, -4.0], [-1.0, -1.0], [-1.0, -2.0], [], [-1.0, -2.0]]
    copies = [
        [[-1.0, -5.0, -3.0], [-2.0, -2.0]],  # PD 4 and 0: calibration 2
        [[-0.5, -2.5]],  # PD 2
        [],  # no augmentation
        [[-1.0]],
        [[], [-1.0, np.nan]],
    ]
    out = PAC(_view(make_view, own, copies))
    # own PD: sample 0: far = -1 (1 token), local = -4 (1 token) -> 3; sample 1: 0
    np.testing.assert_allclose(out.scores[:2], [2.0 - 3.0, 2.0 - 0.0])
    assert np.isnan(out.scores[2]) and out.reasons[2] == "none"
    assert np.isnan(out.scores[3]) and "no scored tokens" in out.reasons[3]
    assert np.isnan(out.scores[4]) and "NaN in the token log-probs" in out.reasons[4]


def test_shares_are_hyperparameters_and_checked(make_view) -> None:
    view = _view(make_view, [[-1.0, -2.0, -3.0, -4.0]], [[[-1.0, -2.0, -3.0, -4.0, -9.0]]])
    # k_local = 0.5: own local = mean(-3, -4), the copy's = mean(-4, -9)
    np.testing.assert_allclose(PAC(view, k_local=0.5).scores, [(-1 + 6.5) - (-1 + 3.5)])
    assert PAC.params == {"k_far": 0.05, "k_local": 0.3, "augmentations": 5, "alpha": 0.3}
    for bad in ({"k_far": 0.0}, {"k_local": 1.5}):
        with pytest.raises(InvalidParameterError, match="0 < k_"):
            PAC(view, **bad)


def test_opt_in_only() -> None:
    assert not PAC.default  # 5 extra target passes per text: asked for by name


# -- end to end ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    rng = random.Random(1)
    words = ["the", "a", "cat", "dog", "fox", "sat", "ran", "slept", "on", "under", "mat"]
    texts = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(32)]
    members, nonmembers = texts[:16], texts[16:]
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok), seed=0)
    with torch.no_grad():
        model.lm_head.weight.div_(20.0)
    model.train()
    batch = tok(members, return_tensors="pt", padding=True)
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(40):
        model(**batch, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    return tok, model.eval(), members, nonmembers


def _write(tmp_path, members, nonmembers):
    for name, group in (("members", members), ("nonmembers", nonmembers)):
        lines = (json.dumps({"id": f"{name}-{i}", "text": t}) for i, t in enumerate(group))
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(tmp_path / "members.jsonl"), str(tmp_path / "nonmembers.jsonl")


def test_parity_with_fp64_and_members_score_higher(trained, tmp_path) -> None:
    tok, model, members, nonmembers = trained
    m, nm = _write(tmp_path, members, nonmembers)
    result = miakit.run(
        members=m, nonmembers=nm, attacks=["loss", "pac"], out=str(tmp_path / "run"),
        scorers={"target": HFTokenScorer(model, tok, name="tiny")}, seed=4, no_cache=True,
    )  # fmt: skip
    model64 = model.double()
    try:

        def log_probs(text: str) -> np.ndarray:
            ids = tok(text).input_ids  # BOS first: every text token is scored
            with torch.no_grad():
                lp = torch.log_softmax(model64(torch.tensor([ids])).logits[0], -1)
            return np.array([float(lp[t - 1, ids[t]]) for t in range(1, len(ids))])

        texts = dict(zip(result.samples.ids, result.samples.texts, strict=True))
        expected = []
        for sid in result.scores["id"]:
            copies = WordSwapPerturber(0.3).neighbors([texts[sid]], 5, 4)[0]
            assert len(copies) == 5
            calibration = np.mean([official_pd(log_probs(c)) for c in copies])
            expected.append(calibration - official_pd(log_probs(texts[sid])))  # = -PAC
    finally:
        model.float()
    got = result.scores["pac"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    labels = (result.scores["label"] == "member").to_numpy(dtype=np.int64)
    assert auroc(got, labels) > 0.85  # higher = member (0.97 on this fixture)
    assert auroc(-got, labels) < 0.15  # the official code's raw PAC reads the other way
    recorded = result.metrics["auxiliary"]["pac_augmentations"]
    assert recorded["m"] == 5 and recorded["n_generated"] == 5 * len(got)
    assert recorded["perturber"]["alpha"] == 0.3 and recorded["seed"] == 4


def test_augmentation_settings_are_hyperparameters(trained, tmp_path) -> None:
    tok, model, members, nonmembers = trained
    m, nm = _write(tmp_path, members[:3], nonmembers[:3])
    scorer = HFTokenScorer(model, tok, name="tiny")
    result = miakit.run(
        members=m, nonmembers=nm, attacks=["pac"], out=str(tmp_path / "run"),
        scorers={"target": scorer}, no_cache=True,
        attack_params={"pac": {"augmentations": 2, "alpha": 0.5}},
    )  # fmt: skip
    recorded = result.metrics["auxiliary"]["pac_augmentations"]
    assert recorded["m"] == 2 and recorded["n_generated"] == 12
    assert recorded["perturber"]["alpha"] == 0.5
    for bad, name in (({"alpha": 0.0}, "alpha"), ({"augmentations": 0}, "augmentations")):
        with pytest.raises(InvalidParameterError, match=f"'pac': {name} must be"):
            miakit.run(
                members=m, nonmembers=nm, attacks=["pac"], attack_params={"pac": bad},
                scorers={"target": scorer}, out=str(tmp_path / "bad"), no_cache=True,
            )  # fmt: skip


def test_copies_made_with_other_settings_are_refused(make_view) -> None:
    view = _view(make_view, [[-1.0, -2.0]], [[[-1.0, -3.0]]])  # copies "made" with 5 and 0.3
    assert np.isfinite(PAC(view).scores).all()
    with pytest.raises(InvalidParameterError, match="copies made with augmentations=5"):
        PAC(view, augmentations=10)
