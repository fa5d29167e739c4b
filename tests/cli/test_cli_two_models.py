"""End to end: ``--observer``, ``--performer`` and ``--sampling-model`` on tiny model folders."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from miakit.attacks import default_registry
from miakit.cli.main import main
from tinymodels import build_llama

MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "In 1969, humans first walked on the Moon.",
    "the cat sat on the mat and the dog sat on the log",
]
NONMEMBERS = [
    "Sourdough bread rises slowly because of wild yeast.",
    "The committee postponed the vote until next spring.",
    "Glaciers carve valleys over thousands of years.",
    "Ok",
]
PAIRED = "binoculars,fast_detectgpt_ref"


@pytest.fixture(scope="session")
def tiny_observer_dir(tmp_path_factory, tokenizer) -> Path:
    """A second Llama with the target's tokenizer (other weights)."""
    path = tmp_path_factory.mktemp("tiny-llama-observer")
    build_llama(len(tokenizer), seed=3).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture()
def inputs(tmp_path):
    paths = []
    for name, texts in (("members", MEMBERS), ("nonmembers", NONMEMBERS)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text(
            "".join(
                json.dumps({"id": f"{name[0]}{i}", "text": t}) + "\n" for i, t in enumerate(texts)
            )
        )
        paths.append(str(path))
    return ["--members", paths[0], "--nonmembers", paths[1]]


def test_observer_and_sampling_model_end_to_end(
    tmp_path, tiny_model_dir, tiny_observer_dir, inputs
):
    common = ["run", "--model", str(tiny_model_dir), *inputs, "--no-progress"]
    common += ["--observer", str(tiny_observer_dir), "--sampling-model", str(tiny_observer_dir)]
    common += ["--attacks", f"loss,{PAIRED}", "--n-bootstrap", "50"]
    common += ["--cache-dir", str(tmp_path / "cache")]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    scores = pd.read_parquet(tmp_path / "a" / "scores.parquet")
    assert list(scores.columns) == ["id", "label", "loss", *PAIRED.split(",")]
    assert scores[PAIRED.split(",")].notna().all().all()
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["models"]["performer"]["alias_of"] == "target"  # no --performer
    assert metrics["models"]["observer"]["name"] == str(tiny_observer_dir)
    assert metrics["setup"]["observer"] == str(tiny_observer_dir)
    resolved = yaml.safe_load((tmp_path / "a" / "config.resolved.yaml").read_text())
    assert resolved["sampling_model"] == str(tiny_observer_dir)
    # the paired signals are cached too: a rerun scores nothing new, with identical results
    parts = sorted((tmp_path / "cache").rglob("part-*.parquet"))
    assert main([*common, "--out", str(tmp_path / "b")]) == 0
    assert sorted((tmp_path / "cache").rglob("part-*.parquet")) == parts
    pd.testing.assert_frame_equal(scores, pd.read_parquet(tmp_path / "b" / "scores.parquet"))


def test_performer_flag_and_yaml_keys(tmp_path, tiny_model_dir, tiny_observer_dir, inputs):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "model": str(tiny_model_dir),
                "observer": str(tiny_model_dir),
                "attacks": ["binoculars"],
                "no_cache": True,
                "n_bootstrap": 20,
                "progress": False,
            }
        )
    )
    out = tmp_path / "o"
    args = ["run", "--config", str(cfg), *inputs, "--out", str(out)]
    assert main([*args, "--performer", str(tiny_observer_dir)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["models"]["performer"]["name"] == str(tiny_observer_dir)
    assert metrics["models"]["observer"]["name"] == str(tiny_model_dir)


def test_all_attacks_run_when_every_model_is_given(
    tmp_path, tiny_model_dir, tiny_observer_dir, inputs, capsys
):
    args = ["run", "--model", str(tiny_model_dir), *inputs, "--no-progress", "--no-cache"]
    args += ["--observer", str(tiny_observer_dir), "--out", str(tmp_path / "o")]
    args += ["--n-bootstrap", "20"]
    assert main(args) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert "binoculars" in metrics["attacks"]
    assert metrics["skipped_attacks"]["fast_detectgpt_ref"] == "needs --sampling-model"
    assert "fast_detectgpt_ref (needs --sampling-model)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--attacks", "binoculars"], "attack 'binoculars' needs --observer"),
        (["--attacks", "fast_detectgpt_ref"], "attack 'fast_detectgpt_ref' needs --sampling-model"),
        (["--attacks", "binoculars", "--performer", "x"], "needs --observer"),
    ],
)
def test_missing_second_model_is_a_clear_error(
    tmp_path, tiny_model_dir, inputs, capsys, extra, message
):
    args = ["run", "--model", str(tiny_model_dir), *inputs, "--out", str(tmp_path / "o")]
    assert main([*args, "--no-cache", "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_observer_with_another_tokenizer_is_a_clear_error(
    tmp_path, tiny_model_dir, tiny_reference_dir, inputs, capsys
):
    args = ["run", "--model", str(tiny_model_dir), *inputs, "--out", str(tmp_path / "o")]
    args += ["--observer", str(tiny_reference_dir), "--attacks", "binoculars"]
    assert main([*args, "--no-cache", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "sharing a tokenizer" in err and str(tiny_reference_dir) in err
    assert "Traceback" not in err


def test_list_attacks_shows_what_each_attack_requires(capsys):
    assert main(["list", "attacks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["attack", "requires"]
    row = {line.split()[0]: line for line in lines[1:] if line.split()}
    assert "--observer, [--performer]" in row["binoculars"]
    assert "--sampling-model" in row["fast_detectgpt_ref"]
    assert "--reference" in row["reference"]
    assert row["loss"].split()[1] == "-"
    for spec in default_registry():
        assert spec.name in row
