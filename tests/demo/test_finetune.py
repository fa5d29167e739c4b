"""The demo's fine-tune: it makes members, deterministically, and its weights round-trip."""

from __future__ import annotations

import copy

import pytest
import torch

from miakit.demo.finetune import (
    FinetuneSettings,
    finetune_causal_lm,
    save_model_folder,
    select_trainable,
)
from miakit.errors import InvalidParameterError
from tinymodels import build_llama, build_tokenizer

TEXTS = [
    "Zebras graze on the savanna while lions sleep nearby.",
    "The lighthouse keeper wrote letters every winter evening.",
    "Copper wires carry current between the two terminals.",
    "A violin has four strings tuned in perfect fifths.",
]
OTHERS = [
    "Volcanic ash can ground aircraft for many days.",
    "The bakery opens at six and sells out by noon.",
]


def mean_nll(model, tok, texts):
    out = []
    with torch.no_grad():
        for t in texts:
            ids = torch.tensor([tok(t).input_ids])
            out.append(float(model(ids, labels=ids).loss))
    return sum(out) / len(out)


def test_finetune_lowers_member_loss_more_than_others():
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    before_m, before_o = mean_nll(model, tok, TEXTS), mean_nll(model, tok, OTHERS)
    settings = FinetuneSettings(epochs=5, learning_rate=3e-3, batch_size=2, train_top_layers=1)
    tuned = finetune_causal_lm(copy.deepcopy(model), tok, TEXTS, settings, progress=False)
    drop_m = before_m - mean_nll(tuned, tok, TEXTS)
    drop_o = before_o - mean_nll(tuned, tok, OTHERS)
    # a random model learns generic statistics from any text; members must gain clearly more
    assert drop_m > 0.5 and drop_m - drop_o > 0.3


def test_finetune_is_deterministic_and_only_touches_top_layers():
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    settings = FinetuneSettings(epochs=1, learning_rate=1e-3, batch_size=3, train_top_layers=1)
    a = finetune_causal_lm(copy.deepcopy(model), tok, TEXTS, settings, progress=False)
    b = finetune_causal_lm(copy.deepcopy(model), tok, TEXTS, settings, progress=False)
    for (name, pa), pb, p0 in zip(
        a.state_dict().items(), b.state_dict().values(), model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
        changed = not torch.equal(pa, p0)
        assert changed == (name.startswith("model.layers.1.") or name == "model.norm.weight"), name


def test_select_trainable_all_and_errors():
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    assert len(select_trainable(model, 0)) == len(list(model.parameters()))
    with pytest.raises(InvalidParameterError):
        FinetuneSettings(epochs=0)
    with pytest.raises(InvalidParameterError, match="at least one text"):
        finetune_causal_lm(model, tok, [], FinetuneSettings(), progress=False)


def test_saved_folder_loads_with_the_safe_loader(tmp_path):
    from miakit.backends.hf import HFTokenScorer, ModelSpec

    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok), tie=True)
    folder = save_model_folder(model, tok, tmp_path / "ft")
    scorer = HFTokenScorer.load(ModelSpec(str(folder), device="cpu"))
    ids = torch.tensor([[0, 4, 7, 9]])
    torch.testing.assert_close(scorer.model(ids).logits, model(ids).logits, rtol=1e-5, atol=1e-5)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp dir left


def test_cache_key_depends_on_everything():
    s = FinetuneSettings()
    k = s.key("base", TEXTS)
    assert k == FinetuneSettings().key("base", TEXTS)
    assert k != FinetuneSettings(epochs=3).key("base", TEXTS)
    assert k != s.key("other-base", TEXTS)
    assert k != s.key("base", TEXTS[:-1])


def test_cli_epochs_default_is_the_library_default():
    """``miakit demo`` without ``--epochs`` trains as :class:`FinetuneSettings` says (the CLI
    repeats the default as a literal, so the two must not drift apart)."""
    import argparse

    from miakit.cli import demo as cli_demo

    parser = argparse.ArgumentParser()
    cli_demo.add_parser(parser.add_subparsers())
    assert parser.parse_args(["demo"]).epochs == FinetuneSettings().epochs
