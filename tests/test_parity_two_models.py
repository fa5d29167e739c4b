"""Attacks that read two models sharing a tokenizer, end to end, against fp64 full logits.

Target, observer, performer and sampling models are tiny random Llamas with one BOS tokenizer
and different seeds; the expected scores are written from the papers' formulas (and the
official implementations' choice of which model weights which) with plain Python and fp64
logits of one unbatched forward pass per text.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import miakit
from miakit.backends.hf import HFTokenScorer
from miakit.errors import InvalidParameterError
from tinymodels import build_gpt2, build_llama, build_tokenizer

MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "In 1969, humans first walked on the Moon, and the world watched.",
]
NONMEMBERS = [
    "Sourdough bread rises slowly because of wild yeast in the starter.",
    "Hi",
    "Glaciers carve VALLEYS over thousands of years.",
]
TWO_MODEL_ATTACKS = ["binoculars", "fast_detectgpt_ref"]


def write_inputs(tmp_path):
    for name, texts in (("m", MEMBERS), ("n", NONMEMBERS)):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": f"{name}{i}", "text": t}) + "\n" for i, t in enumerate(texts))
        )
    return {"members": str(tmp_path / "m.jsonl"), "nonmembers": str(tmp_path / "n.jsonl")}


def log_softmax_rows(model, ids):
    """fp64 next-token log-probs ``(len(ids) - 1, V)``: row t-1 predicts token t."""
    try:
        with torch.no_grad():
            logits = model.double()(torch.tensor([ids])).logits[0].double()
    finally:
        model.float()
    return torch.log_softmax(logits[:-1], -1)


def expected_scores(tok, target, performer, observer, sampling, text):
    ids = [0, *tok(text, add_special_tokens=False).input_ids]  # BOS tokenizer: all scored
    nxt = torch.tensor(ids[1:])
    # Binoculars: B = log PPL(performer) / log X-PPL(observer probs, performer log-probs)
    perf = log_softmax_rows(performer, ids)
    obs = log_softmax_rows(observer, ids).exp()
    log_ppl = -float(perf.gather(1, nxt[:, None]).mean())
    log_x_ppl = -float((obs * perf).sum(-1).mean())
    # Fast-DetectGPT with a sampling model: log-probs of the target, weights of the sampler
    tgt = log_softmax_rows(target, ids)
    samp = log_softmax_rows(sampling, ids).exp()
    ll = tgt.gather(1, nxt[:, None]).squeeze(1)
    mu = (samp * tgt).sum(-1)
    var = (samp * tgt**2).sum(-1) - mu**2
    return {
        "binoculars": -log_ppl / log_x_ppl,
        "fast_detectgpt_ref": float((ll.sum() - mu.sum()) / var.sum().sqrt()),
    }


@pytest.mark.parametrize("own_performer", [False, True])
def test_two_model_attacks_match_fp64_full_logits(tmp_path, own_performer):
    tok = build_tokenizer(bos=True)
    target = build_llama(len(tok), seed=0)
    observer = build_llama(len(tok), seed=3)
    sampling = build_llama(len(tok), seed=4)
    performer = build_llama(len(tok), seed=5) if own_performer else target
    scorers = {
        "target": HFTokenScorer(target, tok, name="target"),
        "observer": HFTokenScorer(observer, tok, name="observer"),
        "sampling_model": HFTokenScorer(sampling, tok, name="sampling"),
    }
    if own_performer:
        scorers["performer"] = HFTokenScorer(performer, tok, name="performer")
    result = miakit.run(
        **write_inputs(tmp_path),
        scorers=scorers,
        attacks=TWO_MODEL_ATTACKS,
        no_cache=True,
        write=False,
        echo=False,
        progress=False,
        n_bootstrap=10,
        batch_tokens=40,  # several batches
    )
    assert set(result.outputs) == set(TWO_MODEL_ATTACKS)
    models = result.metrics["models"]
    if own_performer:
        assert models["performer"]["name"] == "performer"
    else:
        assert models["performer"]["alias_of"] == "target"
    for i, text in enumerate(MEMBERS + NONMEMBERS):
        expected = expected_scores(tok, target, performer, observer, sampling, text)
        for attack, value in expected.items():
            got = result.scores[attack].iloc[i]
            assert math.isfinite(value)
            np.testing.assert_allclose(got, value, rtol=1e-4, atol=1e-4, err_msg=attack)


def test_sampling_model_equal_to_the_target_reproduces_fast_detectgpt(tmp_path):
    tok = build_tokenizer(bos=True)
    target = HFTokenScorer(build_llama(len(tok)), tok, name="target")
    result = miakit.run(
        **write_inputs(tmp_path),
        scorers={"target": target, "sampling_model": target},
        attacks=["fast_detectgpt", "fast_detectgpt_ref"],
        no_cache=True,
        write=False,
        echo=False,
        progress=False,
        n_bootstrap=10,
    )
    np.testing.assert_allclose(
        result.scores["fast_detectgpt_ref"], result.scores["fast_detectgpt"], rtol=1e-3
    )


def test_paired_attack_with_another_tokenizer_is_a_clear_error(tmp_path):
    tok, other = build_tokenizer(bos=True), build_tokenizer(bos=False, vocab_size=300)
    with pytest.raises(InvalidParameterError) as err:
        miakit.run(
            **write_inputs(tmp_path),
            scorers={
                "target": HFTokenScorer(build_llama(len(tok)), tok, name="tiny-llama"),
                "observer": HFTokenScorer(build_gpt2(len(other)), other, name="tiny-gpt2"),
            },
            attacks=["loss", "binoculars"],
            no_cache=True,
            write=False,
            echo=False,
            progress=False,
        )
    message = str(err.value)
    assert "'tiny-llama'" in message and "'tiny-gpt2'" in message
    assert "sharing a tokenizer" in message
