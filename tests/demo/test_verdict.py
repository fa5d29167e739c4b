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
    return SimpleNamespace(scores=scores, metrics=metrics, record=None)


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


def test_the_demo_report_shows_its_verdict_and_a_rerun_drops_a_stale_one(tmp_path, tiny_model_dir):
    """The demo's report.html gets the "Dataset inference" section (re-rendered from the run's
    record); a later run into the same folder removes the stale dataset_inference.json, so
    `miakit report DIR` cannot show a verdict about other scores."""
    import miakit

    rng = np.random.default_rng(0)
    words = ["river", "glacier", "bread", "tax", "moon", "vote", "yeast", "valley", "april"]
    for name, prefix in (("m.jsonl", "m"), ("n.jsonl", "n")):
        with open(tmp_path / name, "w") as f:
            for i in range(12):
                text = " ".join(rng.choice(words, size=12)) + f" {prefix}{i}."
                f.write(json.dumps({"id": f"{prefix}{i}", "text": text}) + "\n")
    out = tmp_path / "out"

    def run():
        return miakit.run(
            model=str(tiny_model_dir), members=str(tmp_path / "m.jsonl"),
            nonmembers=str(tmp_path / "n.jsonl"), out=str(out), attacks=["loss", "zlib"],
            no_cache=True, n_bootstrap=20, blind=False, progress=False,
        )  # fmt: skip

    result = run()
    assert 'id="dataset-inference"' not in (out / "report.html").read_text()
    verdict = demo_dataset_inference(result, out)
    html = (out / "report.html").read_text()
    assert 'id="dataset-inference"' in html and f"<td>{verdict.verdict}</td>" in html
    assert (out / FILE).is_file()
    run()  # the same folder again, without the demo's last step
    assert not (out / FILE).exists()
    assert 'id="dataset-inference"' not in (out / "report.html").read_text()
