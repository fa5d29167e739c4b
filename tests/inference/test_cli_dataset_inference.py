"""``miakit dataset-inference`` end to end on a tiny in-process model, and its error paths."""

from __future__ import annotations

import json
from pydoc_data.topics import topics
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest

import miakit
from miakit.cli.main import main


def _paragraphs() -> list[str]:
    out = []
    for key in sorted(topics):
        for p in topics[key].split("\n\n"):
            p = " ".join(p.split())
            if 20 <= len(p.split()) <= 60:
                out.append(p)
    texts = list(dict.fromkeys(out))
    return [texts[i] for i in np.random.default_rng(0).permutation(len(texts))[:60]]


def _write(path, texts, prefix, extra=None):
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            row = {"id": f"{prefix}{i}", "text": t, **(extra or {})}
            f.write(json.dumps(row) + "\n")
    return path


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("di-sets")
    texts = _paragraphs()
    # a label column that contradicts the role must not matter: the flag gives the role
    return (
        _write(folder / "suspect.jsonl", texts[:30], "s", {"label": "nonmember"}),
        _write(folder / "validation.jsonl", texts[30:], "v"),
    )


FAST = ["--permutations", "199", "--power-repeats", "1", "--ci-resamples", "20"]
FAST += ["--max-length", "48", "--no-progress", "--alpha", "0.01"]


def test_end_to_end_then_reuse_the_scores(tmp_path, tiny_model_dir, sets, capsys):
    out = tmp_path / "di"
    args = ["dataset-inference", "--model", str(tiny_model_dir), "--suspect", str(sets[0])]
    args += ["--validation", str(sets[1]), "--out", str(out), *FAST]
    args += ["--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "verdict: " in printed and "p-value: " in printed
    d = json.loads((out / "dataset_inference.json").read_text())
    # a random model on one corpus split at random: no evidence (and a valid p-value)
    assert d["verdict"] == "not_detected" and d["alpha"] == 0.01
    assert 0 < d["p_value"] <= 1 and d["method"]["name"] == "permutation"
    assert d["assumption_checks"]["withhold"] is False
    assert d["n_suspect"] == 30 and d["n_validation"] == 30
    assert {"loss", "zlib", "min_k"} <= set(d["features"]) and set(d["weights"]) == set(
        d["features"]
    )
    assert d["p_value_by_n"][-1]["n_per_set"] == 30
    assert "attacks" not in d  # not presented as a labelled membership evaluation
    scores = pd.read_parquet(out / "scores.parquet")
    assert list(scores.columns[:4]) == ["id", "set", "fold", "combined_score"]
    assert scores["set"].tolist() == ["suspect"] * 30 + ["validation"] * 30
    assert "label" not in scores.columns
    assert not (out / "metrics.json").exists()
    page = (out / "dataset_inference.html").read_text()
    assert "verdict" in page and "not_detected" in page and "How many texts" in page
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    root = ElementTree.fromstring(svg)  # well-formed, self-contained
    ns = "{http://www.w3.org/2000/svg}"
    line = root.find(f"{ns}polyline")
    assert line is not None
    assert len(line.get("points", "").split()) == len(d["p_value_by_n"])
    assert len(root.findall(f"{ns}circle")) == sum(len(r["p_values"]) for r in d["p_value_by_n"])

    # the same numbers from the saved attack scores, with no model
    again = tmp_path / "again"
    args = ["dataset-inference", "--scores", str(out / "scores.parquet"), "--suspect"]
    args += [str(sets[0]), "--validation", str(sets[1]), "--out", str(again), *FAST]
    assert main(args) == 0
    d2 = json.loads((again / "dataset_inference.json").read_text())
    assert d2["p_value"] == d["p_value"] and d2["weights"] == d["weights"]
    assert d2["scoring"] == {"source": str(out / "scores.parquet"), "unit": "text"}


def test_python_api_matches(tiny_model_dir, sets, tmp_path):
    r = miakit.dataset_inference(
        model=str(tiny_model_dir),
        suspect=sets[0],
        validation=sets[1],
        n_permutations=199,
        power_repeats=0,
        n_resamples=0,
        max_length=48,
        cache_dir=str(tmp_path / "cache"),
    )
    assert r.verdict in ("member", "not_detected") and r.power == []
    assert r.effect["auroc_ci"] is None and "models" in r.scoring


def test_a_shifted_pair_is_withheld_without_loading_a_model(tmp_path, sets, capsys):
    texts = _paragraphs()
    old = _write(tmp_path / "old.jsonl", [f"{t} Revised in 1998." for t in texts[:30]], "o")
    new = _write(tmp_path / "new.jsonl", [f"{t} Revised in 2025." for t in texts[30:]], "n")
    out = tmp_path / "di"
    args = ["dataset-inference", "--model", str(tmp_path / "no-such-model"), "--suspect"]
    args += [str(old), "--validation", str(new), "--out", str(out), *FAST]
    assert main(args) == 0  # a withheld verdict is a result, not an error
    d = json.loads((out / "dataset_inference.json").read_text())
    assert d["verdict"] == "withheld" and d["p_value"] is None
    assert "differ without the model" in d["reason"] and "'dates'" in d["reason"]
    assert "verdict: withheld" in capsys.readouterr().out
    assert not (out / "scores.parquet").exists()
    page = (out / "dataset_inference.html").read_text()
    assert "null (withheld)" in page and "<svg" not in page


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file"),
        ("few", "at least 10 suspect and 10 validation texts; got 4 suspect texts"),
        ("both", "not both"),
        ("neither", "no scores: pass --model"),
        ("scores", "must hold each suspect and validation id exactly once"),
        ("shared_ids", "in both the suspect and the validation file"),
        ("alpha", "cannot be reached with 49 permutations"),
        ("out", "--out"),
    ],
)
def test_errors_name_the_fix(tmp_path, sets, tiny_model_dir, capsys, case, message):
    suspect, validation = str(sets[0]), str(sets[1])
    extra = ["--model", str(tiny_model_dir)]
    if case == "missing":
        suspect = str(tmp_path / "nope.jsonl")
    elif case == "few":
        suspect = str(_write(tmp_path / "few.jsonl", _paragraphs()[:4], "f"))
    elif case == "both":
        extra += ["--scores", str(tmp_path / "s.parquet")]
    elif case == "neither":
        extra = []
    elif case == "scores":
        pd.DataFrame({"id": ["s0", "v0"], "loss": [1.0, 2.0]}).to_parquet(tmp_path / "s.parquet")
        extra = ["--scores", str(tmp_path / "s.parquet")]
    elif case == "shared_ids":
        validation = str(_write(tmp_path / "v.jsonl", _paragraphs()[30:], "s"))
    elif case == "alpha":
        extra += ["--permutations", "49"]
    elif case == "out":  # a file where the output folder should be: refused before any work
        (tmp_path / "taken").write_text("")
        extra += ["--out", str(tmp_path / "taken")]
    args = ["dataset-inference", "--suspect", suspect, "--validation", validation, *extra]
    assert main([*args, "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def _write_docs(path, texts, prefix, per_doc):
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"{prefix}{i}", "doc_id": f"{prefix}d{i // per_doc}",
                                "text": t}) + "\n")  # fmt: skip
    return path


