"""Sharded, resumable scoring: atomic shards, a crash-proof manifest, deterministic merges."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from miakit._core import io
from miakit.backends.hf import HFTokenScorer
from miakit.errors import MiakitError
from miakit.signals.engine import SignalEngine
from miakit.signals.shards import ShardStore, WorkerInfo, compute_sharded
from tinymodels import build_llama, build_tokenizer

TEXTS = [f"Sample number {i} says something about topic {i % 3}." for i in range(9)]
STATS = ("token_log_prob", "mean_log_prob")


@pytest.fixture(scope="module")
def engine():
    tok = build_tokenizer(bos=True)
    return SignalEngine(HFTokenScorer(build_llama(len(tok)), tok), progress=False)


def compute(engine):
    return lambda chunk: {("target", "plain"): engine.compute(chunk, stats=STATS)}


def test_two_workers_merge_equals_unsharded(tmp_path, engine):
    store = ShardStore(tmp_path, {"plan": 1})
    assert (
        compute_sharded(TEXTS, compute(engine), store, shard_size=2, worker=WorkerInfo(1, 2))
        is None
    )
    merged = compute_sharded(TEXTS, compute(engine), store, shard_size=2, worker=WorkerInfo(0, 2))
    assert merged is not None
    full = engine.compute(TEXTS, stats=STATS)
    got = merged[("target", "plain")]
    np.testing.assert_array_equal(got.offsets, full.offsets)
    for s in STATS:
        np.testing.assert_array_equal(got.flat(s), full.flat(s))
    assert sorted(store.recorded()) == list(range(5))


def test_finished_shards_are_not_recomputed(tmp_path, engine):
    store = ShardStore(tmp_path, {"plan": 1})
    compute_sharded(TEXTS, compute(engine), store, shard_size=4, worker=WorkerInfo())
    calls = []

    def counting(chunk):
        calls.append(chunk)
        return compute(engine)(chunk)

    compute_sharded(
        TEXTS, counting, ShardStore(tmp_path, {"plan": 1}), shard_size=4, worker=WorkerInfo()
    )
    assert calls == []


def test_crash_between_write_and_rename_redoes_the_shard(tmp_path, engine, monkeypatch):
    store = ShardStore(tmp_path, {"plan": 1})
    real_replace = os.replace

    def crash(src, dst):
        if "shard-00001" in str(dst):
            raise KeyboardInterrupt("simulated crash before the rename")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        compute_sharded(TEXTS, compute(engine), store, shard_size=4, worker=WorkerInfo())
    monkeypatch.setattr(os, "replace", real_replace)
    assert not store.path(1).exists()  # the half-done shard never got its name
    assert not list(tmp_path.glob(".tmp-*"))  # and its temporary file was removed
    assert sorted(store.recorded()) == [0]  # and the manifest only lists the finished one
    merged = compute_sharded(TEXTS, compute(engine), store, shard_size=4, worker=WorkerInfo())
    assert merged is not None and merged[("target", "plain")].n_samples == len(TEXTS)
    assert sorted(store.recorded()) == [0, 1, 2]


def test_leftovers_of_a_killed_writer_are_cleaned_only_when_stale(tmp_path, engine):
    store = ShardStore(tmp_path, {"plan": 1})
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    killed = io.temp_path(store.path(1)).name.split(".")
    killed[2] = dead.stdout.strip()  # the same name, written by a process that is gone
    killed_tmp = tmp_path / ".".join(killed)
    killed_tmp.write_bytes(b"half a shard")
    old = tmp_path / ".tmp-shard-00002.parquet-12345"  # an old-style leftover, hours old
    old.write_bytes(b"half a shard")
    hours_ago = time.time() - 2 * io.STALE_AFTER_S
    os.utime(old, (hours_ago, hours_ago))
    live = tmp_path / ".tmp-shard-00003.parquet-99"  # another worker writing right now
    live.write_bytes(b"being written")
    compute_sharded(TEXTS, compute(engine), store, shard_size=4, worker=WorkerInfo())
    assert not killed_tmp.exists() and not old.exists()
    assert live.exists()


def test_a_garbled_shard_is_reported_and_recomputed(tmp_path, engine):
    store = ShardStore(tmp_path, {"plan": 1})
    first = compute_sharded(TEXTS, compute(engine), store, shard_size=4, worker=WorkerInfo())
    assert first is not None
    shard = store.path(1)
    data = bytearray(shard.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # a disk fault: same size, other bytes
    shard.write_bytes(bytes(data))
    calls = []

    def counting(chunk):
        calls.append(list(chunk))
        return compute(engine)(chunk)

    with pytest.warns(UserWarning, match="shard-00001.*removed.*recomputed"):
        merged = compute_sharded(TEXTS, counting, store, shard_size=4, worker=WorkerInfo())
    assert calls == [TEXTS[4:8]]  # only the garbled shard is scored again
    assert merged is not None
    for s in STATS:
        np.testing.assert_array_equal(
            merged[("target", "plain")].flat(s), first[("target", "plain")].flat(s)
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_sharded(TEXTS, counting, store, shard_size=4, worker=WorkerInfo())
    assert len(calls) == 1


def test_a_truncated_shard_is_reported_and_recomputed(tmp_path, engine):
    store = ShardStore(tmp_path, {"plan": 1})
    compute_sharded(TEXTS, compute(engine), store, shard_size=4, worker=WorkerInfo())
    shard = store.path(2)
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.warns(UserWarning, match="shard-00002"):
        merged = compute_sharded(TEXTS, compute(engine), store, shard_size=4, worker=WorkerInfo())
    assert merged is not None and merged[("target", "plain")].n_samples == len(TEXTS)


def test_manifest_survives_a_torn_line_and_a_lost_record(tmp_path, engine):
    store = ShardStore(tmp_path, {"plan": 1})
    compute_sharded(TEXTS, compute(engine), store, shard_size=4, worker=WorkerInfo())
    lines = store.manifest.read_text().splitlines()
    # lose the last record and tear the one before it, as a crash mid-append would
    store.manifest.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][:7])
    assert sorted(store.recorded()) == [0]
    assert all(store.done(i) for i in range(3))  # complete files are verified and re-recorded
    assert sorted(store.recorded()) == [0, 1, 2]


def test_a_folder_of_another_run_is_refused(tmp_path):
    ShardStore(tmp_path, {"texts": "a"})
    with pytest.raises(MiakitError, match="different run"):
        ShardStore(tmp_path, {"texts": "b"})


def test_the_refusal_names_what_changed_and_the_fix(tmp_path):
    tables = {
        "target|plain": {"namespace": "n1", "stats": ["x"]},
        "target|recall": {"namespace": "n2", "stats": ["x"]},
    }
    ShardStore(tmp_path, {"shard_size": 2, "tables": tables})
    changed = {**tables, "target|recall": {"namespace": "n3", "stats": ["x"]}}
    with pytest.raises(MiakitError) as info:
        ShardStore(tmp_path, {"shard_size": 3, "tables": changed})
    message = str(info.value)
    assert "tables target|recall (namespace)" in message and "target|plain" not in message
    assert "shard_size (2 -> 3)" in message
    assert "another --out" in message and f"delete {tmp_path}" in message


def test_worker_info_from_env():
    assert WorkerInfo.from_env({}) == WorkerInfo(0, 1, 0)
    assert WorkerInfo.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == WorkerInfo(
        3, 4, 1
    )
    with pytest.raises(MiakitError):
        WorkerInfo.from_env({"RANK": "4", "WORLD_SIZE": "4"})


def _write_inputs(tmp_path: Path) -> tuple[Path, Path]:
    m, n = tmp_path / "m.jsonl", tmp_path / "n.jsonl"
    m.write_text(
        "".join(json.dumps({"id": f"m{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS[:5]))
    )
    n.write_text(
        "".join(json.dumps({"id": f"n{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS[5:]))
    )
    return m, n


def test_kill_9_and_resume_with_two_worker_processes(tmp_path, tiny_model_dir):
    m, n = _write_inputs(tmp_path)
    out = tmp_path / "sharded"
    base = [
        sys.executable,
        "-m",
        "miakit",
        "run",
        "--model",
        str(tiny_model_dir),
        "--members",
        str(m),
        "--nonmembers",
        str(n),
        "--no-cache",
        "--no-progress",
        "--n-bootstrap",
        "50",
        "--attacks",
        "loss,min_k_plus_plus",
        "--no-blind",
    ]
    sharded = [*base, "--out", str(out), "--shard-size", "2"]

    def env(rank):
        return {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank)}

    # rank 0 alone: writes its shards (0, 2, 4), then waits for rank 1's; kill -9 it there
    p0 = subprocess.Popen(sharded, env=env(0), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    manifest = out / "shards" / "manifest.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if manifest.is_file() and len(manifest.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    os.kill(p0.pid, signal.SIGKILL)
    p0.wait()
    assert not (out / "scores.parquet").exists()
    done = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("shard-*.parquet")}
    assert set(done) == {"shard-00000.parquet", "shard-00002.parquet", "shard-00004.parquet"}

    # resume: both workers; rank 0's finished shards must not be recomputed
    p1 = subprocess.Popen(sharded, env=env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p0 = subprocess.Popen(sharded, env=env(0), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p1.wait(timeout=300) == 0, p1.stderr.read().decode()
    assert p0.wait(timeout=300) == 0, p0.stderr.read().decode()
    for name, mtime in done.items():
        assert (out / "shards" / name).stat().st_mtime_ns == mtime
    assert "already done" in p0.stderr.read().decode()

    # identical to an unsharded run
    plain = tmp_path / "plain"
    assert subprocess.run([*base, "--out", str(plain)], capture_output=True).returncode == 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "scores.parquet"), pd.read_parquet(plain / "scores.parquet")
    )
