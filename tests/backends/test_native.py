"""Native Llama/GPT-NeoX decoders equal transformers' forward pass (fp32, CPU), through every
path the scorer uses: padded batches, packed rows, a prefix cache, prefix reuse in packed
rows, full logits (gradients); and they load only what they implement."""

from __future__ import annotations

import json

import pytest
import torch

from miakit.backends.hf import HFTokenScorer
from miakit.backends.native.config import parse
from miakit.backends.native.load import try_native
from miakit.backends.native.models import NativeCausalLM
from miakit.errors import InvalidParameterError, ModelLoadError

CPU = torch.device("cpu")


def _neox(vocab: int, *, parallel: bool, seed: int = 3):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(seed)
    cfg = GPTNeoXConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
        use_parallel_residual=parallel,
        rotary_pct=0.5,
        hidden_act="gelu",
    )
    model = GPTNeoXForCausalLM(cfg).eval()
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(20.0)
    return model


def _llama(vocab: int, *, tie: bool):
    from tinymodels import build_llama

    return build_llama(vocab, tie=tie)


MODELS = {
    "llama": lambda v: _llama(v, tie=False),
    "llama_tied": lambda v: _llama(v, tie=True),
    "neox_parallel": lambda v: _neox(v, parallel=True),
    "neox_sequential": lambda v: _neox(v, parallel=False),
}


@pytest.fixture(params=sorted(MODELS))
def pair(request, tmp_path, tokenizer, monkeypatch):
    """(transformers model, native model loaded from its saved folder)."""
    hf = MODELS[request.param](len(tokenizer))
    hf.save_pretrained(tmp_path, safe_serialization=True)
    monkeypatch.setenv("MIAKIT_NATIVE", "always")
    config = json.loads((tmp_path / "config.json").read_text())
    native = try_native(tmp_path, config, torch.float32, CPU)
    assert isinstance(native, NativeCausalLM)
    return hf, native


def _ids(n: int, length: int, vocab: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, vocab, (n, length), generator=g)


def test_padded_batch_logits_equal_transformers(pair):
    hf, native = pair
    vocab = hf.config.vocab_size
    ids = _ids(3, 17, vocab, 0)
    mask = torch.ones_like(ids)
    mask[1, 11:] = 0  # right padding, as the scorer pads
    mask[2, 5:] = 0
    with torch.no_grad():
        want = hf(input_ids=ids, attention_mask=mask).logits
        got = native(ids, attention_mask=mask).logits
    real = mask.bool()
    assert got.shape == want.shape
    torch.testing.assert_close(got[real], want[real], rtol=1e-5, atol=1e-4)


