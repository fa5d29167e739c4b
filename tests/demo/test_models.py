"""The demo's models as cache folders (miakit.demo.models, issue 15): the first run writes the
dequantised base and the fine-tune once; a rerun loads neither. A tiny model folder stands in
for SmolLM2's GGUF (its "file" is a few bytes: only its fingerprint matters here)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from miakit.demo.finetune import FinetuneSettings
from miakit.demo.models import complete, plan_models

MEMBERS = ["the cat sat on the mat", "dogs bark at night"]
NONMEMBERS = ["glaciers carve valleys"]
SETTINGS = FinetuneSettings(epochs=1, train_top_layers=1)


def prepare(gguf, cache, members=MEMBERS, **calls):
    models = plan_models(gguf, cache, SETTINGS, members, NONMEMBERS)
    return complete(models, gguf, cache, SETTINGS, members, NONMEMBERS, **calls)


def test_the_first_run_writes_both_folders_and_a_rerun_loads_nothing(tiny_model_dir, tmp_path):
    gguf, cache = tmp_path / "base.gguf", tmp_path / "cache"
    gguf.write_bytes(b"a stand-in for the quantised file")
    calls: list[str] = []
    loaded: dict[str, object] = {}

    def load_base():
        calls.append("load")
        loaded["model"] = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
        return loaded["model"], AutoTokenizer.from_pretrained(str(tiny_model_dir))

    def train(model, tokenizer):
        calls.append("train")
        with torch.no_grad():
            next(model.parameters()).add_(1.0)  # any change: the fine-tune is its own model
        return model

    first = prepare(gguf, cache, load_base=load_base, train=train)
    assert calls == ["load", "train"] and not first.was_cached
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    n_member = sum(len(x) for x in tokenizer(MEMBERS)["input_ids"])
    assert first.n_member_tokens == n_member
    assert first.n_tokens == n_member + len(tokenizer(NONMEMBERS)["input_ids"][0])
    # the saved base is the loaded model, bit for bit, and its tokenizer encodes alike
    saved = AutoModelForCausalLM.from_pretrained(str(first.base))
    original = loaded["model"].state_dict()  # type: ignore[attr-defined]
    assert saved.state_dict().keys() == original.keys()
    for name, tensor in saved.state_dict().items():
        assert torch.equal(tensor, original[name]), name
    saved_tok = AutoTokenizer.from_pretrained(str(first.base))
    assert saved_tok(MEMBERS)["input_ids"] == tokenizer(MEMBERS)["input_ids"]

    def must_not_load(*_):
        pytest.fail("a rerun loaded or trained a model")

    again = prepare(gguf, cache, load_base=must_not_load, train=must_not_load)
    assert again.was_cached and again == plan_models(gguf, cache, SETTINGS, MEMBERS, NONMEMBERS)
    assert (again.n_member_tokens, again.n_tokens) == (first.n_member_tokens, first.n_tokens)

    # other members: a new fine-tune on the same base folder
    calls.clear()
    other = prepare(gguf, cache, members=MEMBERS[:1], load_base=load_base, train=train)
    assert calls == ["load", "train"] and other.base == first.base
    assert other.finetuned != first.finetuned
    # another GGUF file: another base folder
    gguf.write_bytes(b"another quantised file")
    assert plan_models(gguf, cache, SETTINGS, MEMBERS, NONMEMBERS).base != first.base
