"""Per-sample gradient norms of a Hugging Face model (miakit.backends.hf.gradients) against an
independent reference: a plain ``loss.backward()`` per text and the ``.grad`` buffers."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from miakit.backends.base import GradientScorer, check_capabilities
from miakit.backends.hf import HFTokenScorer
from miakit.signals.engine import SignalEngine
from miakit.signals.spec import PLAIN
from tinymodels import build_gpt2, build_llama, build_tokenizer

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany, and Rome of Italy.",
]


def reference_group(name: str) -> str:
    """An independent grouping of a tiny Llama's or GPT-2's parameter names."""
    if "embed_tokens" in name or name.startswith(("transformer.wte", "transformer.wpe")):
        return "embeddings"
    if name.startswith("lm_head"):
        return "head"
    block = re.match(r"^(model\.layers\.\d+|transformer\.h\.\d+)\.", name)
    return block.group(1) if block else "final"


def reference_norms(model, ids: list[int]) -> dict[str, np.ndarray]:
    """Per group (Σ|g|, √Σg², max|g|) from ``backward`` on HF's own shifted-label loss (the
    mean NLL of tokens 1..T-1, which is the engine's scored set when one token leads)."""
    model.zero_grad(set_to_none=True)
    x = torch.tensor([ids])
    model(input_ids=x, labels=x).loss.backward()
    groups: dict[str, list[torch.Tensor]] = {}
    for name, p in model.named_parameters():
        if p.grad is not None:
            groups.setdefault(reference_group(name), []).append(p.grad.double().flatten())
    out = {}
    for group, parts in groups.items():
        g = torch.cat(parts)
        out[group] = np.array([g.abs().sum(), g.square().sum().sqrt(), g.abs().max()])
    model.zero_grad(set_to_none=True)
    return out


@pytest.mark.parametrize("bos", [True, False])
@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_norms_equal_an_independent_backward(bos: bool, arch: str) -> None:
    tok = build_tokenizer(bos=bos)
    model = build_llama(len(tok)) if arch == "llama" else build_gpt2(len(tok))
    model = model.double()  # fp64: the parity is to rounding, not to fp32 noise
    scorer = HFTokenScorer(model, tok, name=arch)
    engine = SignalEngine(scorer, max_length=12, progress=False)  # the 2nd text is truncated
    inputs = engine.prepare(TEXTS, PLAIN)
    assert inputs[1].truncated and len(inputs[1].ids) == 12
    assert inputs[0].first_scored == 1  # BOS scores the first text token; no BOS: not
    layers, norms = scorer.gradient_norms([(x.ids, x.first_scored) for x in inputs])
    assert norms.shape == (2, len(layers), 3)
    assert {"embeddings", "final"} <= set(layers) and len(layers) >= 4
    for i, x in enumerate(inputs):
        want = reference_norms(model, list(x.ids))
        got = {name: norms[i, j] for j, name in enumerate(layers) if name in want}
        assert set(got) == set(want)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-9, err_msg=name)
        # totals for p = 1, 2, inf from the groups equal those of the whole gradient
        flat = np.stack(list(want.values()))
        np.testing.assert_allclose(norms[i, :, 0].sum(), flat[:, 0].sum(), rtol=1e-9)
        np.testing.assert_allclose(
            math.sqrt((norms[i, :, 1] ** 2).sum()), math.sqrt((flat[:, 1] ** 2).sum()), rtol=1e-9
        )
        assert norms[i, :, 2].max() == pytest.approx(flat[:, 2].max(), rel=1e-9)


def test_per_sample_not_batch_mean() -> None:
    tok = build_tokenizer(bos=True)
    scorer = HFTokenScorer(build_llama(len(tok)), tok)
    ids = [[0, *tok(t, add_special_tokens=False)["input_ids"]] for t in TEXTS]
    _, both = scorer.gradient_norms([(x, 1) for x in ids])
    _, first = scorer.gradient_norms([(ids[0], 1)])
    _, second = scorer.gradient_norms([(ids[1], 1)])
    np.testing.assert_allclose(both[0], first[0], rtol=1e-5)
    np.testing.assert_allclose(both[1], second[0], rtol=1e-5)
    assert not np.allclose(both[0], both[1], rtol=1e-2)  # different texts, different norms


def test_weights_training_flag_and_requires_grad_restored() -> None:
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    model.train()  # restored to training after the call, but the call runs in eval mode
    frozen = "model.layers.0.mlp.up_proj.weight"
    for name, p in model.named_parameters():
        p.requires_grad_(name != frozen)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    scorer = HFTokenScorer(model, tok)  # puts the model in eval mode
    model.train()
    model.config.attention_dropout = 0.5  # dropout would make two calls differ
    for layer in model.model.layers:
        layer.self_attn.attention_dropout = 0.5
    ids = [0, *tok(TEXTS[0], add_special_tokens=False)["input_ids"]]
    _, a = scorer.gradient_norms([(ids, 1)])
    _, b = scorer.gradient_norms([(ids, 1)])
    np.testing.assert_array_equal(a, b)  # eval mode: dropout off
    assert model.training
    for name, p in model.named_parameters():
        assert p.requires_grad == (name != frozen), name
        assert p.grad is None, name
        assert torch.equal(p.detach(), before[name]), name  # bit-identical
    assert np.isfinite(a).all()  # the frozen parameter's gradient is included too


def test_no_scored_token_is_nan_and_capability_is_declared() -> None:
    tok = build_tokenizer(bos=False)
    scorer = HFTokenScorer(build_llama(len(tok)), tok)
    assert check_capabilities(scorer).gradients and isinstance(scorer, GradientScorer)
    assert "gradients" in check_capabilities(scorer).names()
    _, norms = scorer.gradient_norms([([5], 1), ([5, 6], 1)])
    assert np.isnan(norms[0]).all() and np.isfinite(norms[1]).all()
