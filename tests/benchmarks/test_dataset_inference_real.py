"""benchmarks/dataset_inference_real.py's test step on score columns, without a model.

The GPU run calls ``miakit.dataset_inference(scores=...)`` about 130 times on subsets of one
scoring run; this runs that step (``di``) on real texts with synthetic score columns, so a
change of the public API or of ``dataset_inference.json``'s keys breaks here, not on the GPU.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "dataset_inference_real", ROOT / "benchmarks" / "dataset_inference_real.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def rows(bench):
    from miakit.assets import MissingAssetError

    try:
        return bench.wiki_texts(None, 80, seed=0)
    except MissingAssetError:
        pytest.skip("the Wikipedia extracts package is not installed")


def _scores(rows, shift, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(rows), 3))
    x[: len(rows) // 2, :2] += shift  # the first half are the suspect texts
    return pd.DataFrame(
        {"id": [i for i, _ in rows], "label": 0, **{f"a{j}": x[:, j] for j in range(3)}}
    )


def test_di_detects_a_strong_shift_and_reports_the_checks(bench, rows, tmp_path):
    s, v = rows[:40], rows[40:]
    r = bench.di(_scores(rows, 1.5, 0), tmp_path, s, v, seed=0, permutations=199)
    assert r["verdict"] == "member"
    assert r["p"] == pytest.approx(1 / 200)  # no permutation reaches the observed AUROC
    assert r["auroc"] > 0.8
    assert r["blind_p"] is not None and r["blind_p"] > 0.05  # random Wikipedia halves
    assert r["result"]["n_suspect"] == 40 and r["result"]["n_validation"] == 40


def test_di_on_no_shift_is_not_a_detection(bench, rows, tmp_path):
    r = bench.di(_scores(rows, 0.0, 1), tmp_path, rows[:40], rows[40:], seed=0, permutations=199)
    assert r["verdict"] in ("not_detected", "withheld")
    assert r["p"] is None or r["p"] > 0.01


def test_margin_is_the_docs_binomial_margin(bench):
    assert bench.margin99(0.05, 1000) == pytest.approx(0.016, abs=5e-4)
    assert bench.margin99(0.01, 100) == pytest.approx(2.326 * math.sqrt(0.0099 / 100))
