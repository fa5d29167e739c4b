"""End to end: ``miakit run --attacks ez_mia,pac`` on tiny model folders (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from miakit.cli.main import main
from tinymodels import build_gpt2, build_llama, build_tokenizer

MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "the cat sat on the mat and the dog sat on the log",
]
NONMEMBERS = [
    "Sourdough bread rises slowly because of wild yeast.",
    "Glaciers carve valleys over thousands of years.",
    "Ok",  # one word: PAC has nothing to swap
]


def _folder(path: Path, model, tokenizer) -> str:
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture()
def inputs(tmp_path) -> list[str]:
    paths = []
    for name, texts in (("members", MEMBERS), ("nonmembers", NONMEMBERS)):
        path = tmp_path / f"{name}.jsonl"
        lines = (json.dumps({"id": f"{name[0]}{i}", "text": t}) for i, t in enumerate(texts))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(str(path))
    return ["--members", paths[0], "--nonmembers", paths[1], "--no-progress"]


def test_ez_mia_and_pac_run_from_the_command_line(tmp_path, tiny_model_dir, tokenizer, inputs):
    base = _folder(tmp_path / "base", build_llama(len(tokenizer), seed=3), tokenizer)
    args = ["run", "--model", str(tiny_model_dir), "--reference", base, *inputs]
    args += ["--attacks", "ez_mia,pac", "--param", "pac.augmentations=2", "--n-bootstrap", "20"]
    assert main([*args, "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c")]) == 0
    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet").set_index("id")
    assert list(scores.columns) == ["label", "ez_mia", "pac"]
    assert scores["ez_mia"].notna().all() and scores["ez_mia"].between(0, 1).all()
    assert scores["pac"].drop("n2").notna().all() and pd.isna(scores.loc["n2", "pac"])
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    [nan] = metrics["samples"]["nan"]["pac"]
    assert nan["id"] == "n2" and "fewer than two" in nan["reason"]
    assert metrics["auxiliary"]["pac_augmentations"]["m"] == 2
    assert {"ez_mia", "pac"} <= set(metrics["attacks"])


def test_ez_mia_refuses_a_reference_with_another_tokenizer(
    tmp_path, tiny_model_dir, inputs, capsys
):
    other = build_tokenizer(bos=False, vocab_size=300)
    ref = _folder(tmp_path / "gpt2", build_gpt2(len(other)), other)
    args = ["run", "--model", str(tiny_model_dir), "--reference", ref, *inputs]
    code = main([*args, "--attacks", "ez_mia", "--out", str(tmp_path / "out"), "--no-cache"])
    assert code != 0
    assert "sharing a tokenizer" in capsys.readouterr().err
