"""The demo's last step: dataset inference on its own scores (arXiv 2406.06443).

The sentence-level leaderboard answers "which texts were trained on?"; an auditor asks "was
*this set* trained on?". The demo's members are a seeded random half of the articles, so its
non-members are known non-members from the same distribution: exactly dataset inference's
validation set. Every attack score of the run is a feature, the permutation-calibrated test
of :mod:`miakit.inference` gives the p-value, and the run's own blind baselines and overlap
check (members vs non-members, model-free) are the assumption check that can withhold the
verdict. Nothing is scored again: it reads the run's scores. With an output folder, the
verdict goes to ``dataset_inference.json`` and the run's ``report.html`` is rendered again
from the run's record in memory, now with its "Dataset inference" section.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from miakit._core.io import atomic_write_text
from miakit.data import Label
from miakit.inference.assumptions import ShiftCheck
from miakit.inference.dataset import MIN_TEXTS, dataset_inference_from_features
from miakit.inference.verdict import DatasetInferenceResult

if TYPE_CHECKING:
    from miakit.pipeline.result import RunResult

#: The demo's output next to metrics.json.
FILE = "dataset_inference.json"

__all__ = ["FILE", "demo_dataset_inference", "demo_verdict_lines", "verdict_lines"]


def demo_verdict_lines(result: RunResult, out: Path | None, *, seed: int = 0) -> list[str]:
    """What the demo prints at its end: the verdict, or why there is none (a miniature demo
    with fewer than :data:`~miakit.inference.dataset.MIN_TEXTS` texts per set)."""
    labels = result.scores["label"]
    n_s = int((labels == Label.MEMBER.value).sum())
    n_v = int((labels == Label.NONMEMBER.value).sum())
    if min(n_s, n_v) < MIN_TEXTS:
        return [
            f"dataset inference: not run ({n_s} member and {n_v} non-member texts; it needs "
            f"at least {MIN_TEXTS} of each)"
        ]
    return verdict_lines(demo_dataset_inference(result, out, seed=seed))


def demo_dataset_inference(
    result: RunResult, out: Path | None, *, seed: int = 0
) -> DatasetInferenceResult:
    """Dataset inference with the run's members as suspect texts and its non-members as
    validation texts; written to ``out/dataset_inference.json`` when ``out`` is given, and
    shown in ``out/report.html`` (re-rendered from ``result.record``) when the run has one."""
    scores = result.scores
    features = [c for c in scores.columns if c not in ("id", "label")]
    suspect = (scores["label"] == Label.MEMBER.value).to_numpy()
    validation = (scores["label"] == Label.NONMEMBER.value).to_numpy()
    shift = ShiftCheck.from_sections(
        result.metrics.get("blind_summary"), result.metrics.get("overlap")
    )
    verdict = dataset_inference_from_features(
        scores.loc[suspect, features],
        scores.loc[validation, features],
        suspect_ids=[str(i) for i in scores["id"][suspect]],
        validation_ids=[str(i) for i in scores["id"][validation]],
        seed=seed,
        shift=shift,
    )
    if out is not None:
        text = verdict.to_json()
        atomic_write_text(Path(out) / FILE, text)
        if result.record is not None:
            import json

            from miakit.report.html import write_report

            write_report(out, record=result.record, dataset_inference=json.loads(text))
    return verdict


def verdict_lines(verdict: DatasetInferenceResult) -> list[str]:
    """The verdict for the terminal: the decision, the p-value and how many texts it took."""
    lines = [
        f"dataset inference (arXiv 2406.06443): {verdict.verdict} at alpha = {verdict.alpha:g}"
    ]
    if verdict.p_value is not None:
        m = verdict.method["n_permutations"]
        floor = (
            " (the smallest p this many permutations can give)"
            if verdict.p_value <= 1 / (m + 1) + 1e-12
            else ""
        )
        lines.append(
            f"  p = {verdict.p_value:.3g}{floor}; held-out AUROC of the combined attacks "
            f"{verdict.effect['auroc']:.3f}, {verdict.n_suspect} member vs "
            f"{verdict.n_validation} non-member texts"
        )
        detected = [row for row in verdict.power if row["median_p"] <= verdict.alpha]
        if detected:
            lines.append(
                f"  texts needed: about {detected[0]['n_per_set']} per set already give a "
                f"median p <= {verdict.alpha:g}"
            )
    else:
        lines.append(f"  {verdict.reason}")
    return lines
