"""Attack a trained shadow experiment: every model in turn the target, into ``metrics.json``.

:func:`run_attacks` returns an :class:`AttackRun`: the ``metrics.json`` content (the layout of
``miakit run``: ``miakit_version``, ``setup``, ``attacks``, ``skipped_attacks``, ``models``,
``samples``, ``warnings``) and the pooled scores, whose :meth:`AttackRun.scores_frame` is the
``scores.parquet`` table of an LLM run (one row per ``(target, example)`` pair), so the same
HTML report renders it. :func:`attack` is the same returning the metrics only.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from miakit._core.io import atomic_write_text
from miakit._core.version import __version__
from miakit.errors import InvalidParameterError
from miakit.shadow import store
from miakit.shadow.attacks import default_registry
from miakit.shadow.evaluate import score_attacks
from miakit.shadow.signals import ShadowSignals

#: The attacks that ``references=`` repeats with few reference models per example.
FEW_REFERENCE_ATTACKS = ("rmia", "rmia_offline", "lira_offline_fixed_var")


@dataclass(frozen=True)
class AttackRun:
    """The outcome of :func:`run_attacks`.

    Attributes:
        metrics: the ``metrics.json`` content.
        scores: result name -> ``(n_targets, n_pool)`` scores (higher = member).
        labels: ``(n_targets, n_pool)`` 1 = member of that target, 0 = not.
        targets: the target model of each row.
        pool: ``(n_pool,)`` the data row of each pool example.
    """

    metrics: dict[str, Any]
    scores: dict[str, np.ndarray]
    labels: np.ndarray
    targets: tuple[int, ...]
    pool: np.ndarray

    def scores_frame(self) -> pd.DataFrame:
        """One row per ``(target, example)`` pair: ``id`` (``"m{target}/x{data row}"``),
        ``label`` (``member``/``nonmember``), ``target``, ``example`` (data row), and one
        float column per attack result, in the order of ``metrics["attacks"]``."""
        n_targets, n_pool = self.labels.shape
        target = np.repeat(np.asarray(self.targets, dtype=np.int64), n_pool)
        example = np.tile(self.pool.astype(np.int64), n_targets)
        ids = np.char.add(
            np.char.add("m", target.astype(str)), np.char.add("/x", example.astype(str))
        )
        columns: dict[str, Any] = {
            "id": ids,
            "label": np.where(self.labels.ravel() == 1, "member", "nonmember"),
            "target": target,
            "example": example,
        }
        for name in self.metrics["attacks"]:
            columns[name] = self.scores[name].ravel()
        return pd.DataFrame(columns)


def _accuracy(signals: ShadowSignals) -> dict[str, float]:
    correct = signals.correct[:, :, 0]  # (n, models): identity query
    inn = signals.membership
    return {
        "train_accuracy": float(correct[inn].mean()),
        "test_accuracy": float(correct[~inn].mean()),
    }


def _runs(
    names: Sequence[str], references: Sequence[int], per_side: int | None
) -> list[tuple[str, str, int | None]]:
    runs = [(n, n, per_side) for n in names]
    for k in sorted(set(references)):
        if k < 1:
            raise InvalidParameterError(f"references must be >= 1, got {k}")
        runs += [(f"{n}_ref{k}", n, k) for n in names if n in FEW_REFERENCE_ATTACKS]
    return runs


def run_attacks(
    experiment: str | Path,
    *,
    attacks: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    targets: Sequence[int] | None = None,
    fpr_targets: Sequence[float] = (0.001, 0.01, 0.05),
    n_bootstrap: int = 1000,
    seed: int = 0,
    shadows_per_side: int | None = None,
    references: Sequence[int] = (),
    bootstrap_unit: str = "two-way",
) -> AttackRun:
    """Run classifier attacks leave-one-out on an experiment folder (see :func:`attack`)."""
    folder = Path(experiment)
    manifest = store.read_manifest(folder)
    t0 = time.perf_counter()
    signals = ShadowSignals.load(folder / store.SIGNALS)
    names = default_registry().names() if attacks is None else list(attacks)
    results, scores, skipped = score_attacks(
        signals,
        _runs(names, references, shadows_per_side),
        params=params,
        targets=targets,
        fpr_targets=fpr_targets,
        n_bootstrap=n_bootstrap,
        seed=seed,
        bootstrap_unit=bootstrap_unit,
        skip_unrunnable=attacks is None or bool(references),
    )
    chosen = list(range(signals.n_models)) if targets is None else [int(t) for t in targets]
    labels = signals.membership[:, chosen].T.astype(np.int64)
    n_neg = int((labels == 0).sum())
    warnings = [
        f"TPR at FPR {fpr:g} rests on {n_neg} pooled non-members (fewer than "
        f"10/FPR = {10 / fpr:.0f}): read it as an order of magnitude"
        for fpr in fpr_targets
        if n_neg < 10 / fpr
    ]
    metrics: dict[str, Any] = {
        "miakit_version": __version__,
        "setup": {
            "kind": "shadow",
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "experiment": str(folder),
            **manifest,
            "evaluation": "leave-one-out, scores pooled over targets (arXiv 2112.03570)",
            "targets": chosen,
            "n_members": int((labels == 1).sum()),
            "n_nonmembers": n_neg,
            "n_bootstrap": n_bootstrap,
            "bootstrap_unit": bootstrap_unit,
            "seed": seed,
            "timings": {"attacks": time.perf_counter() - t0},
        },
        "attacks": results,
        "skipped_attacks": skipped,
        "models": {"shadow": {"n_models": signals.n_models, **_accuracy(signals)}},
        "samples": {"n": int(labels.size)},
        "warnings": warnings,
    }
    pool = store.load_array(folder, store.POOL)
    return AttackRun(metrics, scores, labels, tuple(chosen), pool)


def attack(
    experiment: str | Path,
    *,
    out: str | Path | None = None,
    attacks: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    targets: Sequence[int] | None = None,
    fpr_targets: Sequence[float] = (0.001, 0.01, 0.05),
    n_bootstrap: int = 1000,
    seed: int = 0,
    shadows_per_side: int | None = None,
    references: Sequence[int] = (),
    bootstrap_unit: str = "two-way",
) -> dict[str, Any]:
    """Run classifier attacks leave-one-out on an experiment folder; write ``metrics.json``.

    Args:
        experiment: a folder written by :func:`miakit.shadow.train`.
        out: where ``metrics.json`` goes (``None``: write nothing). The HTML report is
            written by ``miakit shadow attack`` (:meth:`AttackRun.scores_frame` and
            :func:`miakit.report.render_report`).
        attacks: attack names (default: every registered one, leaving out with the reason in
            ``skipped_attacks`` those these signals cannot run, e.g. LiRA with one shadow per
            side); named attacks that cannot run raise.
        params: ``{attack: {hyperparameter: value}}``.
        targets: model indices used as targets (default: every model).
        fpr_targets, n_bootstrap, seed: for the metrics (``seed`` also picks the shadows kept
            when the IN and OUT counts are equalised).
        shadows_per_side: at most this many IN and OUT shadows per example; ``None``: all.
        references: also run each of :data:`FEW_REFERENCE_ATTACKS` that is chosen with at
            most ``K`` shadows per side, for each ``K``, as ``{name}_ref{K}`` (e.g.
            ``rmia_offline_ref1``: one OUT reference model per example).
        bootstrap_unit: ``"two-way"`` (targets and examples random), ``"example"`` or
            ``"target"`` (:func:`miakit.metrics.crossed.evaluate_crossed`).

    Returns:
        The ``metrics.json`` content: ``miakit_version``, ``setup`` (the experiment's
        manifest and this evaluation's settings, ``timings``), ``attacks`` (name -> metrics),
        ``skipped_attacks``, ``models`` (mean train/test accuracy), ``samples`` and
        ``warnings``.
    """
    run = run_attacks(
        experiment,
        attacks=attacks,
        params=params,
        targets=targets,
        fpr_targets=fpr_targets,
        n_bootstrap=n_bootstrap,
        seed=seed,
        shadows_per_side=shadows_per_side,
        references=references,
        bootstrap_unit=bootstrap_unit,
    )
    if out is not None:
        write_metrics(Path(out), run.metrics)
    return run.metrics


def write_metrics(out: Path, metrics: Mapping[str, Any]) -> Path:
    """Write ``out/metrics.json`` atomically; its path."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(metrics, indent=2, allow_nan=True)
    atomic_write_text(out / "metrics.json", text + "\n")
    return out / "metrics.json"


__all__ = ["FEW_REFERENCE_ATTACKS", "AttackRun", "attack", "run_attacks", "write_metrics"]
