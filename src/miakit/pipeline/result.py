"""What :func:`miakit.run` returns: :class:`RunResult`, and :class:`WriteFailedError` when
writing the outputs fails after the scoring; :func:`log_summary` sends what the command line
prints to the ``"miakit"`` logger."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from miakit.attacks import AttackOutput
from miakit.data import SampleSet
from miakit.errors import MiakitError
from miakit.report.table import leaderboard
from miakit.results import RunRecord
from miakit.signals.table import TokenSignals

logger = logging.getLogger("miakit")

__all__ = ["RunResult", "WriteFailedError", "log_summary"]


@dataclass
class RunResult:
    """What a run produced.

    Attributes:
        scores: one row per sample: ``id``, ``label`` and one float column per attack.
        metrics: the content of ``metrics.json``.
        outputs: attack name -> :class:`AttackOutput` (scores and NaN reasons).
        samples: the scored samples, in order.
        out_dir: where outputs were written (``None`` if nothing was written).
        tables: ``(model, context) -> TokenSignals`` that fed the attacks.
        blind_scores: ``id``, ``label`` and one out-of-fold score column per blind baseline
            (``blind_scores.parquet``), or ``None`` when the baselines did not run.
        boxed_warnings: the :attr:`warnings` a terminal shows in a box, not on one line: the
            blind baselines' distribution-shift warning and "an attack scored nothing".
        record: the typed :class:`~miakit.results.RunRecord` every output file is written
            from (``scores``, ``metrics`` and ``blind_scores`` are its tables and sections);
            ``None`` for a sharded worker other than rank 0.
    """

    scores: pd.DataFrame
    metrics: dict[str, Any]
    outputs: dict[str, AttackOutput]
    samples: SampleSet
    out_dir: Path | None
    tables: dict[tuple[str, str], TokenSignals] = field(default_factory=dict)
    blind_scores: pd.DataFrame | None = None
    boxed_warnings: tuple[str, ...] = ()
    record: RunRecord | None = None

    @property
    def worker_done(self) -> bool:
        """A sharded run's worker other than rank 0: its shards are written, nothing else."""
        return bool(self.metrics.get("worker_done"))

    @property
    def warnings(self) -> list[str]:
        """The run's warnings (``metrics.json``'s ``warnings``), most important first."""
        return list(self.metrics.get("warnings", []))

    @property
    def skipped(self) -> dict[str, str]:
        """Attacks that did not run -> why (``metrics.json``'s ``skipped_attacks``)."""
        return dict(self.metrics.get("skipped_attacks", {}))

    def leaderboard(self) -> str:
        """The attacks (and blind baselines) ranked by AUROC, as a plain-text table."""
        return leaderboard(self.metrics["attacks"], blind=self.metrics.get("blind"))


class WriteFailedError(MiakitError):
    """Writing the outputs failed after every attack had run.

    The message names the fix, and says that the signals are safe in the cache. ``result``
    holds what was computed (its ``out_dir`` is ``None``), so a caller can still show it.
    """

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message)
        self.result = result


def log_summary(result: RunResult) -> None:
    """What the command line prints after a run, to the ``"miakit"`` logger."""
    for warning in result.warnings:
        logger.warning("%s", warning)
    if result.skipped:
        logger.info(
            "skipped: %s", "; ".join(f"{k} ({v})" for k, v in sorted(result.skipped.items()))
        )
    if result.out_dir is not None:
        logger.info("outputs written to %s", result.out_dir)
