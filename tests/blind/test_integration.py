"""The blind baselines and overlap checks inside a run: metrics.json, outputs, terminal."""

from __future__ import annotations

import json
from pydoc_data.topics import topics

import numpy as np
import pandas as pd
import pytest

from miakit.blind import boxed, evaluation_integrity
from miakit.cli.main import main
from miakit.config import make_config
from miakit.data import Label, Sample, SampleSet
from miakit.errors import InvalidParameterError
from miakit.report.table import leaderboard

BLIND = ["bag_of_words", "char_ngrams", "dates"]


def paragraphs(n: int, *, max_words: int = 1000) -> list[str]:
    """Paragraphs of Python's docs that share no word 8-gram (the docs have near-duplicates)."""
    out: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for key in sorted(topics):
        for p in topics[key].split("\n\n"):
            words = p.split()
            grams = {tuple(w.lower() for w in words[i : i + 8]) for i in range(len(words) - 7)}
            if len(words) >= 20 and not grams & seen:
                seen |= grams
                out.append(" ".join(words[:max_words]))
    return out[:n]


def sample_set(members: list[str], nonmembers: list[str]) -> SampleSet:
    return SampleSet.of(
        [Sample(id=f"m{i}", text=t, label=Label.MEMBER) for i, t in enumerate(members)]
        + [Sample(id=f"n{i}", text=t, label=Label.NONMEMBER) for i, t in enumerate(nonmembers)]
    )


def shifted_sets(n: int, *, max_words: int = 1000) -> tuple[list[str], list[str]]:
    texts = paragraphs(2 * n, max_words=max_words)
    rng = np.random.default_rng(0)
    members = [f"{t} Revised in {rng.integers(1990, 2006)}." for t in texts[:n]]
    nonmembers = [f"{t} Revised in {rng.integers(2024, 2027)}." for t in texts[n:]]
    return members, nonmembers


def test_integrity_on_a_random_split_is_quiet():
    texts = paragraphs(300)
    order = np.random.default_rng(1).permutation(len(texts))
    members = [texts[i] for i in order[:150]]
    nonmembers = [texts[i] for i in order[150:]]
    result = evaluation_integrity(sample_set(members, nonmembers), seed=0, n_resamples=200)
    assert result.blind_warning is None
    assert not any("distinguishable" in w for w in result.warnings)
    assert set(result.sections) == {"blind", "blind_summary", "overlap"}
    assert set(result.sections["blind"]) == set(BLIND)
    summary = result.sections["blind_summary"]
    assert set(summary) >= {"best", "best_auroc", "best_auroc_ci", "warning", "n_folds"}
    assert summary["warning"] is None and summary["n_folds"] == 5
    assert result.blind_scores is not None
    assert list(result.blind_scores.columns) == ["id", "label", *BLIND]
    json.dumps(result.sections)


def test_integrity_on_a_shifted_split_warns_first():
    members, nonmembers = shifted_sets(150)
    # plant 5 near-duplicates: 5 of 150 non-members (3.3% > 1%) copy a member, a word changed
    for i in range(5):
        words = members[i].split()
        words[3] = "CHANGED"
        nonmembers[i] = " ".join(words)
    result = evaluation_integrity(sample_set(members, nonmembers), seed=0, n_resamples=200)
    assert result.blind_warning is not None
    assert result.warnings[0] == result.blind_warning
    assert result.sections["blind_summary"]["warning"] == result.blind_warning
    assert result.sections["blind_summary"]["best_auroc_ci"][0] > 0.6
    overlap = result.sections["overlap"]
    assert overlap["n_near"] == 5 and overlap["n_exact"] == 0
    assert {(p["member_id"], p["nonmember_id"]) for p in overlap["pairs"]} == {
        (f"m{i}", f"n{i}") for i in range(5)
    }
    assert overlap["n"] == 13 and overlap["threshold"] == 0.5
    assert any("5 of 150 non-members" in w for w in result.warnings[1:])


def test_overlap_warning_follows_the_configured_fraction():
    texts = paragraphs(200)
    members, nonmembers = texts[:100], texts[100:]
    nonmembers[0] = members[0] + " And one more sentence at the end."  # 1 of 100 = 1%
    samples = sample_set(members, nonmembers)
    quiet = evaluation_integrity(samples, blind=False, overlap_warn_fraction=0.01)
    assert quiet.sections["overlap"]["n_near"] == 1 and not quiet.warnings  # 1% is not > 1%
    loud = evaluation_integrity(samples, blind=False, overlap_warn_fraction=0.005)
    assert len(loud.warnings) == 1 and "1 of 100 non-members (1.0%)" in loud.warnings[0]
    assert "blind" not in loud.sections and loud.blind_scores is None
    with pytest.raises(InvalidParameterError, match="overlap_warn_fraction"):
        evaluation_integrity(samples, overlap_warn_fraction=1.5)


def test_integrity_needs_both_classes():
    samples = SampleSet.of([Sample(id=f"m{i}", text="x y z", label=Label.MEMBER) for i in range(4)])
    result = evaluation_integrity(samples)
    assert result.sections == {} and result.warnings == [] and result.blind_scores is None


def test_run_config_fields():
    assert make_config({}).blind is True and make_config({}).overlap_warn_fraction == 0.01
    config = make_config({"blind": False, "overlap_warn_fraction": 0})
    assert config.blind is False and config.overlap_warn_fraction == 0.0
    assert isinstance(config.overlap_warn_fraction, float)
    with pytest.raises(InvalidParameterError, match="overlap_warn_fraction"):
        make_config({"overlap_warn_fraction": "1%"})
    with pytest.raises(InvalidParameterError, match="blind"):
        make_config({"blind": "no"})


