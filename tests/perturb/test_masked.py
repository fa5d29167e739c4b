"""The masked-LM perturber: local safetensors only, seeded, never the original word."""

from __future__ import annotations

import re

import pytest
import torch

from auxmodels import build_bert, build_wordpiece_tokenizer, save_fill_mask_model
from miakit.errors import ModelLoadError
from miakit.perturb import MaskedLMPerturber
from miakit.perturb.base import n_replacements

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "...",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_fill_mask_model(tmp_path_factory.mktemp("tiny-bert"))


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def test_load_and_perturb_deterministically(folder) -> None:
    p = MaskedLMPerturber.load(str(folder), device="cpu", fraction=0.3, top_k=5)
    a = p.neighbors(TEXTS, 4, seed=1)
    again = MaskedLMPerturber.load(str(folder), device="cpu", fraction=0.3, top_k=5)
    assert a == again.neighbors(TEXTS, 4, seed=1)
    assert a != p.neighbors(TEXTS, 4, seed=2)
    assert a[2] == []  # no word at all
    for text, neighbors in zip(TEXTS[:2], a[:2], strict=True):
        original = words(text)
        k = n_replacements(0.3, len(original))
        assert neighbors
        for n in neighbors:
            new = words(n)
            assert len(new) == len(original)  # words are swapped one for one
            changed = [i for i, (x, y) in enumerate(zip(original, new)) if x != y]
            assert 1 <= len(changed) <= k
            for i in changed:  # never the original word, in any case
                assert new[i].casefold() != original[i].casefold()
            # punctuation and spacing are left alone
            assert re.sub(r"\w+", "W", n) == re.sub(r"\w+", "W", text)


def test_identity_keys_model_and_settings(folder) -> None:
    a = MaskedLMPerturber.load(str(folder), device="cpu")
    b = MaskedLMPerturber.load(str(folder), device="cpu", top_k=3)
    assert a.identity["model"] == b.identity["model"] and a.identity != b.identity
    assert a.identity["kind"] == "masked_lm_sample"


def test_in_memory_models_are_fingerprinted_by_their_weights(folder) -> None:
    """Without a fingerprint, the weights are hashed (it keys the neighbor cache); a loaded
    folder keeps its files' hash; both follow in-place changes (review of issue 10)."""
    from miakit.backends.hf import fingerprint_files

    tok = build_wordpiece_tokenizer()
    a = MaskedLMPerturber(build_bert(len(tok), seed=3), tok)
    b = MaskedLMPerturber(build_bert(len(tok), seed=99), tok)
    assert a.fingerprint and a.fingerprint != b.fingerprint
    assert a.identity["model"] != b.identity["model"]
    before = a.fingerprint
    with torch.no_grad():
        next(a.model.parameters()).add_(0.5)
    assert a.fingerprint != before
    loaded = MaskedLMPerturber.load(str(folder), device="cpu")
    assert loaded.fingerprint == fingerprint_files(folder, None)
    with torch.no_grad():
        next(loaded.model.parameters()).mul_(2.0)
    assert loaded.fingerprint != fingerprint_files(folder, None)


def test_refuses_missing_and_pickle_only_folders(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="never downloads"):
        MaskedLMPerturber.load(str(tmp_path / "nope"))
    tok = build_wordpiece_tokenizer()
    model = build_bert(len(tok))
    model.save_pretrained(tmp_path / "pickled")
    tok.save_pretrained(tmp_path / "pickled")
    for f in (tmp_path / "pickled").glob("*.safetensors"):  # leave only pickle weights
        f.unlink()
    torch.save(model.state_dict(), tmp_path / "pickled" / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="safetensors"):
        MaskedLMPerturber.load(str(tmp_path / "pickled"))