def test_texts_sharing_a_doc_id_are_tested_as_one_document(tmp_path, tiny_model_dir):
    """Texts of one document are not independent: the unit of the test is the document, its
    features the per-document aggregates of each attack (the run's documents table)."""
    texts = _paragraphs()
    s = _write_docs(tmp_path / "s.jsonl", texts[:24], "s", 2)
    v = _write_docs(tmp_path / "v.jsonl", texts[24:48], "v", 2)
    out = tmp_path / "di"
    args = ["dataset-inference", "--model", str(tiny_model_dir), "--suspect", str(s)]
    args += ["--validation", str(v), "--out", str(out), *FAST]
    args += ["--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    d = json.loads((out / "dataset_inference.json").read_text())
    assert d["n_suspect"] == 12 and d["n_validation"] == 12
    assert d["scoring"]["unit"] == "document"
    assert {"loss:mean", "loss:min", "loss:max"} <= set(d["features"])
    assert not any(f.endswith(":n_scored") for f in d["features"])
    table = pd.read_parquet(out / "scores.parquet")
    assert table["id"].tolist() == [f"sd{i}" for i in range(12)] + [f"vd{i}" for i in range(12)]
    # the same from the table written, with no model
    again = tmp_path / "again"
    args = ["dataset-inference", "--scores", str(out / "scores.parquet"), "--suspect", str(s)]
    args += ["--validation", str(v), "--out", str(again), *FAST]
    assert main(args) == 0
    assert json.loads((again / "dataset_inference.json").read_text())["p_value"] == d["p_value"]


def test_token_windows_of_long_texts_are_one_document(tmp_path, tiny_model_dir):
    texts = _paragraphs()
    s = _write(tmp_path / "s.jsonl", texts[:12], "s")
    v = _write(tmp_path / "v.jsonl", texts[12:24], "v")
    out = tmp_path / "di"
    args = ["dataset-inference", "--model", str(tiny_model_dir), "--suspect", str(s)]
    args += ["--validation", str(v), "--out", str(out), *FAST, "--doc-window", "16"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--blind-permutations", "19"]
    assert main(args) == 0
    d = json.loads((out / "dataset_inference.json").read_text())
    assert d["n_suspect"] == 12 and d["scoring"]["unit"] == "document"
    assert d["verdict"] in ("member", "not_detected", "withheld")


def test_a_document_in_both_sets_is_refused(tmp_path, tiny_model_dir, capsys):
    texts = _paragraphs()
    s = _write_docs(tmp_path / "s.jsonl", texts[:24], "x", 2)
    v = _write_docs(tmp_path / "v.jsonl", texts[24:48], "x", 2)
    rows = [json.loads(line) for line in v.read_text().splitlines()]  # the suspect's doc_ids
    for r in rows:
        r["id"] = "v" + r["id"]
    with open(v, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    args = ["dataset-inference", "--model", str(tiny_model_dir), "--suspect", str(s)]
    args += ["--validation", str(v), "--no-progress"]
    assert main(args) == 2
    assert "have texts in both the suspect and the validation file" in capsys.readouterr().err
