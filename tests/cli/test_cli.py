"""End-to-end: the ``miakit`` command on a tiny model folder, and its error paths."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from miakit.attacks import default_registry
from miakit.cli.main import main

MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Membership inference asks whether a text was in the training data.",
    "A language model assigns probabilities to sequences of tokens.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "In 1969, humans first walked on the Moon.",
    "the cat sat on the mat and the dog sat on the log",
]
NONMEMBERS = [
    "Quantum chromodynamics describes the strong interaction.",
    "Sourdough bread rises slowly because of wild yeast.",
    "The committee postponed the vote until next spring.",
    "Glaciers carve valleys over thousands of years.",
    "Ok",
    "Tax forms are due at the end of April in many countries.",
]


def write_jsonl(path, texts, prefix):
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"{prefix}{i}", "text": t}) + "\n")
    return path


@pytest.fixture()
def inputs(tmp_path):
    return (
        write_jsonl(tmp_path / "members.jsonl", MEMBERS, "m"),
        write_jsonl(tmp_path / "nonmembers.jsonl", NONMEMBERS, "n"),
    )


def test_run_writes_all_outputs(tmp_path, tiny_model_dir, tiny_reference_dir, inputs, capsys):
    out = tmp_path / "out"
    args = ["run", "--model", str(tiny_model_dir), "--members", str(inputs[0])]
    args += ["--nonmembers", str(inputs[1]), "--reference", str(tiny_reference_dir)]
    args += ["--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--n-bootstrap", "200"]
    args += ["--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "AUROC" in printed and "min_k_plus_plus" in printed

    scores = pd.read_parquet(out / "scores.parquet")
    # attacks that need inputs not given here are skipped (and say why), the rest all run
    skipped = json.loads((out / "metrics.json").read_text())["skipped_attacks"]
    assert skipped["binoculars"] == "needs --observer"
    names = [n for n in default_registry().names() if n not in skipped]
    assert list(scores.columns) == ["id", "label", *names]
    assert len(scores) == 12
    assert set(scores["label"]) == {"member", "nonmember"}
    for name in names:
        assert scores[name].dtype == "float64"

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["attacks"]) == set(names)
    m = metrics["attacks"]["loss"]
    for key in (
        "n",
        "n_nan",
        "auroc",
        "auroc_ci",
        "tpr_at_fpr",
        "tpr_at_fpr_ci",
        "fpr_at_tpr_0.95",
    ):
        assert key in m
    assert set(m["tpr_at_fpr"]) == {"0.001", "0.01", "0.05"}
    # "Ok" is too short for min_k: NaN, counted and explained, never dropped
    assert metrics["attacks"]["min_k"]["n_nan"] >= 1
    reasons = {r["id"]: r["reason"] for r in metrics["samples"]["nan"]["min_k"]}
    assert "n4" in reasons and "too short" in reasons["n4"]
    assert metrics["attacks"]["min_k"]["n"] == 12

    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["model"] == str(tiny_model_dir) and resolved["n_bootstrap"] == 200
    samples = pd.read_parquet(out / "samples.parquet")
    assert list(samples["id"]) == list(scores["id"])


def test_rerun_uses_cache_and_gives_identical_scores(tmp_path, tiny_model_dir, inputs):
    common = ["run", "--model", str(tiny_model_dir), "--members", str(inputs[0])]
    common += ["--nonmembers", str(inputs[1]), "--cache-dir", str(tmp_path / "cache")]
    common += ["--attacks", "loss,min_k_plus_plus", "--n-bootstrap", "100", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    parts = sorted((tmp_path / "cache").rglob("part-*.parquet"))
    assert parts
    assert main([*common, "--out", str(tmp_path / "b")]) == 0
    assert sorted((tmp_path / "cache").rglob("part-*.parquet")) == parts  # nothing new scored
    a = pd.read_parquet(tmp_path / "a" / "scores.parquet")
    b = pd.read_parquet(tmp_path / "b" / "scores.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_config_file_and_flag_override(tmp_path, tiny_model_dir, inputs):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "model": str(tiny_model_dir),
                "members": str(inputs[0]),
                "nonmembers": str(inputs[1]),
                "attacks": ["min_k"],
                "attack_params": {"min_k": {"k": 0.5}},
                "out": str(tmp_path / "from-config"),
                "no_cache": True,
                "n_bootstrap": 100,
                "progress": False,
            }
        )
    )
    out = tmp_path / "from-flag"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--param", "min_k.k=0.25"]) == 0
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["attack_params"] == {"min_k": {"k": 0.25}}
    assert not (tmp_path / "from-config").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--attacks", "min_kk"], "Did you mean 'min_k'"),
        (["--attacks", "reference"], "needs --reference"),
        (["--param", "min_k.kk=0.1", "--attacks", "min_k"], "Did you mean 'k'"),
        (["--param", "min_k.k=2.0", "--attacks", "min_k"], "k"),
        (["--blind-permutations", "-1"], "blind_permutations must be an integer >= 0"),
    ],
)
def test_usage_errors_exit_2_without_traceback(
    tmp_path, tiny_model_dir, inputs, capsys, extra, message
):
    args = ["run", "--model", str(tiny_model_dir), "--members", str(inputs[0])]
    args += ["--nonmembers", str(inputs[1]), "--out", str(tmp_path / "o"), "--no-cache"]
    args += ["--no-progress", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unknown_config_key_suggests(tmp_path, tiny_model_dir, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model: x\nmax_lenght: 10\nmembrs: a.jsonl\n")
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'max_length'" in err and "Did you mean 'members'" in err


def test_data_errors_exit_2(tmp_path, tiny_model_dir, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": "   "}\n')
    good = write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")
    args = ["run", "--model", str(tiny_model_dir), "--members", str(bad), "--nonmembers"]
    assert main([*args, str(good), "--out", str(tmp_path / "o"), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "'b'" in err or " b " in err or "b:" in err or "id b" in err
    assert "Traceback" not in err


def test_overlap_refused_then_allowed_and_reported(tmp_path, tiny_model_dir, capsys):
    m = write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")
    n = write_jsonl(tmp_path / "n.jsonl", [*NONMEMBERS, MEMBERS[0]], "n")
    args = ["run", "--model", str(tiny_model_dir), "--members", str(m), "--nonmembers", str(n)]
    args += ["--out", str(tmp_path / "o"), "--no-cache", "--attacks", "loss", "--no-progress"]
    args += ["--n-bootstrap", "50"]
    assert main(args) == 2
    assert "--allow-overlap" in capsys.readouterr().err
    assert main([*args, "--allow-overlap"]) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["samples"]["overlaps"]


def test_missing_model_is_a_clear_error(tmp_path, inputs, capsys):
    args = ["run", "--model", str(tmp_path / "nope"), "--members", str(inputs[0])]
    assert main([*args, "--nonmembers", str(inputs[1]), "--no-cache"]) == 2
    assert "never downloads" in capsys.readouterr().err


def test_list_attacks(capsys):
    assert main(["list", "attacks"]) == 0
    out = capsys.readouterr().out
    for spec in default_registry():
        assert spec.name in out and spec.paper in out
    assert "k=0.2" in out


def test_blind_permutation_test_reaches_metrics_and_report(tmp_path, tiny_model_dir, inputs):
    from miakit.report.html import write_report

    out = tmp_path / "o"
    args = ["run", "--model", str(tiny_model_dir), "--members", str(inputs[0])]
    args += ["--nonmembers", str(inputs[1]), "--out", str(out), "--no-cache", "--no-progress"]
    args += ["--attacks", "loss", "--n-bootstrap", "50", "--blind-permutations", "9"]
    assert main([*args, "--blind-alpha", "0.1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["setup"]["blind_permutations"] == 9 and metrics["setup"]["blind_alpha"] == 0.1
    summary = metrics["blind_summary"]  # one family-wise p for all baselines
    assert summary["n_permutations"] == 9 and summary["alpha"] == 0.1
    assert summary["permutation_p"] in {k / 10 for k in range(1, 11)}
    assert summary["test_best"] == summary["best"] and "too narrow" in summary["interval_note"]
    assert all("permutation_p" not in m for m in metrics["blind"].values())
    html = write_report(out).read_text()
    assert "family-wise p = " in html and "9 permutations;" in html and "too narrow" in html
