"""PEFT LoRA adapters merged at load (miakit.backends.hf.adapter), against the adapter applied
unmerged by forward hooks in fp64 (tests/adapters.py), with adapter folders written by hand so
that nothing here needs peft; and every refusal: base mismatch, pickle, unsupported kinds."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from adapters import PREFIX, hooked, lora_tensors, plain_scale, write_adapter
from miakit.backends.hf import HFTokenScorer, LazyHFTokenScorer, ModelSpec
from miakit.backends.hf.adapter_config import read_adapter, with_adapter
from miakit.backends.hf.files import fingerprint_files
from miakit.errors import ModelLoadError, UnsafeModelError
from tinymodels import build_gpt2, build_llama, build_tokenizer

IDS = torch.tensor([[0, 5, 17, 42, 99, 7, 3, 250, 11]])


def save(model, tok, path: Path) -> Path:
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(bos=True)


def loaded_logits(base: Path, adapter: Path, *, lazy: bool = False, **kw) -> torch.Tensor:
    spec = ModelSpec(path=str(base), adapter=str(adapter), device="cpu", dtype="float32", **kw)
    scorer = (LazyHFTokenScorer if lazy else HFTokenScorer).load(spec)
    with torch.no_grad():
        return scorer.model(input_ids=IDS).logits.double()


def reference_logits(model, tensors, scales) -> torch.Tensor:
    model = model.double()
    handles = hooked(model, tensors, scales)
    try:
        with torch.no_grad():
            return model(input_ids=IDS).logits
    finally:
        for h in handles:
            h.remove()
        model.float()


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("rslora", [False, True])
def test_llama_lora_equals_the_unmerged_adapter(tmp_path, tok, lazy, rslora) -> None:
    model = build_llama(len(tok))
    base = save(model, tok, tmp_path / "base")
    ranks = {"model.layers.0.self_attn.q_proj": 4, "model.layers.1.self_attn.v_proj": 4}
    ranks["model.layers.1.mlp.down_proj"] = 2  # its own rank and alpha, by pattern
    tensors = lora_tensors(model, ranks, seed=1)
    pattern = {"rank_pattern": {"down_proj": 2}, "alpha_pattern": {"mlp.down_proj": 5.0}}
    ad = write_adapter(tmp_path / "ad", tensors, r=4, alpha=8, use_rslora=rslora, **pattern)
    scales = {m: plain_scale(8, 4, rslora=rslora) for m in ranks}
    scales["model.layers.1.mlp.down_proj"] = plain_scale(5.0, 2, rslora=rslora)
    want = reference_logits(model, tensors, scales)
    got = loaded_logits(base, ad, lazy=lazy)
    assert not torch.allclose(want, reference_logits(model, {}, {}), atol=1e-2)  # it does act
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


def test_gpt2_conv1d_lora_bias_and_modules_to_save(tmp_path, tok) -> None:
    """Conv1D stores (in, out): the delta is transposed; lora_bias adds s * bias_B; a
    modules_to_save tensor replaces the base's."""
    model = build_gpt2(len(tok))
    base = save(model, tok, tmp_path / "base")
    ranks = {"transformer.h.0.attn.c_attn": 3, "transformer.h.1.mlp.c_fc": 3}
    tensors = lora_tensors(model, ranks, seed=2, bias=True)
    ln = model.transformer.ln_f.weight.detach() + 0.5
    tensors[f"{PREFIX}transformer.ln_f.weight"] = ln
    ad = write_adapter(
        tmp_path / "ad", tensors, r=3, alpha=6, fan_in_fan_out=True, lora_bias=True,
        modules_to_save=["ln_f"],
    )  # fmt: skip
    reference = build_gpt2(len(tok))
    with torch.no_grad():
        reference.transformer.ln_f.weight.copy_(ln)
    want = reference_logits(reference, tensors, dict.fromkeys(ranks, 2.0))
    torch.testing.assert_close(loaded_logits(base, ad), want, rtol=1e-5, atol=1e-4)


