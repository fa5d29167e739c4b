"""``neighborhood`` (the paper's masked-LM generator) and ``neighborhood_causal`` (a variant),
through ``miakit run``: which generator runs, and that the variant is visibly named."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from auxmodels import MEMBERS, NONMEMBERS, save_fill_mask_model, write_jsonl
from miakit.cli.main import main


@pytest.fixture(scope="module")
def fill_mask_dir(tmp_path_factory):
    return save_fill_mask_model(tmp_path_factory.mktemp("tiny-bert"))


def args_for(tmp_path, model_dir) -> list[str]:
    members = write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")
    nonmembers = write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")
    args = ["run", "--model", str(model_dir), "--members", str(members)]
    args += ["--nonmembers", str(nonmembers), "--cache-dir", str(tmp_path / "cache")]
    return [*args, "--n-bootstrap", "20", "--no-progress", "--no-blind", "--neighbors", "3"]


def one_word_changed(text: str, neighbor: str) -> bool:
    old, new = re.findall(r"\w+", text), re.findall(r"\w+", neighbor)
    same_rest = re.sub(r"\w+", "W", text) == re.sub(r"\w+", "W", neighbor)
    if not same_rest or len(old) != len(new):
        return False
    return sum(a != b for a, b in zip(old, new, strict=True)) == 1


def test_fill_mask_model_gives_the_papers_generator(tmp_path, tiny_model_dir, fill_mask_dir):
    out = tmp_path / "out"
    args = [*args_for(tmp_path, tiny_model_dir), "--fill-mask-model", str(fill_mask_dir)]
    assert main([*args, "--attacks", "neighborhood", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    info = metrics["auxiliary"]["neighbors"]["neighborhood"]
    assert info["perturber"]["kind"] == "mlm_dropout_swap"
    assert info["perturber"]["dropout"] == 0.7 and info["generator"].startswith("paper")
    table = pd.read_parquet(out / "neighbors.parquet")
    assert list(table.columns) == ["attack", "id", "neighbor_index", "text", "nll"]
    assert set(table["attack"]) == {"neighborhood"}
    texts = dict(
        zip([f"m{i}" for i in range(4)] + [f"n{i}" for i in range(4)], MEMBERS + NONMEMBERS)
    )
    assert len(table) == 3 * len(texts)
    for sid, neighbor in zip(table["id"], table["text"], strict=True):
        assert one_word_changed(texts[sid], neighbor), (texts[sid], neighbor)


def test_causal_variant_is_named_in_scores_metrics_and_report(tmp_path, tiny_model_dir):
    out = tmp_path / "out"
    args = [*args_for(tmp_path, tiny_model_dir), "--attacks", "loss,neighborhood_causal"]
    assert main([*args, "--out", str(out)]) == 0
    scores = pd.read_parquet(out / "scores.parquet")
    assert list(scores.columns) == ["id", "label", "loss", "neighborhood_causal"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["attacks"]) == {"loss", "neighborhood_causal"}
    info = metrics["auxiliary"]["neighbors"]["neighborhood_causal"]
    assert info["perturber"]["kind"] == "causal_lm"
    assert info["generator"].startswith("variant, not the paper's")
    assert set(pd.read_parquet(out / "neighbors.parquet")["attack"]) == {"neighborhood_causal"}
    report = (out / "report.html").read_text()
    assert "neighborhood_causal" in report and "variant, not the paper&#39;s" in report


def test_neighborhood_without_a_masked_lm_exits_2(tmp_path, tiny_model_dir, capsys):
    args = [*args_for(tmp_path, tiny_model_dir), "--attacks", "neighborhood"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "attack 'neighborhood' needs --fill-mask-model" in err and "Traceback" not in err


def test_list_attacks_marks_the_variant(capsys):
    assert main(["list", "attacks"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    assert "--fill-mask-model" in rows["neighborhood"]
    assert "VARIANT, not the paper's generator" in rows["neighborhood_causal"]
    assert "--fill-mask-model" not in rows["neighborhood_causal"]


def test_both_in_one_run_keep_their_own_neighbors(tmp_path, tiny_model_dir, fill_mask_dir):
    out = tmp_path / "out"
    args = [*args_for(tmp_path, tiny_model_dir), "--fill-mask-model", str(fill_mask_dir)]
    attacks = "loss,neighborhood,neighborhood_causal"
    assert main([*args, "--attacks", attacks, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    kinds = {a: v["perturber"]["kind"] for a, v in metrics["auxiliary"]["neighbors"].items()}
    assert kinds == {"neighborhood": "mlm_dropout_swap", "neighborhood_causal": "causal_lm"}
    table = pd.read_parquet(out / "neighbors.parquet")
    assert table.groupby("attack").size().to_dict() == {
        "neighborhood": 24,
        "neighborhood_causal": 24,
    }
    scores = pd.read_parquet(out / "scores.parquet").set_index("id")
    for attack in ("neighborhood", "neighborhood_causal"):  # each from its own neighbors
        mean_nbr = table[(table["attack"] == attack) & (table["id"] == "m0")]["nll"].mean()
        nll = -scores.loc["m0", "loss"]
        assert scores.loc["m0", attack] == pytest.approx(mean_nbr - nll, rel=1e-6)
