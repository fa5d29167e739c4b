"""torchrun workers (gloo on CPU) train disjoint shares of the models into the folder that a
single process writes (:mod:`miakit.shadow.distributed`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from miakit.errors import InvalidParameterError
from miakit.shadow import store, train
from miakit.shadow.distributed import Workers

N_MODELS = 4
TRAIN_ARGS = ["--data", "digits", "--model", "mlp", "--n-models", str(N_MODELS), "--epochs",
              "2", "--trainer", "sequential", "--seed", "3"]  # fmt: skip


def test_workers_from_env_and_errors():
    assert Workers.from_env({}) == Workers(rank=0, world=1, local_rank=0)
    rendezvous = {"MASTER_ADDR": "h", "MASTER_PORT": "1"}
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", **rendezvous}
    assert Workers.from_env(env) == Workers(rank=3, world=4, local_rank=1)
    with pytest.raises(InvalidParameterError, match="must be integers"):
        Workers.from_env({"RANK": "x"})
    with pytest.raises(InvalidParameterError, match="need 0 <= RANK < WORLD_SIZE"):
        Workers.from_env({"RANK": "4", "WORLD_SIZE": "4", **rendezvous})
    with pytest.raises(InvalidParameterError, match=r"MASTER_ADDR and MASTER_PORT unset.*torchrun"):
        Workers.from_env({"RANK": "0", "WORLD_SIZE": "2"})


def test_shares_are_disjoint_and_cover_the_missing_models():
    missing = [1, 2, 5, 6, 7, 11, 12]
    for world in (1, 2, 3, 8):
        shares = [Workers(rank=r, world=world).share(missing) for r in range(world)]
        flat = [m for s in shares for m in s]
        assert sorted(flat) == missing and len(set(flat)) == len(flat)
        assert max(map(len, shares)) - min(map(len, shares)) <= 1  # balanced


def test_device_per_worker(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert Workers(rank=5, world=8, local_rank=5).device("cuda") == torch.device("cuda", 1)
    assert Workers(rank=1, world=2, local_rank=1).device("cuda:3") == torch.device("cuda", 3)
    assert Workers(rank=1, world=2, local_rank=1).device("cpu") == torch.device("cpu")
    assert Workers().device("cuda") == torch.device("cuda")


def test_sklearn_models_refuse_several_workers(tmp_path):
    with pytest.raises(InvalidParameterError, match="one process: run without torchrun"):
        train("digits", model="logreg", n_models=2, out=tmp_path, workers=Workers(0, 2))
    assert not (tmp_path / store.MANIFEST).exists()


def _torchrun(out) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node 2 -m miakit shadow train ...`` (torchrun is
    ``python -m torch.distributed.run``: the same launcher, found without PATH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "miakit", "shadow", "train", *TRAIN_ARGS, "--out", str(out)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _trained_by(stderr: str) -> dict[int, list[int]]:
    """rank -> the models it reported trained."""
    found: dict[int, list[int]] = {}
    for rank, m in re.findall(r"\[rank (\d)/2 train \d+/\d+\] model (\d+) trained", stderr):
        found.setdefault(int(rank), []).append(int(m))
    return found


def _assert_same_folder(a, b):
    """Same manifest, membership, pool, model weights and signals (exactly: both ran the
    sequential trainer on the CPU, and a model depends only on its index and the seed)."""
    assert (a / store.MANIFEST).read_text() == (b / store.MANIFEST).read_text()
    for name in (store.MEMBERSHIP, store.POOL):
        np.testing.assert_array_equal(store.load_array(a, name), store.load_array(b, name))
    for m in range(N_MODELS):
        sa, sb = load_file(store.model_path(a, m)), load_file(store.model_path(b, m))
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), (m, k)
    with np.load(a / store.SIGNALS) as za, np.load(b / store.SIGNALS) as zb:
        assert za.files == zb.files
        for k in za.files:
            np.testing.assert_array_equal(za[k], zb[k], err_msg=k)


def test_torchrun_two_workers_write_the_single_process_folder_and_resume(tmp_path):
    single = tmp_path / "single"
    train("digits", model="mlp", n_models=N_MODELS, epochs=2, concurrent=False, seed=3,
          out=single)  # fmt: skip
    # the models differ from each other: a worker that trained model m as another index's
    # model would not pass the comparison below
    first, second = (load_file(store.model_path(single, m)) for m in (0, 1))
    assert not any(torch.equal(first[k], second[k]) for k in first)

    spread = tmp_path / "spread"
    done = _torchrun(spread)
    assert _trained_by(done.stderr) == {0: [0, 2], 1: [1, 3]}  # disjoint shares, all models
    assert "4 mlp models on digits (pool 1796): trained 4 (sequential)" in done.stdout
    _assert_same_folder(spread, single)

    # resume: models 1 and 2 (and the signals) are gone; only they are trained again
    for m in (1, 2):
        store.model_path(spread, m).unlink()
    (spread / store.SIGNALS).unlink()
    kept = {m: store.model_path(spread, m).stat().st_mtime_ns for m in (0, 3)}
    done = _torchrun(spread)
    assert _trained_by(done.stderr) == {0: [1], 1: [2]}
    assert "trained 2 (sequential)" in done.stdout
    assert {m: store.model_path(spread, m).stat().st_mtime_ns for m in (0, 3)} == kept
    _assert_same_folder(spread, single)
