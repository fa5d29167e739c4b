"""``miakit run`` with auxiliary inputs on tiny model folders, and the missing-flag errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from auxmodels import AUX_M, AUX_N, MEMBERS, NONMEMBERS, save_fill_mask_model, write_jsonl
from miakit.cli.main import main

CALIB = [
    "Membership inference asks whether a text was in the training data.",
    "The cat chased the dog around the garden.",
    "Quantum chromodynamics describes the strong interaction.",
    "Volcanoes erupt when pressure builds below the crust.",
]


@pytest.fixture(scope="module")
def fill_mask_dir(tmp_path_factory):
    return save_fill_mask_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture()
def data(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("the dog and the cat are friends", encoding="utf-8")
    write_jsonl(corpus / "b.jsonl", ["Berlin has many museums.", "Owls are birds."], "c")
    return {
        "members": write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m"),
        "nonmembers": write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n"),
        "aux_n": write_jsonl(tmp_path / "an.jsonl", AUX_N, "an"),
        "aux_m": write_jsonl(tmp_path / "am.jsonl", AUX_M, "am"),
        "calib": write_jsonl(
            tmp_path / "cal.jsonl", CALIB, "k", label=["member", "member", "nonmember", "nonmember"]
        ),
        "corpus": corpus,
    }


def base_args(tmp_path, model_dir, data) -> list[str]:
    args = ["run", "--model", str(model_dir), "--members", str(data["members"])]
    args += ["--nonmembers", str(data["nonmembers"]), "--cache-dir", str(tmp_path / "cache")]
    return [*args, "--n-bootstrap", "50", "--no-progress", "--no-blind"]


def test_run_with_every_auxiliary_input(tmp_path, tiny_model_dir, fill_mask_dir, data, capsys):
    out = tmp_path / "out"
    args = [*base_args(tmp_path, tiny_model_dir, data), "--out", str(out)]
    args += ["--aux-nonmembers", str(data["aux_n"]), "--aux-members", str(data["aux_m"])]
    args += ["--recall-shots", "2", "--recall-separator", "\n\n", "--calibrate", str(data["calib"])]
    args += ["--frequency-corpus", str(data["corpus"]), "--fill-mask-model", str(fill_mask_dir)]
    args += ["--neighbors", "2", "--neighbor-top-k", "5", "--neighbor-fraction", "0.3"]
    args += ["--attacks", "loss,recall,con_recall,dc_pdd,neighborhood"]
    assert main(args) == 0, capsys.readouterr().err
    scores = pd.read_parquet(out / "scores.parquet")
    assert list(scores.columns) == [
        "id",
        "label",
        "loss",
        "recall",
        "con_recall",
        "dc_pdd",
        "neighborhood",
    ]
    assert scores[["recall", "con_recall", "dc_pdd", "neighborhood"]].notna().all().all()
    metrics = json.loads((out / "metrics.json").read_text())
    prefixes = metrics["auxiliary"]["prefixes"]
    assert prefixes["recall_nonmember"]["n_shots"] == 2
    assert prefixes["recall_member"]["separator"] == "\n\n"
    assert metrics["auxiliary"]["frequency_corpus"]["n_documents"] == 3
    assert metrics["auxiliary"]["neighbors"]["neighborhood"]["perturber"]["kind"] == (
        "mlm_dropout_swap"
    )
    assert "con_recall.gamma" in metrics["calibration"]["chosen"]
    neighbors = pd.read_parquet(out / "neighbors.parquet")
    assert set(neighbors["id"]) == set(scores["id"]) and len(neighbors) == 2 * len(scores)
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["recall_shots"] == 2 and resolved["fill_mask_model"] == str(fill_mask_dir)
    # a second run reads the frequency table from the cache
    assert main([*args[:-2], "--attacks", "dc_pdd", "--out", str(tmp_path / "o2")]) == 0
    again = json.loads((tmp_path / "o2" / "metrics.json").read_text())
    assert again["auxiliary"]["frequency_corpus"]["from_cache"] is True


def test_yaml_config_keys(tmp_path, tiny_model_dir, data):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "model": str(tiny_model_dir),
                "members": str(data["members"]),
                "nonmembers": str(data["nonmembers"]),
                "aux_nonmembers": str(data["aux_n"]),
                "recall_shots": 3,
                "attacks": ["recall"],
                "out": str(tmp_path / "o"),
                "no_cache": True,
                "n_bootstrap": 20,
                "progress": False,
                "blind": False,
            }
        )
    )
    assert main(["run", "--config", str(cfg)]) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["auxiliary"]["prefixes"]["recall_nonmember"]["n_shots"] == 3
    cfg.write_text(cfg.read_text() + "recal_shots: 2\n")
    assert main(["run", "--config", str(cfg)]) == 2


@pytest.mark.parametrize(
    ("attacks", "message"),
    [
        ("recall", "attack 'recall' needs --aux-nonmembers"),
        ("con_recall", "attack 'con_recall' needs --aux-members, --aux-nonmembers"),
        ("dc_pdd", "attack 'dc_pdd' needs --frequency-corpus"),
    ],
)
def test_missing_flags_exit_2(tmp_path, tiny_model_dir, data, capsys, attacks, message):
    args = [*base_args(tmp_path, tiny_model_dir, data), "--out", str(tmp_path / "o")]
    assert main([*args, "--attacks", attacks]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_overlapping_aux_set_exits_2(tmp_path, tiny_model_dir, data, capsys):
    bad = write_jsonl(tmp_path / "bad.jsonl", [*AUX_N, MEMBERS[2].lower() + "!"], "b")
    args = [*base_args(tmp_path, tiny_model_dir, data), "--out", str(tmp_path / "o")]
    assert main([*args, "--aux-nonmembers", str(bad), "--attacks", "recall"]) == 2
    err = capsys.readouterr().err
    assert "'b3' ≈ evaluation 'm2' (normalised)" in err and "Traceback" not in err


@pytest.mark.parametrize("flag", ["--aux-nonmembers", "--aux-members", "--calibrate"])
def test_aux_text_holding_an_evaluation_text_exits_2(tmp_path, tiny_model_dir, data, capsys, flag):
    """An evaluation text plus one sentence is no equal string but is refused (exit 2), with
    the pair named: the WikiMIA case of prefixes drawn from a longer split."""
    target, eval_id = (NONMEMBERS[1], "n1") if flag == "--aux-members" else (MEMBERS[1], "m1")
    texts = [*CALIB, target + " It has many museums."]
    labels = {"label": ["member", "member", "nonmember", "nonmember", "member"]}
    bad = write_jsonl(
        tmp_path / "bad.jsonl", texts, "b", **(labels if flag == "--calibrate" else {})
    )
    args = [*base_args(tmp_path, tiny_model_dir, data), "--out", str(tmp_path / "o")]
    args += ["--recall-shots", "2"]
    attacks = "con_recall" if flag == "--calibrate" else "recall,con_recall"
    if flag != "--aux-nonmembers":
        args += ["--aux-nonmembers", str(data["aux_n"])]
    if flag != "--aux-members":
        args += ["--aux-members", str(data["aux_m"])]
    assert main([*args, flag, str(bad), "--attacks", attacks]) == 2
    err = capsys.readouterr().err
    assert f"'b4' (bad.jsonl:5) contains evaluation '{eval_id}'" in err, err
    assert "containment 1.00" in err and "Traceback" not in err


def test_list_attacks_shows_requirements(capsys):
    assert main(["list", "attacks"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    assert "--aux-nonmembers" in rows["recall"]
    assert "--aux-members" in rows["con_recall"] and "gamma=1.0" in rows["con_recall"]
    assert "--frequency-corpus" in rows["dc_pdd"] and "extra:token_frequency" in rows["dc_pdd"]
    assert "[--attacks]" in rows["neighborhood"]
