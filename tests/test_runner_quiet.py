"""``miakit.run`` prints nothing: messages go to ``logging``, progress to ``progress=``."""

from __future__ import annotations

import errno
import logging
import warnings

import pytest
import yaml

import miakit
from auxmodels import MEMBERS, NONMEMBERS, write_jsonl
from miakit.backends.hf import HFTokenScorer
from miakit.errors import MiakitError
from miakit.pipeline import ProgressEvent, WriteFailedError
from tinymodels import build_llama, build_tokenizer

STAGES = ["signals", "attacks", "metrics", "integrity", "outputs"]


@pytest.fixture(scope="module")
def scorer():
    tok = build_tokenizer(bos=True)
    return HFTokenScorer(build_llama(len(tok)), tok, name="target")


@pytest.fixture()
def files(tmp_path):
    # "Ok" is too short for min_k and win_k: the run warns about its NaN scores
    return {
        "members": str(write_jsonl(tmp_path / "m.jsonl", [*MEMBERS, "Ok"], "m")),
        "nonmembers": str(write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")),
    }


def run(scorer, tmp_path, files, **kw):
    base = {
        "scorers": {"target": scorer},
        "out": str(tmp_path / "out"),
        "no_cache": True,
        "n_bootstrap": 10,
        **files,
    }
    return miakit.run(**{**base, **kw})


def test_run_prints_nothing(scorer, tmp_path, files, capfd):
    capfd.readouterr()
    result = run(scorer, tmp_path, files)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    # what the command line prints is in the result
    assert result.out_dir == tmp_path / "out"
    assert any("no score (NaN)" in w for w in result.warnings)
    assert result.warnings == result.metrics["warnings"]
    assert result.skipped["reference"] == "needs --reference"
    assert "loss" in result.leaderboard()
    # no bars were shown, and the resolved config says so
    resolved = yaml.safe_load((tmp_path / "out" / "config.resolved.yaml").read_text())
    assert resolved["progress"] is False


def test_messages_go_to_the_miakit_logger(scorer, tmp_path, files, caplog):
    with caplog.at_level(logging.INFO, logger="miakit"):
        result = run(scorer, tmp_path, files)
    records = [r for r in caplog.records if r.name == "miakit"]
    logged = {r.levelno: [] for r in records}
    for r in records:
        logged[r.levelno].append(r.getMessage())
    assert result.warnings and logged[logging.WARNING] == result.warnings
    info = logged[logging.INFO]
    assert f"outputs written to {tmp_path / 'out'}" in info
    skipped = [m for m in info if m.startswith("skipped: ")]
    assert len(skipped) == 1 and "reference (needs --reference)" in skipped[0]


def test_a_progress_callback_receives_each_stage(scorer, tmp_path, files, capfd):
    events: list[ProgressEvent] = []
    capfd.readouterr()
    result = run(scorer, tmp_path, files, progress=events.append)
    assert capfd.readouterr().err == ""  # a callback: nothing is drawn
    assert all(isinstance(e, ProgressEvent) for e in events)
    stages = list(dict.fromkeys(e.stage for e in events))
    assert stages == STAGES
    for stage in STAGES:
        steps = [e for e in events if e.stage == stage]
        assert steps[0].done == 0 and steps[-1].done == steps[-1].total
        assert [e.done for e in steps] == sorted(e.done for e in steps)
    attacks = [e for e in events if e.stage == "attacks"]
    assert attacks[-1].total == len(result.outputs) == len(attacks) - 1
    signals = [e for e in events if e.stage == "signals"]
    assert signals[-1].total == len(result.samples)


def test_progress_true_shows_the_bars(scorer, tmp_path, files, capfd):
    capfd.readouterr()
    run(scorer, tmp_path, files, progress=True, attacks=["loss"])
    captured = capfd.readouterr()
    assert captured.out == "" and "tok" in captured.err  # the engine's tqdm bar
    resolved = yaml.safe_load((tmp_path / "out" / "config.resolved.yaml").read_text())
    assert resolved["progress"] is True


def test_progress_must_be_a_bool_or_a_callable(scorer, tmp_path, files):
    with pytest.raises(TypeError, match="progress must be True, False or a callable"):
        run(scorer, tmp_path, files, progress="yes")


def test_sharded_runs_send_each_shard_as_an_event_and_a_log_line(
    scorer, tmp_path, files, capfd, caplog, monkeypatch
):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    events: list[ProgressEvent] = []
    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="miakit"):
        run(scorer, tmp_path, files, shard_size=4, attacks=["loss"], progress=events.append)
    assert capfd.readouterr().err == ""
    shards = [e for e in events if e.stage == "shards"]
    lines = [f"[rank 0/1] shard {i}: written" for i in range(3)]  # 9 texts, 4 per shard
    assert [e.message for e in shards] == lines
    assert [(e.done, e.total) for e in shards] == [(1, 3), (2, 3), (3, 3)]
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("[rank")] == lines


def test_echo_true_is_deprecated_and_prints_only_the_leaderboard(scorer, tmp_path, files, capsys):
    capsys.readouterr()
    with pytest.warns(DeprecationWarning, match=r"Print result\.leaderboard\(\)"):
        result = run(scorer, tmp_path, files, echo=True)
    captured = capsys.readouterr()
    assert captured.out == result.leaderboard() + "\n" and captured.err == ""


def test_echo_false_is_accepted_silently(scorer, tmp_path, files):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*echo", category=DeprecationWarning)
        result = run(scorer, tmp_path, files, echo=False, write=False)
    assert result.out_dir is None and "attacks" in result.metrics


def test_a_failed_write_raises_with_the_results(scorer, tmp_path, files, capfd, monkeypatch):
    import miakit.pipeline.outputs

    def full_disk(path, writer):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(miakit.pipeline.outputs, "atomic_write", full_disk)
    capfd.readouterr()
    with pytest.raises(WriteFailedError, match="No space left") as info:
        run(scorer, tmp_path, files, attacks=["loss"])
    assert capfd.readouterr().out == ""
    assert isinstance(info.value, MiakitError)
    assert info.value.result.out_dir is None and "loss" in info.value.result.leaderboard()
