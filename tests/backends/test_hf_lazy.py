"""LazyHFTokenScorer: the eager scorer's identity and capabilities, weights loaded on first use."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from miakit.backends.base import check_capabilities
from miakit.backends.hf import HFTokenScorer, LazyHFTokenScorer, ModelSpec


def count_weight_loads(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = AutoModelForCausalLM.from_pretrained

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", counting)
    return calls


def test_lazy_matches_eager_and_loads_on_first_forward(tiny_model_dir, monkeypatch):
    spec = ModelSpec(path=str(tiny_model_dir), device="cpu")
    eager = HFTokenScorer.load(spec)
    calls = count_weight_loads(monkeypatch)
    lazy = LazyHFTokenScorer.load(spec)
    assert isinstance(lazy, LazyHFTokenScorer) and not lazy.loaded
    assert check_capabilities(lazy) == check_capabilities(eager)
    for attr in ("fingerprint", "tokenizer_fingerprint", "dtype", "device", "vocab_size", "name"):
        assert getattr(lazy, attr) == getattr(eager, attr), attr
    for bos in ("auto", "never"):
        assert lazy.lead_ids(bos) == eager.lead_ids(bos)
    assert lazy.encode(["hello world"]) == eager.encode(["hello world"])
    assert lazy.char_ends(["hello world"], 1) == eager.char_ends(["hello world"], 1)
    assert calls == [] and not lazy.loaded
    ids = torch.tensor([lazy.encode(["the cat sat on the mat"])[0]])
    mask = torch.ones_like(ids)
    hidden = lazy.hidden_states(ids, mask)
    assert calls == [1] and lazy.loaded
    torch.testing.assert_close(hidden, eager.hidden_states(ids, mask), rtol=0, atol=0)
    torch.testing.assert_close(lazy.logits(hidden[0]), eager.logits(hidden[0]), rtol=0, atol=0)
    assert lazy.fingerprint == eager.fingerprint and lazy.dtype == eager.dtype
    lazy.logits(hidden[0])
    assert calls == [1]  # once


def test_lazy_rehashes_after_in_place_edit(tiny_model_dir):
    lazy = LazyHFTokenScorer.load(ModelSpec(path=str(tiny_model_dir), device="cpu"))
    before = lazy.fingerprint
    with torch.no_grad():
        next(lazy.model.parameters()).add_(1.0)
    assert lazy.fingerprint != before


def test_lazy_loads_inside_inference_mode(tiny_model_dir, monkeypatch):
    """The weights may first be needed inside ``torch.inference_mode`` (the packed path's
    forward is decorated with it): they must load as ordinary tensors, whose in-place
    changes the fingerprint still follows (an H200 run of benchmarks/e2e.py crashed with
    "Inference tensors do not track version counter")."""
    from miakit.backends.hf import lazy as lazy_module

    spec = ModelSpec(path=str(tiny_model_dir), device="cpu")
    eager = HFTokenScorer.load(spec)
    original = lazy_module.load_weights
    # a copy on the way, as the transfer to a GPU makes (on the CPU, .to("cpu") copies nothing)
    monkeypatch.setattr(
        lazy_module, "load_weights", lambda *a, **k: original(*a, **k).double().float()
    )
    lazy = LazyHFTokenScorer.load(spec)
    ids = torch.tensor([lazy.encode(["the cat sat on the mat"])[0]])
    with torch.inference_mode():
        hidden = lazy.hidden_states(ids, torch.ones_like(ids))
    assert lazy.loaded
    assert not any(p.is_inference() for p in lazy.model.parameters())
    torch.testing.assert_close(hidden, eager.hidden_states(ids, torch.ones_like(ids)))
    before = lazy.fingerprint
    with torch.no_grad():
        next(lazy.model.parameters()).add_(1.0)
    assert lazy.fingerprint != before


@pytest.mark.parametrize(
    ("device", "expected"), [("cuda:1", {"": "cuda:1"}), ("cpu", None), (None, None)]
)
def test_weights_load_straight_onto_a_gpu(tiny_model_dir, monkeypatch, device, expected):
    """On a GPU the checkpoint is read onto the device in the target dtype (device_map), not
    materialised on the CPU first; on the CPU transformers is asked for nothing special."""
    from miakit.backends.hf.loading import load_weights

    monkeypatch.setenv("MIAKIT_NATIVE", "never")  # the transformers path (native: test_native)
    seen: list[dict] = []
    original = AutoModelForCausalLM.from_pretrained

    def spying(*args, **kwargs):
        seen.append(dict(kwargs))
        kwargs.pop("device_map", None)  # no GPU here: build it on the CPU
        return original(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spying)
    spec = ModelSpec(path=str(tiny_model_dir), device="cpu")
    where = torch.device(device) if device else None
    load_weights(spec, tiny_model_dir, None, torch.float32, device=where)
    assert seen[0].get("device_map") == expected
    assert seen[0]["dtype"] == torch.float32


def test_a_given_fingerprint_replaces_the_files_hash(tiny_model_dir):
    """``ModelSpec.fingerprint`` (``miakit demo``: its fine-tune's key) names the weights before
    and after they load; without it the files' hash does."""
    spec = ModelSpec(path=str(tiny_model_dir), device="cpu")
    files_hash = LazyHFTokenScorer.load(spec).fingerprint
    given = LazyHFTokenScorer.load(
        ModelSpec(path=str(tiny_model_dir), device="cpu", fingerprint="k")
    )
    assert files_hash != "k" and given.fingerprint == "k" and not given.loaded
    given.hidden_states(torch.tensor([[1, 2, 3]]), torch.ones(1, 3, dtype=torch.long))
    assert given.loaded and given.fingerprint == "k"
    eager = HFTokenScorer.load(ModelSpec(path=str(tiny_model_dir), device="cpu", fingerprint="k"))
    assert eager.fingerprint == "k"
