"""Measure the calibration and power of dataset inference on synthetic attack scores.

Not a test (pytest does not collect it): it prints the tables of docs/dataset-inference.md.
Run: ``.venv/bin/python tests/inference/measure_dataset_inference.py`` (about 5 minutes on
2 CPU cores). The generator is ``synth_scores`` of ``tests/inference/conftest.py``: six
correlated, heavy-tailed scores with 2% missing, the first three shifted for members.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from miakit.inference import collection_test, dataset_inference_from_features
from miakit.inference.permutation import permutation_test
from miakit.metrics import auroc

_spec = importlib.util.spec_from_file_location(
    "di_conftest", Path(__file__).with_name("conftest.py")
)
assert _spec is not None and _spec.loader is not None
_conf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conf)
synth = _conf.synth_scores


def one_p(rng: np.random.Generator, n: int, shift: float, m: int, seed: int) -> float:
    """The p-value of one test on ``n`` leaky suspect and ``n`` validation rows."""
    x = np.vstack([synth(rng, n, shift=shift), synth(rng, n)])
    y = np.r_[np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)]
    ids = [str(i) for i in range(2 * n)]
    return permutation_test(x, y, ids, n_permutations=m, seed=seed).p_value


def single_auroc(shift: float) -> float:
    rng = np.random.default_rng(99)
    a, b = synth(rng, 20000, shift=shift, nan_share=0), synth(rng, 20000, nan_share=0)
    y = np.r_[np.ones(20000), np.zeros(20000)]
    return float(auroc(np.r_[a[:, 0], b[:, 0]], y))


def calibration() -> None:
    print("| texts per set | trials | p <= 0.01 | p <= 0.05 | p <= 0.10 | s per test |")
    print("|---|---|---|---|---|---|")
    for n, trials in ((25, 2000), (100, 1000), (400, 300)):
        t0 = time.perf_counter()
        p = np.array(
            [one_p(np.random.default_rng([1, n, t]), n, 0.0, 199, t) for t in range(trials)]
        )
        dt = (time.perf_counter() - t0) / trials
        rates = " | ".join(f"{np.mean(p <= a):.3f}" for a in (0.01, 0.05, 0.1))
        print(f"| {n} | {trials} | {rates} | {dt:.3f} |")


def power() -> None:
    sizes = (25, 50, 100, 200, 500, 1000)
    print("| member shift | single-attack AUROC | " + " | ".join(f"n = {n}" for n in sizes) + " |")
    print("|---|---|" + "---|" * len(sizes))
    for shift in (0.2, 0.35, 0.5):
        cells = []
        for n in sizes:
            trials = 40 if n <= 200 else 20
            p = [one_p(np.random.default_rng([2, n, t]), n, shift, 199, t) for t in range(trials)]
            cells.append(f"{np.mean(np.array(p) <= 0.01):.2f}")
        print(f"| {shift} | {single_auroc(shift):.3f} | " + " | ".join(cells) + " |")


def collection() -> None:
    trials = 1000
    p = []
    for t in range(trials):
        rng = np.random.default_rng([3, t])
        members, nonmembers = synth(rng, 60, shift=0.6), synth(rng, 60)
        p.append(collection_test(synth(rng, 15), members, nonmembers, seed=t).p_value)
    arr = np.array(p)
    print(f"collection null, {trials} trials: p<=0.01 {np.mean(arr <= 0.01):.3f}, "
          f"p<=0.05 {np.mean(arr <= 0.05):.3f}, p<=0.1 {np.mean(arr <= 0.1):.3f}")  # fmt: skip


def full_run() -> None:
    rng = np.random.default_rng(4)
    s, v = synth(rng, 1000, shift=0.2, n_features=20), synth(rng, 1000, n_features=20)
    t0 = time.perf_counter()
    r = dataset_inference_from_features(s, v)
    print(f"defaults at 1000 + 1000 texts, 20 features: {time.perf_counter() - t0:.1f} s, "
          f"p = {r.p_value}, AUROC {r.effect['auroc']:.3f} {r.effect['auroc_ci']}")  # fmt: skip


if __name__ == "__main__":
    with threadpool_limits(limits=1, user_api="blas"):
        calibration()
        power()
        collection()
    full_run()
