"""Tokenizer facts recorded by the tokenizer files' bytes: a cached run loads no tokenizer, and a
changed tokenizer file is never read through a stale record (issue 15)."""

from __future__ import annotations

import json
import shutil

import pytest

from miakit.backends.hf import HFTokenScorer, LazyHFTokenScorer, ModelSpec
from miakit.backends.hf.tokenizer_facts import FactsStore, facts_of, tokenizer_file_names
from miakit.errors import InvalidParameterError, ModelLoadError


def lazy(folder, cache) -> LazyHFTokenScorer:
    scorer = LazyHFTokenScorer.load(
        ModelSpec(path=str(folder), device="cpu", fingerprint_cache=cache)
    )
    assert isinstance(scorer, LazyHFTokenScorer)
    return scorer


def eager(folder) -> HFTokenScorer:
    return HFTokenScorer.load(ModelSpec(path=str(folder), device="cpu"))


def records(cache) -> list:
    return sorted((cache / "tokenizers").glob("*.json"))


def test_facts_come_from_the_record_without_loading_the_tokenizer(tmp_path, tiny_model_dir):
    cache = tmp_path / "fp"
    reference = eager(tiny_model_dir)
    first = lazy(tiny_model_dir, cache)
    assert first.tokenizer_fingerprint == reference.tokenizer_fingerprint
    assert first.tokenizer.loaded  # no record yet: derived from the loaded tokenizer
    assert len(records(cache)) == 1
    second = lazy(tiny_model_dir, cache)
    assert second.tokenizer_fingerprint == reference.tokenizer_fingerprint
    for bos in ("auto", "always", "never"):
        assert second.lead_ids(bos) == reference.lead_ids(bos), bos
    assert second.lead_ids("auto") == [0]  # the tiny tokenizer's <s>: the facts are not empty
    with pytest.raises(InvalidParameterError, match="bos must be"):
        second.lead_ids("sometimes")
    assert not second.tokenizer.loaded and not second.loaded
    # first real use loads it, and it agrees with the record
    assert second.encode(["the cat"]) == reference.encode(["the cat"])
    assert second.tokenizer.loaded
    assert len(second.tokenizer) == len(reference.tokenizer)


def test_no_record_without_a_cache_folder(tiny_model_dir):
    scorer = lazy(tiny_model_dir, None)
    assert not scorer.tokenizer.loaded
    assert scorer.tokenizer_fingerprint == eager(tiny_model_dir).tokenizer_fingerprint
    assert scorer.tokenizer.loaded


def test_the_record_covers_every_file_but_the_weights(tiny_model_dir):
    names = tokenizer_file_names(tiny_model_dir)
    assert "tokenizer.json" in names and "tokenizer_config.json" in names
    assert "config.json" in names  # AutoTokenizer may read the model type from it
    assert not any(n.endswith(".safetensors") for n in names)


def test_editing_a_tokenizer_file_changes_the_record(tmp_path, tiny_model_dir):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    cache = tmp_path / "fp"
    before = lazy(folder, cache)
    old = (before.tokenizer_fingerprint, before.lead_ids("auto"))
    assert old[1] == [0]
    # drop the BOS post-processor, in place (same inode): lead ids and fingerprint change
    path = folder / "tokenizer.json"
    definition = json.loads(path.read_text())
    definition["post_processor"] = None
    with open(path, "r+", encoding="utf-8") as f:
        f.write(json.dumps(definition))
        f.truncate()
    after = lazy(folder, cache)
    new = (after.tokenizer_fingerprint, after.lead_ids("auto"))
    truth = eager(folder)
    assert new == (truth.tokenizer_fingerprint, truth.lead_ids("auto")) != old
    assert new[1] == []
    assert after.tokenizer.loaded  # derived again, not read from the old record
    assert len(records(cache)) == 2


@pytest.mark.parametrize("name", ["tokenizer_config.json", "config.json"])
def test_any_non_weight_file_keys_the_record(tmp_path, tiny_model_dir, name):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    key = FactsStore(folder, tmp_path / "fp").key
    path = folder / name
    path.write_text(path.read_text().rstrip() + "\n\n")
    assert FactsStore(folder, tmp_path / "fp").key != key


def test_a_record_that_disagrees_with_the_tokenizer_is_an_error(tmp_path, tiny_model_dir):
    cache = tmp_path / "fp"
    lazy(tiny_model_dir, cache).lead_ids("auto")
    (record,) = records(cache)
    data = json.loads(record.read_text())
    data["auto_lead"] = [7]
    record.write_text(json.dumps(data))
    scorer = lazy(tiny_model_dir, cache)
    assert scorer.lead_ids("auto") == [7]  # the record is trusted for its key...
    with pytest.raises(ModelLoadError, match="disagrees with its recorded facts"):
        scorer.encode(["the cat"])  # ...and checked whenever the tokenizer loads


def test_a_damaged_record_is_derived_again(tmp_path, tiny_model_dir):
    cache = tmp_path / "fp"
    truth = facts_of(eager(tiny_model_dir).tokenizer)
    lazy(tiny_model_dir, cache).lead_ids("auto")
    (record,) = records(cache)
    record.write_text("{not json")
    scorer = lazy(tiny_model_dir, cache)
    assert scorer.tokenizer_facts() == truth
    assert scorer.tokenizer.loaded
    assert FactsStore(tiny_model_dir, cache).read() == truth  # rewritten
