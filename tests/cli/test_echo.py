"""The command line prints a run's summary; the library does not (:mod:`miakit.cli._echo`)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pandas as pd
import pytest

from miakit._core.progress import print_messages
from miakit.blind import boxed
from miakit.cli._echo import print_summary, terminal_progress
from miakit.cli.main import main
from miakit.data import Label, Sample, SampleSet
from miakit.pipeline import RunResult
from miakit.report.table import leaderboard

MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Membership inference asks whether a text was in the training data.",
    "A language model assigns probabilities to sequences of tokens.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
]
NONMEMBERS = [
    "Quantum chromodynamics describes the strong interaction.",
    "Sourdough bread rises slowly because of wild yeast.",
    "Ok",  # too short for min_k: a one-line warning
    "Tax forms are due at the end of April in many countries.",
]


def write_jsonl(path: Path, texts: list[str], prefix: str) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"{prefix}{i}", "text": t}) + "\n")
    return str(path)


def run_args(tmp_path: Path, model_dir: Path, *extra: str) -> list[str]:
    m = write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")
    n = write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")
    args = ["run", "--model", str(model_dir), "--members", m, "--nonmembers", n]
    args += ["--out", str(tmp_path / "out"), "--no-cache", "--n-bootstrap", "20"]
    return [*args, "--no-progress", *extra]


def expected_summary(metrics: dict, out_dir: Path | None, boxed_warnings=()) -> tuple[str, str]:
    """stdout and stderr of ``miakit run``, as the runner printed them before the library
    stopped printing (the text is pinned here, independently of :mod:`miakit.cli._echo`)."""
    out = leaderboard(metrics["attacks"], blind=metrics.get("blind")) + "\n"
    err = "".join(
        boxed(w) + "\n" if w in boxed_warnings else f"warning: {w}\n" for w in metrics["warnings"]
    )
    skipped = metrics["skipped_attacks"]
    if skipped:
        err += "skipped: " + "; ".join(f"{k} ({v})" for k, v in sorted(skipped.items())) + "\n"
    if out_dir is not None:
        out += f"outputs written to {out_dir}\n"
    return out, err


def test_cli_run_prints_the_summary_as_before(tmp_path, tiny_model_dir, capsys):
    assert main(run_args(tmp_path, tiny_model_dir, "--attacks", "loss,min_k")) == 0
    captured = capsys.readouterr()
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert any("no score (NaN)" in w for w in metrics["warnings"])
    out, err = expected_summary(metrics, tmp_path / "out")
    assert captured.out == out
    assert captured.err.endswith(err)  # after what transformers may log while loading


def test_cli_prints_each_shard_even_without_progress_bars(tmp_path, tiny_model_dir, capsys):
    args = run_args(tmp_path, tiny_model_dir, "--attacks", "loss", "--shard-size", "3")
    assert main(args) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("[rank")]
    assert lines == [f"[rank 0/1] shard {i}: written" for i in range(3)]  # 8 texts, 3 a shard


def test_cli_prints_the_leaderboard_before_a_write_error(
    tmp_path, tiny_model_dir, capsys, monkeypatch
):
    import miakit.pipeline.outputs

    def full_disk(path, writer):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(miakit.pipeline.outputs, "atomic_write", full_disk)
    assert main(run_args(tmp_path, tiny_model_dir, "--attacks", "loss")) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("attack ") and "loss" in captured.out
    assert "outputs written" not in captured.out
    assert "miakit: error: could not write the results" in captured.err


def result_of(metrics: dict, out_dir: Path | None, boxed_warnings=()) -> RunResult:
    samples = SampleSet.of([Sample(id="m0", text="a", label=Label.MEMBER)])
    return RunResult(pd.DataFrame(), metrics, {}, samples, out_dir, boxed_warnings=boxed_warnings)


ATTACK = {
    "n": 4, "n_nan": 0, "n_members": 2, "n_nonmembers": 2, "auroc": 0.75,
    "auroc_ci": [0.5, 1.0], "tpr_at_fpr": {"0.001": 0.5, "0.01": 0.5, "0.05": 0.5},
    "tpr_at_fpr_ci": {"0.001": [0.0, 1.0], "0.01": [0.0, 1.0], "0.05": [0.0, 1.0]},
    "fpr_at_tpr_0.95": 0.5,
}  # fmt: skip


@pytest.mark.parametrize("out_dir", [Path("runs/x"), None])
def test_print_summary_boxes_the_loud_warnings(capsys, out_dir):
    shift = "members and non-members are distinguishable WITHOUT the model " * 3
    metrics = {
        "attacks": {"loss": ATTACK},
        "warnings": [shift, "1 sample(s) have no score (NaN) in min_k"],
        "skipped_attacks": {"reference": "needs --reference", "dc_pdd": "needs --frequency-corpus"},
    }
    print_summary(result_of(metrics, out_dir, boxed_warnings=(shift,)))
    captured = capsys.readouterr()
    out, err = expected_summary(metrics, out_dir, boxed_warnings=(shift,))
    assert (captured.out, captured.err) == (out, err)
    assert err.startswith("*" * 78 + "\n* WARNING: members and non-members")
    assert err.endswith(
        "skipped: dc_pdd (needs --frequency-corpus); reference (needs --reference)\n"
    )


def test_print_summary_is_silent_for_another_ranks_worker(capsys):
    print_summary(result_of({"worker_done": True}, None))
    assert capsys.readouterr() == ("", "")


def test_terminal_progress_keeps_the_shard_lines_without_bars():
    assert terminal_progress(True) is True
    assert terminal_progress(False) is print_messages