def test_lora_on_a_tied_embedding_leaves_the_head_alone(tmp_path, tok) -> None:
    """LoRA on the input embedding of a model whose head shares its weight changes the
    embedding only, as the adapter was trained (the weights are untied first)."""
    model = build_llama(len(tok), tie=True)
    base = save(model, tok, tmp_path / "base")
    ranks = {"model.embed_tokens": 4, "model.layers.0.self_attn.k_proj": 4}
    tensors = lora_tensors(model, ranks, seed=3)
    ad = write_adapter(tmp_path / "ad", tensors, r=4, alpha=4)
    want = reference_logits(model, tensors, dict.fromkeys(ranks, 1.0))
    torch.testing.assert_close(loaded_logits(base, ad), want, rtol=1e-5, atol=1e-4)


def test_fingerprint_covers_base_and_adapter(tmp_path, tok) -> None:
    model = build_llama(len(tok))
    base = save(model, tok, tmp_path / "base")
    ranks = {"model.layers.0.self_attn.q_proj": 2}
    one = write_adapter(tmp_path / "a1", lora_tensors(model, ranks, seed=1), r=2, alpha=2)
    two = write_adapter(tmp_path / "a2", lora_tensors(model, ranks, seed=2), r=2, alpha=2)
    fps = set()
    for ad in (None, one, two):
        spec = ModelSpec(str(base), device="cpu", adapter=None if ad is None else str(ad))
        lazy = LazyHFTokenScorer.load(spec)
        eager = HFTokenScorer.load(spec)
        assert lazy.fingerprint == eager.fingerprint and not lazy.loaded
        lazy.hidden_states(IDS, torch.ones_like(IDS))  # loads and merges: the same identity
        assert lazy.loaded and lazy.fingerprint == eager.fingerprint
        fps.add(lazy.fingerprint)
    assert len(fps) == 3
    assert HFTokenScorer.load(ModelSpec(str(base), adapter=str(one))).fingerprint == with_adapter(
        fingerprint_files(base, None), read_adapter(one).fingerprint
    )


def test_base_files_are_not_written(tmp_path, tok) -> None:
    model = build_llama(len(tok))
    base = save(model, tok, tmp_path / "base")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in base.iterdir()}
    ranks = {"model.layers.0.self_attn.q_proj": 2}
    ad = write_adapter(tmp_path / "ad", lora_tensors(model, ranks), r=2, alpha=2)
    loaded_logits(base, ad)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in base.iterdir()}
    assert after == before


def test_adapter_of_another_base_is_refused_naming_each_mismatch(tmp_path, tok) -> None:
    llama = build_llama(len(tok))
    ranks = {"model.layers.0.self_attn.q_proj": 2, "model.layers.1.mlp.up_proj": 2}
    ad = write_adapter(
        tmp_path / "ad", lora_tensors(llama, ranks), r=2, alpha=2,
        base_model_name_or_path="org/some-llama",
    )  # fmt: skip
    gpt2 = save(build_gpt2(len(tok)), tok, tmp_path / "gpt2")
    with pytest.raises(ModelLoadError) as err:
        loaded_logits(gpt2, ad)
    text = str(err.value)
    assert "model.layers.0.self_attn.q_proj: no such module" in text
    assert "model.layers.1.mlp.up_proj: no such module" in text
    assert "'org/some-llama'" in text and "--adapter" in text
    # the same layer names, other widths
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=48, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2,
    )  # fmt: skip
    wide = save(LlamaForCausalLM(cfg), tok, tmp_path / "wide")
    with pytest.raises(ModelLoadError, match=r"q_proj: the adapter changes a weight of shape"):
        loaded_logits(wide, ad)


def test_recorded_local_base_must_be_the_given_one(tmp_path, tok) -> None:
    model = build_llama(len(tok))
    base = save(model, tok, tmp_path / "base")
    other = save(build_llama(len(tok), seed=5), tok, tmp_path / "other")
    copy = Path(shutil.copytree(base, tmp_path / "copy"))
    tensors = lora_tensors(model, {"model.layers.0.self_attn.q_proj": 2})
    ad = write_adapter(tmp_path / "ad", tensors, r=2, alpha=2, base_model_name_or_path=str(base))
    want = loaded_logits(base, ad)
    torch.testing.assert_close(loaded_logits(copy, ad), want)  # same weights elsewhere: fine
    with pytest.raises(ModelLoadError, match="whose weights differ") as err:
        loaded_logits(other, ad)
    assert str(base) in str(err.value) and "base_model_name_or_path" in str(err.value)


