"""The demo's dataset-inference step on a run's scores (members = suspect texts)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd

from miakit.demo.verdict import FILE, demo_dataset_inference, verdict_lines


def fake_result(shift: float, *, blind_p: float = 0.6, n: int = 60, seed: int = 0):
    """A run's scores: two attacks, members shifted up by ``shift`` in the first."""
    rng = np.random.default_rng(seed)
    labels = ["member"] * n + ["nonmember"] * n
    a = rng.normal(size=2 * n) + shift * (np.arange(2 * n) < n)
    scores = pd.DataFrame(
        {"id": [f"t{i}" for i in range(2 * n)], "label": labels, "loss": a,
         "zlib": rng.normal(size=2 * n)}
    )  # fmt: skip
    metrics = {
        "blind_summary": {"permutation_p": blind_p, "alpha": 0.05, "test_best": "dates",
                          "best_auroc": 0.5}
    }  # fmt: skip
    return SimpleNamespace(scores=scores, metrics=metrics)


def test_members_that_score_higher_are_detected_and_written(tmp_path):
    verdict = demo_dataset_inference(fake_result(1.5), tmp_path)
    assert verdict.verdict == "member" and verdict.p_value <= 0.01
    assert verdict.n_suspect == verdict.n_validation == 60
    written = json.loads((tmp_path / FILE).read_text())
    assert written["verdict"] == "member" and written["p_value"] == verdict.p_value
    lines = verdict_lines(verdict)
    assert "member at alpha = 0.01" in lines[0] and "p = " in lines[1]


def test_no_difference_is_not_detected():
    verdict = demo_dataset_inference(fake_result(0.0, seed=3), None)
    assert verdict.verdict == "not_detected" and verdict.p_value > 0.01


def test_a_shift_the_blind_baselines_see_withholds_the_verdict(tmp_path):
    verdict = demo_dataset_inference(fake_result(1.5, blind_p=0.005), tmp_path)
    assert verdict.verdict == "withheld" and verdict.p_value is None
    assert "the sets differ without the model" in " ".join(verdict_lines(verdict))


def test_a_miniature_demo_says_why_there_is_no_verdict(tmp_path):
    """The golden miniature demo has 4 texts per set: the step says so instead of failing."""
    from miakit.demo.verdict import demo_verdict_lines

    lines = demo_verdict_lines(fake_result(1.0, n=4), tmp_path)
    assert lines == [
        "dataset inference: not run (4 member and 4 non-member texts; it needs at least 10 of each)"
    ]
    assert not (tmp_path / FILE).exists()
    assert "member at alpha" in demo_verdict_lines(fake_result(1.5), tmp_path)[0]
