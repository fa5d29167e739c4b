"""What a new user hits on real inputs: a bad ``--out``, impossible hyperparameters, attacks
that score nothing, and warnings that must name the samples they are about."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from miakit.backends.hf import HFTokenScorer, LazyHFTokenScorer
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
#: every text at most 4 UTF-8 bytes, so at most 5 tokens by the up-front bound (bytes + 1):
#: enough for Min-K's default k=0.2 (5 tokens) to be tried, not for win_k's (7 tokens)
SHORT_MEMBERS = ["cat", "sat", "dog", "log", "the", "mat"]
SHORT_NONMEMBERS = ["Ok", "Hi", "Yes", "No", "Tax", "Fine"]


def write_jsonl(path: Path, texts: list[str], prefix: str) -> Path:
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


@pytest.fixture()
def short_inputs(tmp_path):
    return (
        write_jsonl(tmp_path / "short_members.jsonl", SHORT_MEMBERS, "m"),
        write_jsonl(tmp_path / "short_nonmembers.jsonl", SHORT_NONMEMBERS, "n"),
    )


@pytest.fixture()
def loads(monkeypatch):
    """Counts model loads (``LazyHFTokenScorer.load``, what the pipeline calls)."""
    count = {"n": 0}
    real = LazyHFTokenScorer.load.__func__  # type: ignore[attr-defined]

    def counting(cls, spec, *, name=None):
        count["n"] += 1
        return real(cls, spec, name=name)

    monkeypatch.setattr(LazyHFTokenScorer, "load", classmethod(counting))
    return count


@pytest.fixture()
def forwards(monkeypatch):
    """Counts forward passes (``HFTokenScorer.hidden_states``)."""
    count = {"n": 0}
    real = HFTokenScorer.hidden_states

    def counting(self, *args, **kwargs):
        count["n"] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(HFTokenScorer, "hidden_states", counting)
    return count


def run_args(model, inputs, out, cache, *extra):
    args = ["run", "--model", str(model), "--members", str(inputs[0])]
    args += ["--nonmembers", str(inputs[1]), "--out", str(out), "--cache-dir", str(cache)]
    return [*args, "--n-bootstrap", "50", "--no-progress", *extra]


# -- a bad --out -------------------------------------------------------------------------


def test_out_through_a_file_exits_2_before_any_model_loads(tmp_path, inputs, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    out = blocker / "out"
    # the model does not exist: had the run got as far as loading it, that would be the error
    args = run_args(tmp_path / "no-such-model", inputs, out, tmp_path / "cache")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "never downloads" not in err
    assert "--out" in err and str(out) in err and "a-file" in err


def test_unwritable_cache_dir_exits_2_before_any_model_loads(tmp_path, inputs, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    args = run_args(tmp_path / "no-such-model", inputs, tmp_path / "out", blocker / "cache")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--cache-dir" in err and "--no-cache" in err and "never downloads" not in err


def test_read_only_out_exits_2_before_any_model_loads(
    tmp_path, tiny_model_dir, inputs, capsys, monkeypatch, loads
):
    # tests run as root, where chmod does not stop writes: simulate a read-only mount
    read_only = tmp_path / "ro"
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(read_only)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    args = run_args(tiny_model_dir, inputs, read_only / "out", tmp_path / "cache")
    assert main([*args, "--attacks", "loss"]) == 2
    err = capsys.readouterr().err
    assert "Read-only file system" in err and "--out" in err and "Traceback" not in err
    assert loads["n"] == 0


def test_failure_while_writing_keeps_the_signals_and_exits_2(
    tmp_path, tiny_model_dir, inputs, capsys, monkeypatch, forwards
):
    import miakit.pipeline.outputs

    real_atomic_write = miakit.pipeline.outputs.atomic_write

    def full_disk(path, writer):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(miakit.pipeline.outputs, "atomic_write", full_disk)
    cache = tmp_path / "cache"
    args = run_args(tiny_model_dir, inputs, tmp_path / "out", cache, "--attacks", "loss,min_k")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert "cache" in err and str(cache) in err
    assert forwards["n"] > 0

    monkeypatch.setattr(miakit.pipeline.outputs, "atomic_write", real_atomic_write)
    forwards["n"] = 0
    assert main(args) == 0
    assert forwards["n"] == 0  # every signal came from the cache
    assert (tmp_path / "out" / "metrics.json").is_file()


# -- hyperparameters that cannot work --------------------------------------------------------


def test_impossible_k_is_refused_before_the_model_loads(tmp_path, inputs, capsys):
    args = run_args(tmp_path / "no-such-model", inputs, tmp_path / "out", tmp_path / "cache")
    assert main([*args, "--param", "min_k.k=0.001"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "never downloads" not in err
    assert "min_k" in err and "k=0.001" in err and "1000" in err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_impossible_window_of_a_named_attack_is_refused(tmp_path, inputs, capsys):
    args = run_args(tmp_path / "no-such-model", inputs, tmp_path / "out", tmp_path / "cache")
    assert main([*args, "--attacks", "win_k", "--param", "win_k.window=500"]) == 2
    err = capsys.readouterr().err
    assert "win_k" in err and "window=500" in err and "never downloads" not in err


def test_default_attack_that_cannot_score_any_text_is_skipped_and_all_nan_is_boxed(
    tmp_path, tiny_model_dir, short_inputs, capsys
):
    out = tmp_path / "out"
    args = run_args(tiny_model_dir, short_inputs, out, tmp_path / "cache")
    assert main(args) == 0  # other attacks scored: a warning, not a failure
    err = capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    # win_k (default k=0.2, window=3: 7 tokens) cannot score a text of at most 4 bytes
    assert "win_k" in metrics["skipped_attacks"]
    assert "7" in metrics["skipped_attacks"]["win_k"]
    # min_k needs 5 tokens, which the bound allows: it runs, and scores nothing
    assert metrics["attacks"]["min_k"]["n_nan"] == 12
    boxed = [w for w in metrics["warnings"] if "min_k scored nothing" in w]
    assert len(boxed) == 1
    assert "*" * 20 in err and "min_k scored nothing" in err


def test_every_attack_scoring_nothing_exits_2(tmp_path, tiny_model_dir, short_inputs, capsys):
    out = tmp_path / "out"
    args = run_args(tiny_model_dir, short_inputs, out, tmp_path / "cache")
    assert main([*args, "--attacks", "min_k,min_k_plus_plus"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "scored nothing" in err
    assert (out / "metrics.json").is_file()  # the outputs say why, sample by sample


# -- warnings that name their samples ------------------------------------------------------


def test_console_warnings_name_ids_once_per_reason(tmp_path, tiny_model_dir, inputs, capsys):
    args = run_args(tiny_model_dir, inputs, tmp_path / "out", tmp_path / "cache")
    assert main([*args, "--attacks", "loss,min_k,min_k_plus_plus", "--max-length", "8"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    nan_lines = [ln for ln in lines if "no score" in ln]
    # "Ok" (n4) is too short for both Min-K attacks at k=0.2: one reason, one line, both named
    assert len(nan_lines) == 1, nan_lines
    assert "n4" in nan_lines[0] and "min_k," in nan_lines[0] and "min_k_plus_plus" in nan_lines[0]
    assert "too short" in nan_lines[0]
    trunc = [ln for ln in lines if "truncated" in ln]
    assert len(trunc) == 1 and "m0" in trunc[0] and "more" in trunc[0]
