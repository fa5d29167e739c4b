"""The ez_mia attack (arXiv 2601.12104): known answers, parity with an fp64 recomputation from
full logits, the sign on a tiny fine-tune of a tiny base model, and its error paths (no
reference, a reference with another tokenizer)."""

from __future__ import annotations

import copy
import json
import random

import numpy as np
import pytest
import torch

import miakit
from miakit.attacks import default_registry
from miakit.backends.hf import HFTokenScorer
from miakit.errors import InvalidParameterError
from miakit.metrics import auroc
from tinymodels import build_gpt2, build_llama, build_tokenizer

EZ = default_registry().get("ez_mia")
PAIR = "target@reference/plain"


def _view(make_view, log_prob, rank, ref):
    return make_view(
        tables={
            "target/plain": {"token_log_prob": log_prob, "token_rank": rank},
            PAIR: {"cross_token_log_prob": ref},
        }
    )


def test_known_answers(make_view) -> None:
    out = EZ(
        _view(
            make_view,
            # deltas: +1, -2 (error), +3 (correct: ignored), -1 (error)
            [[-1.0, -3.0, -0.5, -2.0], [-1.0, -1.0], [-1.0, -2.0], [-2.0], []],
            [[2, 1, 0, 5], [1, 0], [0, 0], [3], []],
            [[-2.0, -1.0, -3.5, -1.0], [-1.5, -4.0], [-1.0, -1.0], [-1.0], []],
        )
    )
    # sample 0: P = 1, N = 2 + 1 -> 1/4; sample 1: only an upward error shift -> N = 0 -> 1;
    # sample 2: no error position, no evidence -> 0.5; sample 3: P = 0 -> 0
    np.testing.assert_allclose(out.scores[:4], [0.25, 1.0, 0.5, 0.0], rtol=1e-6)
    assert np.isnan(out.scores[4]) and "no scored tokens" in out.reasons[4]


def test_score_is_increasing_in_the_papers_ratio(make_view) -> None:
    # EZ = P/N = 0.5, 1, 3: the returned P/(P+N) ranks them alike
    view = _view(
        make_view,
        [[0.0, -1.0], [0.0, -1.0], [0.0, -1.0]],
        [[1, 1], [1, 1], [1, 1]],
        [[-0.5, 0.0], [-1.0, 0.0], [-3.0, 0.0]],
    )
    scores = EZ(view).scores
    ratio = np.array([0.5, 1.0, 3.0])
    np.testing.assert_allclose(scores, ratio / (1 + ratio))


def test_mismatched_counts_and_corrupt_ranks_are_nan_with_a_reason(make_view) -> None:
    out = EZ(_view(make_view, [[-1.0, -2.0]], [[1, 1]], [[-1.0]]))
    assert np.isnan(out.scores[0]) and "same tokenization" in out.reasons[0]
    out = EZ(_view(make_view, [[-1.0, -2.0]], [[-1, 1]], [[-1.0, -1.0]]))
    assert np.isnan(out.scores[0]) and "negative token_rank" in out.reasons[0]


def test_opt_in_only() -> None:
    assert not EZ.default  # needs a reference sharing the tokenizer: asked for by name
    assert set(EZ.models) == {"target", "reference"}


# -- end to end ----------------------------------------------------------------------------
def _texts(n: int) -> list[str]:
    rng = random.Random(1)
    words = ["the", "a", "cat", "dog", "fox", "sat", "ran", "slept", "on", "under", "mat"]
    return [" ".join(rng.choice(words) for _ in range(12)) for _ in range(n)]