def test_pickle_adapter_needs_the_pickle_opt_in(tmp_path, tok) -> None:
    model = build_llama(len(tok))
    base = save(model, tok, tmp_path / "base")
    tensors = lora_tensors(model, {"model.layers.0.self_attn.q_proj": 2})
    safe = write_adapter(tmp_path / "safe", tensors, r=2, alpha=2)
    ad = write_adapter(tmp_path / "ad", tensors, r=2, alpha=2, pickle=True)
    with pytest.raises(UnsafeModelError, match="--allow-pickle"):
        loaded_logits(base, ad)
    with pytest.raises(UnsafeModelError, match="--allow-pickle"):
        LazyHFTokenScorer.load(ModelSpec(str(base), adapter=str(ad)))
    torch.testing.assert_close(
        loaded_logits(base, ad, allow_pickle=True), loaded_logits(base, safe)
    )


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"peft_type": "IA3"}, "peft_type 'IA3' is not supported; miakit applies LoRA"),
        ({"peft_type": "PROMPT_TUNING"}, "'PROMPT_TUNING' is not supported"),
        ({"use_dora": True}, "DoRA"),
        ({"target_parameters": ["experts.gate_up"]}, "bare parameters"),
        ({"some_future_variant": {"k": 1}}, "some_future_variant, which miakit does not know"),
    ],
)
def test_unsupported_adapters_are_refused_before_loading(tmp_path, tok, config, match) -> None:
    model = build_llama(len(tok))
    base = save(model, tok, tmp_path / "base")
    tensors = lora_tensors(model, {"model.layers.0.self_attn.q_proj": 2})
    ad = write_adapter(tmp_path / "ad", tensors, r=2, alpha=2, **config)
    with pytest.raises(ModelLoadError, match=match):
        LazyHFTokenScorer.load(ModelSpec(str(base), adapter=str(ad)))


def test_dora_tensors_and_bad_folders_are_refused(tmp_path, tok) -> None:
    model = build_llama(len(tok))
    base = save(model, tok, tmp_path / "base")
    tensors = lora_tensors(model, {"model.layers.0.self_attn.q_proj": 2})
    tensors[f"{PREFIX}model.layers.0.self_attn.q_proj.lora_magnitude_vector"] = torch.ones(32)
    ad = write_adapter(tmp_path / "ad", tensors, r=2, alpha=2)
    with pytest.raises(ModelLoadError, match=r"lora_magnitude_vector.*not plain LoRA"):
        loaded_logits(base, ad)
    with pytest.raises(ModelLoadError, match=r"no adapter_config\.json"):
        loaded_logits(base, base)  # a model folder given as the adapter
    with pytest.raises(ModelLoadError, match="is not a folder"):
        loaded_logits(base, tmp_path / "missing")
    wrong_rank = write_adapter(tmp_path / "r", lora_tensors(model, {"lm_head": 2}), r=8, alpha=2)
    with pytest.raises(ModelLoadError, match="rank 2 in the tensors, r=8"):
        loaded_logits(base, wrong_rank)


def test_a_hub_name_that_is_not_the_base_is_logged(tmp_path, tok, caplog) -> None:
    model = build_llama(len(tok))
    base = save(model, tok, tmp_path / "base")
    tensors = lora_tensors(model, {"model.layers.0.self_attn.q_proj": 2})
    named = {"org/SmolLM2-135M": "warn", f"org/{base.name}": None}
    for i, (name, expect) in enumerate(named.items()):
        ad = write_adapter(tmp_path / f"ad{i}", tensors, r=2, alpha=2, base_model_name_or_path=name)
        caplog.clear()
        with caplog.at_level("WARNING", logger="miakit"):
            loaded_logits(base, ad)
        warned = [r for r in caplog.records if "check that it is its base" in r.getMessage()]
        assert bool(warned) == (expect == "warn"), name


def test_inits_that_rewrite_the_base_are_logged(tmp_path, caplog) -> None:
    tensors = {
        f"{PREFIX}m.lora_A.weight": torch.ones(2, 4),
        f"{PREFIX}m.lora_B.weight": torch.ones(4, 2),
    }
    for init, warns in (
        ("pissa_niter_4", True),
        ("olora", True),
        (True, False),
        ("gaussian", False),
    ):
        ad = write_adapter(tmp_path / str(init), tensors, r=2, alpha=2, init_lora_weights=init)
        caplog.clear()
        with caplog.at_level("WARNING", logger="miakit"):
            read_adapter(ad)
        assert any("changes the base weights" in r.getMessage() for r in caplog.records) == warns