def test_leaderboard_shows_blind_rows_marked_and_ranked():
    def m(auroc):
        return {"auroc": auroc, "auroc_ci": [auroc - 0.05, auroc + 0.05], "n": 10, "n_nan": 0}

    table = leaderboard({"loss": m(0.6), "min_k": m(0.8)}, blind={"dates": m(0.7)})
    body, footnote = table.split("\n\n")
    rows = [line.split()[0:2] for line in body.splitlines()[2:]]
    assert "too narrow" in footnote and "family-wise permutation p-value" in footnote
    assert [r[0] for r in rows] == ["min_k", "[blind]", "loss"]
    assert "[blind] dates" in table
    assert leaderboard({"loss": m(0.6)}) == leaderboard({"loss": m(0.6)}, blind=None)


def test_boxed_warning_is_framed_and_keeps_every_word():
    message = "members and non-members are distinguishable " * 5
    box = boxed(message)
    lines = box.splitlines()
    assert lines[0] == lines[-1] == "*" * 78
    assert all(len(line) == 78 and line.startswith("* ") for line in lines[1:-1])
    assert " ".join(" ".join(line[2:-2].split()) for line in lines[1:-1]).startswith("WARNING:")
    assert " ".join(box.split()).count("distinguishable") == 5


def write_jsonl(path, texts, prefix):
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"{prefix}{i}", "text": t}) + "\n")
    return path


def run_args(model_dir, members, nonmembers, out):
    args = ["run", "--model", str(model_dir), "--members", str(members)]
    args += ["--nonmembers", str(nonmembers), "--out", str(out), "--attacks", "loss"]
    return [*args, "--no-cache", "--no-progress", "--n-bootstrap", "100", "--max-length", "128"]


def test_cli_run_reports_blind_baselines_and_warns_on_shift(tmp_path, tiny_model_dir, capsys):
    members, nonmembers = shifted_sets(40, max_words=12)
    m = write_jsonl(tmp_path / "m.jsonl", members, "m")
    n = write_jsonl(tmp_path / "n.jsonl", nonmembers, "n")
    out = tmp_path / "out"
    assert main(run_args(tiny_model_dir, m, n, out)) == 0
    captured = capsys.readouterr()
    assert "[blind] dates" in captured.out and "loss" in captured.out
    assert "*" * 78 in captured.err and "WARNING:" in captured.err
    assert "warning: members and non-members" not in captured.err  # printed boxed, once

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["blind"]) == set(BLIND)
    assert set(metrics["blind"]["dates"]) == set(metrics["attacks"]["loss"])  # same shape
    summary = metrics["blind_summary"]
    assert summary["warning"] and metrics["warnings"][0] == summary["warning"]
    assert summary["best"] in BLIND and summary["best_auroc_ci"][0] > 0.6
    assert "overlap" in metrics

    scores = pd.read_parquet(out / "scores.parquet")
    assert list(scores.columns) == ["id", "label", "loss"]  # attacks only, as before
    blind = pd.read_parquet(out / "blind_scores.parquet")
    assert list(blind.columns) == ["id", "label", *BLIND]
    assert list(blind["id"]) == list(scores["id"])
    assert blind[BLIND].notna().all().all()


def test_cli_run_no_blind_omits_the_section(tmp_path, tiny_model_dir, capsys):
    members, nonmembers = shifted_sets(20, max_words=12)
    m = write_jsonl(tmp_path / "m.jsonl", members, "m")
    n = write_jsonl(tmp_path / "n.jsonl", nonmembers, "n")
    out = tmp_path / "out"
    assert main(run_args(tiny_model_dir, m, n, out)) == 0  # with: writes blind_scores.parquet
    assert (out / "blind_scores.parquet").exists()
    capsys.readouterr()
    assert main([*run_args(tiny_model_dir, m, n, out), "--no-blind"]) == 0
    captured = capsys.readouterr()
    assert "[blind]" not in captured.out and "WARNING:" not in captured.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert "blind" not in metrics and "blind_summary" not in metrics
    assert not any("WITHOUT the model" in w for w in metrics["warnings"])
    assert "overlap" in metrics  # the overlap check does not depend on --no-blind
    assert not (out / "blind_scores.parquet").exists()  # no stale file from the first run
    assert list(pd.read_parquet(out / "scores.parquet").columns) == ["id", "label", "loss"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--blind-alpha", "1.5"], "blind_alpha must be a number in (0, 1)"),
        (["--blind-alpha", "0"], "blind_alpha must be a number in (0, 1)"),
        (["--blind-alpha", "0.01", "--blind-permutations", "19"], "cannot be reached"),
        (["--blind-permutations", "-1"], "blind_permutations must be an integer >= 0"),
    ],
)
def test_cli_rejects_bad_blind_test_options_before_loading_anything(
    tmp_path, capsys, flags, message
):
    # neither the model nor the data exist: the option check must come first
    args = run_args(
        tmp_path / "no-model", tmp_path / "m.jsonl", tmp_path / "n.jsonl", tmp_path / "o"
    )
    assert main([*args, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_blind_alpha_config_key():
    assert make_config({}).blind_alpha == 0.05 and make_config({}).blind_permutations == 199
    assert make_config({"blind_alpha": 0.1}).blind_alpha == 0.1
    with pytest.raises(InvalidParameterError, match="blind_alpha"):
        make_config({"blind_alpha": "5%"})