def _train(model, tok, texts: list[str], steps: int, lr: float) -> None:
    model.train()
    batch = tok(texts, return_tensors="pt", padding=True)
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        model(**batch, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()


@pytest.fixture(scope="module")
def finetune():
    """A tiny base model "pretrained" on texts of the members' distribution, and a copy of it
    fine-tuned on the members (one tokenizer)."""
    texts = _texts(80)
    members, nonmembers, pretraining = texts[:16], texts[16:32], texts[32:]
    tok = build_tokenizer(bos=True)
    base = build_llama(len(tok), seed=0)
    with torch.no_grad():
        base.lm_head.weight.div_(20.0)
    _train(base, tok, pretraining, steps=20, lr=2e-2)
    target = copy.deepcopy(base)
    _train(target, tok, members, steps=30, lr=5e-3)
    return tok, base, target, members, nonmembers


def _write(tmp_path, members, nonmembers):
    for name, group in (("members", members), ("nonmembers", nonmembers)):
        lines = (json.dumps({"id": f"{name}-{i}", "text": t}) for i, t in enumerate(group))
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(tmp_path / "members.jsonl"), str(tmp_path / "nonmembers.jsonl")


def _fp64_ez(target64, base64, tok, text: str) -> float:
    """The paper's formula from the full fp64 logits of one unbatched input, as P/(P+N)."""
    ids = tok(text).input_ids  # the BOS first: every text token is scored
    with torch.no_grad():
        lt = torch.log_softmax(target64(torch.tensor([ids])).logits[0], -1)
        lr = torch.log_softmax(base64(torch.tensor([ids])).logits[0], -1)
    up = down = 0.0
    for t in range(1, len(ids)):
        if int(lt[t - 1].argmax()) == ids[t]:
            continue  # the target predicts the true token: not an error position
        delta = float(lt[t - 1, ids[t]] - lr[t - 1, ids[t]])
        up, down = up + max(delta, 0.0), down + max(-delta, 0.0)
    return 1.0 if down == 0 else up / (up + down)


def test_parity_with_fp64_and_members_score_higher(finetune, tmp_path) -> None:
    tok, base, target, members, nonmembers = finetune
    m, nm = _write(tmp_path, members, nonmembers)
    result = miakit.run(
        members=m, nonmembers=nm, attacks=["loss", "ez_mia"], out=str(tmp_path / "run"),
        scorers={"target": HFTokenScorer(target, tok, name="ft"),
                 "reference": HFTokenScorer(base, tok, name="base")},
        no_cache=True,
    )  # fmt: skip
    texts = dict(zip(result.samples.ids, result.samples.texts, strict=True))
    got = result.scores["ez_mia"].to_numpy()
    target64, base64 = copy.deepcopy(target).double(), copy.deepcopy(base).double()
    expected = [_fp64_ez(target64, base64, tok, texts[i]) for i in result.scores["id"]]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # most texts have shifts both ways (the N = 0 edge case does not decide the test)
    assert ((got > 0) & (got < 1)).sum() >= 24, got
    labels = (result.scores["label"] == "member").to_numpy(dtype=np.int64)
    assert auroc(got, labels) > 0.75  # higher = member: the fine-tune lifted the members
    assert auroc(-got, labels) < 0.25  # (0.84 on this fixture, CPU, torch seeds fixed)


def test_without_a_reference_the_run_names_the_flag(finetune, tmp_path) -> None:
    tok, _, target, members, nonmembers = finetune
    m, nm = _write(tmp_path, members[:2], nonmembers[:2])
    with pytest.raises(InvalidParameterError, match="--reference"):
        miakit.run(
            members=m, nonmembers=nm, attacks=["ez_mia"], out=str(tmp_path / "run"),
            scorers={"target": HFTokenScorer(target, tok, name="ft")}, no_cache=True,
        )  # fmt: skip


def test_a_reference_with_another_tokenizer_is_refused(finetune, tmp_path) -> None:
    tok, _, target, members, nonmembers = finetune
    m, nm = _write(tmp_path, members[:2], nonmembers[:2])
    other = build_tokenizer(bos=False, vocab_size=300)
    reference = HFTokenScorer(build_gpt2(len(other)), other, name="other-tok")
    with pytest.raises(InvalidParameterError, match="sharing a tokenizer") as err:
        miakit.run(
            members=m, nonmembers=nm, attacks=["ez_mia"], out=str(tmp_path / "run"),
            scorers={"target": HFTokenScorer(target, tok, name="ft"), "reference": reference},
            no_cache=True,
        )  # fmt: skip
    assert "'other-tok' (reference)" in str(err.value)
