"""The evaluation-integrity checks run on a background thread while the models score (issue 15).

:func:`miakit.run` starts the blind baselines and the overlap checks right after validation when
:func:`miakit.blind.in_background` says so (a CUDA target), and waits for them before
``metrics.json`` is assembled. These tests force the background on the CPU and check that the
work really overlaps the scoring, that the results are those of the foreground run, that a
worker's exception reaches the caller unchanged, and that timings and progress stay sound.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

import miakit
import miakit.blind._background as background
import miakit.blind._integrity as integrity
from auxmodels import MEMBERS, NONMEMBERS, write_jsonl
from miakit.backends.hf import HFTokenScorer
from miakit.blind import in_background
from tinymodels import build_llama, build_tokenizer

#: Seconds a test waits at a rendezvous before it fails (instead of hanging).
RENDEZVOUS_S = 20.0


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(bos=True)


@pytest.fixture(scope="module")
def model(tokenizer):
    return build_llama(len(tokenizer))


@pytest.fixture()
def files(tmp_path):
    return {
        "members": str(write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")),
        "nonmembers": str(write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")),
    }


@pytest.fixture()
def on_cpu(monkeypatch):
    """Start the integrity checks in the background on the CPU too."""
    monkeypatch.setattr(background, "BACKGROUND_DEVICES", frozenset({"cpu", "cuda"}))


def run(scorer, tmp_path, files, **kw):
    base = {
        "scorers": {"target": scorer},
        "out": str(tmp_path / "out"),
        "no_cache": True,
        "n_bootstrap": 50,
        "blind_permutations": 19,
        "attacks": ["loss", "zlib"],
        **files,
    }
    return miakit.run(**{**base, **kw})


class RendezvousScorer(HFTokenScorer):
    """Its first ``logits`` call waits at ``barrier``: the scoring cannot go on until the other
    party (the integrity worker) has reached it too."""

    def __init__(self, *args, barrier: threading.Barrier, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.barrier = barrier
        self.met = False

    def logits(self, hidden):
        if not self.met:
            self.met = True
            self.barrier.wait()  # BrokenBarrierError after the timeout: the test fails
        return super().logits(hidden)


def test_the_default_is_the_background_on_a_gpu_only():
    assert in_background("cuda")
    assert not in_background("cpu") and not in_background("mps")


def test_integrity_runs_while_the_model_scores(
    tokenizer, model, tmp_path, files, on_cpu, monkeypatch
):
    barrier = threading.Barrier(2, timeout=RENDEZVOUS_S)
    scorer = RendezvousScorer(model, tokenizer, name="target", barrier=barrier)
    worker: list[str] = []
    original = integrity.run_blind_baselines

    def blind_at_the_rendezvous(*args, **kwargs):
        worker.append(threading.current_thread().name)
        barrier.wait()  # breaks (and the run fails) unless the scorer is at it meanwhile
        return original(*args, **kwargs)

    monkeypatch.setattr(integrity, "run_blind_baselines", blind_at_the_rendezvous)
    result = run(scorer, tmp_path, files)
    assert not barrier.broken
    assert worker == ["miakit-integrity"]
    assert "blind" in result.metrics and "overlap" in result.metrics
    timings = result.metrics["setup"]["timings"]
    # the worker's stages are timed into the run's timings, and so is the wait for them
    assert {"blind_baselines", "overlap", "integrity_wait"} <= set(timings)


def test_the_foreground_run_does_not_overlap(tokenizer, model, tmp_path, files, monkeypatch):
    """The control of the test above: without the background the rendezvous fails, so that
    test can only pass when the work overlaps."""
    barrier = threading.Barrier(2, timeout=0.5)
    scorer = RendezvousScorer(model, tokenizer, name="target", barrier=barrier)
    with pytest.raises(threading.BrokenBarrierError):
        run(scorer, tmp_path, files)


def test_a_worker_exception_reaches_the_caller_unchanged(
    tokenizer, model, tmp_path, files, on_cpu, monkeypatch
):
    class BaselineBroke(RuntimeError):
        pass

    def broken(*args, **kwargs):
        raise BaselineBroke("ridge exploded in fold 3")

    monkeypatch.setattr(integrity, "run_blind_baselines", broken)
    scorer = HFTokenScorer(model, tokenizer, name="target")
    with pytest.raises(BaselineBroke, match="ridge exploded in fold 3") as info:
        run(scorer, tmp_path, files)
    # the traceback still leads to where the worker raised it
    assert any(entry.name == "broken" for entry in info.traceback)
    assert not (tmp_path / "out" / "metrics.json").exists()


def _results(result):
    metrics = {k: v for k, v in result.metrics.items() if k != "setup"}
    setup = {k: v for k, v in result.metrics["setup"].items() if k not in ("timings", "created")}
    return metrics, setup, result.scores, result.blind_scores


def test_the_background_gives_the_foreground_results(
    tokenizer, model, tmp_path, files, monkeypatch
):
    scorer = HFTokenScorer(model, tokenizer, name="target")
    ahead = run(scorer, tmp_path / "fg", files)
    monkeypatch.setattr(background, "BACKGROUND_DEVICES", frozenset({"cpu"}))
    behind = run(scorer, tmp_path / "bg", files)
    assert "integrity_wait" in behind.metrics["setup"]["timings"]
    assert "integrity_wait" not in ahead.metrics["setup"]["timings"]
    m1, s1, scores1, blind1 = _results(ahead)
    m2, s2, scores2, blind2 = _results(behind)
    assert m1 == m2 and s1 == s2
    pd.testing.assert_frame_equal(scores1, scores2)
    assert blind1 is not None and blind2 is not None
    pd.testing.assert_frame_equal(blind1, blind2)
    assert np.isfinite(blind2.drop(columns=["id", "label"]).to_numpy()).all()


def test_progress_events_come_from_the_calling_thread_in_order(
    tokenizer, model, tmp_path, files, on_cpu
):
    events: list[tuple[str, str]] = []
    scorer = HFTokenScorer(model, tokenizer, name="target")
    run(scorer, tmp_path, files, progress=lambda e: events.append((e.stage, _thread())))
    assert {thread for _, thread in events} == {threading.main_thread().name}
    stages = list(dict.fromkeys(stage for stage, _ in events))
    assert stages == ["signals", "attacks", "metrics", "integrity", "outputs"]


def _thread() -> str:
    return threading.current_thread().name


def test_a_sharded_run_keeps_the_checks_in_the_foreground(
    tokenizer, model, tmp_path, files, on_cpu, monkeypatch
):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    scorer = HFTokenScorer(model, tokenizer, name="target")
    result = run(scorer, tmp_path, files, shard_size=4)
    timings = result.metrics["setup"]["timings"]
    assert "blind_baselines" in timings and "integrity_wait" not in timings
