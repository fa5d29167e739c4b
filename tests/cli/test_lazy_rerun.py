"""A rerun whose signals are all cached loads no model weights (issue 15)."""

from __future__ import annotations

import json

import pandas as pd
from transformers import AutoModelForCausalLM

from miakit.cli.main import main

MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Membership inference asks whether a text was in the training data.",
    "A language model assigns probabilities to sequences of tokens.",
    "In 1969, humans first walked on the Moon.",
]
NONMEMBERS = [
    "Quantum chromodynamics describes the strong interaction.",
    "Sourdough bread rises slowly because of wild yeast.",
    "The committee postponed the vote until next spring.",
    "Glaciers carve valleys over thousands of years.",
]


def test_cached_rerun_loads_no_weights(
    tmp_path,
    tiny_model_dir,
    tiny_reference_dir,
    monkeypatch,
):
    members = tmp_path / "members.jsonl"
    nonmembers = tmp_path / "nonmembers.jsonl"
    for path, texts, p in ((members, MEMBERS, "m"), (nonmembers, NONMEMBERS, "n")):
        rows = [json.dumps({"id": f"{p}{i}", "text": t}) for i, t in enumerate(texts)]
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    inputs = (members, nonmembers)
    calls: list[str] = []
    original = AutoModelForCausalLM.from_pretrained

    def counting(path, *args, **kwargs):
        calls.append(str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", counting)
    common = ["run", "--model", str(tiny_model_dir), "--members", str(inputs[0])]
    common += ["--nonmembers", str(inputs[1]), "--cache-dir", str(tmp_path / "cache")]
    common += ["--reference", str(tiny_reference_dir)]
    common += ["--attacks", "loss,min_k_plus_plus,reference", "--n-bootstrap", "100"]
    common += ["--no-progress"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    assert sorted(calls) == sorted([str(tiny_model_dir), str(tiny_reference_dir)])  # once each
    calls.clear()
    assert main([*common, "--out", str(tmp_path / "b")]) == 0
    assert calls == []  # every signal cached: no weights loaded
    a = pd.read_parquet(tmp_path / "a" / "scores.parquet")
    b = pd.read_parquet(tmp_path / "b" / "scores.parquet")
    pd.testing.assert_frame_equal(a, b)
    meta = [json.loads((tmp_path / d / "metrics.json").read_text())["setup"] for d in "ab"]
    models = [m.get("models") for m in meta]
    assert models[0] == models[1]