def test_scorer_paths_equal_transformers(pair, tokenizer):
    """Packed rows, prefix cache, padded suffixes after a prefix, and packed prefix reuse."""
    hf, native = pair
    a, b = HFTokenScorer(hf, tokenizer), HFTokenScorer(native, tokenizer)
    assert a.capabilities == b.capabilities
    vocab = hf.config.vocab_size
    lens = [5, 9, 3]
    row = torch.cat([_ids(1, n, vocab, i)[0] for i, n in enumerate(lens)])[None]
    pos = torch.cat([torch.arange(n) for n in lens])[None]
    cu = torch.tensor([0, 5, 14, 17], dtype=torch.int32)
    torch.testing.assert_close(
        b.hidden_states_packed(row, pos, cu, 9),
        a.hidden_states_packed(row, pos, cu, 9),
        rtol=1e-5,
        atol=1e-5,
    )
    prefix = _ids(1, 6, vocab, 9)[0].tolist()
    kv_a, last_a = a.prefix_state(prefix)
    kv_b, last_b = b.prefix_state(prefix)
    torch.testing.assert_close(last_b, last_a, rtol=1e-5, atol=1e-5)
    for (ka, va), (kb, vb) in zip(kv_a, kv_b, strict=True):
        torch.testing.assert_close(kb, ka, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(vb, va, rtol=1e-5, atol=1e-5)
    ids, mask = _ids(2, 7, vocab, 4), torch.ones(2, 7, dtype=torch.long)
    mask[1, 4:] = 0
    got = b.hidden_states_after_prefix(kv_b, ids, mask)
    want = a.hidden_states_after_prefix(kv_a, ids, mask)
    torch.testing.assert_close(got[mask.bool()], want[mask.bool()], rtol=1e-5, atol=1e-5)
    shifted = pos + len(prefix)
    torch.testing.assert_close(
        b.hidden_states_packed(row, shifted, cu, 9, prefix_kv=kv_b),
        a.hidden_states_packed(row, shifted, cu, 9, prefix_kv=kv_a),
        rtol=1e-5,
        atol=1e-5,
    )
    hidden = torch.randn(4, hf.config.hidden_size)
    torch.testing.assert_close(b.logits(hidden), a.logits(hidden))


def test_native_is_used_only_where_asked(tmp_path, tokenizer, monkeypatch):
    _llama(len(tokenizer), tie=False).save_pretrained(tmp_path, safe_serialization=True)
    config = json.loads((tmp_path / "config.json").read_text())
    monkeypatch.setenv("MIAKIT_NATIVE", "auto")
    assert try_native(tmp_path, config, torch.float32, CPU) is None  # auto: CUDA only
    monkeypatch.setenv("MIAKIT_NATIVE", "never")
    assert try_native(tmp_path, config, torch.float32, CPU) is None
    monkeypatch.setenv("MIAKIT_NATIVE", "sometimes")
    with pytest.raises(InvalidParameterError, match="MIAKIT_NATIVE"):
        try_native(tmp_path, config, torch.float32, CPU)


@pytest.mark.parametrize(
    "edit, why",
    [
        ({"model_type": "mistral"}, "model_type"),
        ({"rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5}}, "llama3"),
        ({"attention_bias": True}, "biases"),
        ({"hidden_act": "relu2"}, "hidden_act"),
        ({"auto_map": {"AutoModel": "x.Y"}}, "custom code"),
    ],
)
def test_configs_it_does_not_implement_are_refused(tmp_path, tokenizer, edit, why):
    _llama(len(tokenizer), tie=False).save_pretrained(tmp_path, safe_serialization=True)
    config = {**json.loads((tmp_path / "config.json").read_text()), **edit}
    reason = parse(config)
    assert isinstance(reason, str) and why in reason


def test_unknown_or_missing_weights(tmp_path, tokenizer, monkeypatch):
    from safetensors.torch import load_file, save_file

    monkeypatch.setenv("MIAKIT_NATIVE", "always")
    _llama(len(tokenizer), tie=False).save_pretrained(tmp_path, safe_serialization=True)
    config = json.loads((tmp_path / "config.json").read_text())
    weights = load_file(tmp_path / "model.safetensors")
    save_file({**weights, "model.extra.weight": torch.zeros(2)}, tmp_path / "model.safetensors")
    assert try_native(tmp_path, config, torch.float32, CPU) is None  # transformers decides
    del weights["model.norm.weight"]
    save_file(weights, tmp_path / "model.safetensors")
    with pytest.raises(ModelLoadError, match="lacks 1 weight"):
        try_native(tmp_path, config, torch.float32, CPU)


def test_run_scores_equal_transformers(tiny_model_dir, tmp_path, monkeypatch):
    """The whole pipeline from a model folder: scores agree whichever decoder runs."""
    import miakit
    from auxmodels import write_jsonl

    members = write_jsonl(tmp_path / "m.jsonl", [f"The cat sat on mat {i}." for i in range(6)], "m")
    nonmembers = write_jsonl(
        tmp_path / "n.jsonl", [f"A dog ran at hour {i}." for i in range(6)], "n"
    )
    import miakit.backends.native.load as native_load

    built: list[object] = []

    def spy(*args, **kwargs):
        model = try_native(*args, **kwargs)
        built.append(model)
        return model

    monkeypatch.setattr(native_load, "try_native", spy)
    scores = {}
    for mode in ("never", "always"):
        monkeypatch.setenv("MIAKIT_NATIVE", mode)
        result = miakit.run(
            model=str(tiny_model_dir),
            members=str(members),
            nonmembers=str(nonmembers),
            attacks=["loss", "min_k", "min_k_plus_plus"],
            out=str(tmp_path / f"out-{mode}"),
            no_cache=True,
            n_bootstrap=10,
            blind=False,
            device="cpu",
        )
        scores[mode] = result.scores
    assert len(scores["always"]) == 12
    assert built[0] is None and isinstance(built[-1], NativeCausalLM)  # each decoder ran
    for attack in ("loss", "min_k", "min_k_plus_plus"):
        torch.testing.assert_close(
            torch.tensor(scores["always"][attack].to_numpy()),
            torch.tensor(scores["never"][attack].to_numpy()),
            rtol=1e-5,
            atol=1e-6,
        )


def _without_keys(folder, keys):
    config = json.loads((folder / "config.json").read_text())
    for key in keys:
        config.pop(key, None)
    (folder / "config.json").write_text(json.dumps(config))
    return config


@pytest.mark.parametrize("kind", ["llama", "neox"])
def test_settings_absent_from_config_json_take_transformers_defaults(
    kind, tmp_path, tokenizer, monkeypatch
):
    """A config.json written by hand or by an old tool may omit a setting; transformers then
    uses its config class's default (Llama: untied head; GPT-NeoX: a quarter of each head
    rotates), and so must the native decoder, else its logits are another model's."""
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("MIAKIT_NATIVE", "always")
    if kind == "llama":
        _llama(len(tokenizer), tie=False).save_pretrained(tmp_path, safe_serialization=True)
        config = _without_keys(tmp_path, ["tie_word_embeddings"])
    else:  # the legacy spelling (rotary_emb_base) without rotary_pct
        _neox(len(tokenizer), parallel=True).save_pretrained(tmp_path, safe_serialization=True)
        config = _without_keys(tmp_path, ["rope_parameters", "rotary_pct"])
        config["rotary_emb_base"] = 10000
        (tmp_path / "config.json").write_text(json.dumps(config))
    hf = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    native = try_native(tmp_path, config, torch.float32, CPU)
    assert isinstance(native, NativeCausalLM)
    ids = _ids(2, 12, len(tokenizer), 5)
    with torch.no_grad():
        torch.testing.assert_close(
            native(ids).logits, hf(input_ids=ids).logits, rtol=1e-5, atol=1e-4
        )


@pytest.mark.parametrize("key", ["rope_theta", "partial_rotary_factor"])
def test_neox_rope_in_the_spelling_transformers_ignores_is_refused(tmp_path, tokenizer, key):
    """transformers 5 reads a GPT-NeoX config's RoPE from rotary_emb_base/rotary_pct; a
    top-level rope_theta or partial_rotary_factor would be read by the native decoder only."""
    _neox(len(tokenizer), parallel=True).save_pretrained(tmp_path, safe_serialization=True)
    config = json.loads((tmp_path / "config.json").read_text())
    config.pop("rope_parameters")
    config[key] = 0.5 if key == "partial_rotary_factor" else 5e5
    reason = parse(config)
    assert isinstance(reason, str) and key in reason
    config.pop(key)
    assert not isinstance(parse(config), str)
