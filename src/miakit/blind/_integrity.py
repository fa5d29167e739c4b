"""Evaluation-integrity checks of a run: blind baselines and member/non-member overlap.

:func:`miakit.run` calls :func:`evaluation_integrity` once per run and copies its sections into
``metrics.json``; this module only computes and formats, it writes nothing.
"""

from __future__ import annotations

import contextvars
import textwrap
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from miakit._core.timing import stage
from miakit.blind._cv import (
    DEFAULT_ALPHA,
    DEFAULT_PERMUTATIONS,
    check_test_options,
    run_blind_baselines,
)
from miakit.data.overlap import OverlapReport, overlap_report
from miakit.data.schema import Label, SampleSet
from miakit.errors import InvalidParameterError

if TYPE_CHECKING:
    import pandas as pd

#: What ``metrics.json`` lists at most of the near-duplicate pairs (all are counted).
MAX_PAIRS = 1000


@dataclass(frozen=True)
class Integrity:
    """What :func:`evaluation_integrity` found.

    Attributes:
        sections: ``metrics.json`` sections: ``"blind"`` (name -> metrics, like ``"attacks"``),
            ``"blind_summary"`` and ``"overlap"``; those not computed are absent.
        warnings: for ``metrics["warnings"]``, blind-baseline warning first.
        blind_warning: the blind-baseline warning, also in ``warnings``, or ``None``.
        blind_scores: ``id``, ``label`` and one column per baseline, or ``None``.
    """

    sections: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    blind_warning: str | None = None
    blind_scores: pd.DataFrame | None = None


def check_options(
    *,
    overlap_warn_fraction: float,
    blind_permutations: int = DEFAULT_PERMUTATIONS,
    blind_alpha: float = DEFAULT_ALPHA,
) -> None:
    """Raise :class:`InvalidParameterError` for options out of range (before any model runs)."""
    check_test_options(n_permutations=blind_permutations, alpha=blind_alpha)
    f = overlap_warn_fraction
    if isinstance(f, bool) or not isinstance(f, int | float) or not 0.0 <= f <= 1.0:
        raise InvalidParameterError(
            f"overlap_warn_fraction must be a number in [0, 1]; got {overlap_warn_fraction!r}."
        )


def evaluation_integrity(
    samples: SampleSet,
    *,
    blind: bool = True,
    seed: int = 0,
    n_resamples: int = 1000,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    alpha: float = DEFAULT_ALPHA,
    overlap_warn_fraction: float = 0.01,
) -> Integrity:
    """Blind baselines and overlap checks for a run's samples.

    Both need labelled members and non-members; without them nothing is computed.

    Args:
        samples: the run's samples.
        blind: run :func:`miakit.blind.run_blind_baselines`.
        seed: seed of the blind baselines' folds and bootstrap, and of the MinHash sketches.
        n_resamples: bootstrap resamples of the blind baselines' intervals.
        n_permutations: label permutations of the blind baselines' family-wise test (0: none;
            the warning then falls back to the interval rule).
        alpha: warn when the test's family-wise p-value is at most this.
        overlap_warn_fraction: warn when more than this share of the non-members has an exact
            or near-duplicate member.

    Returns:
        An :class:`Integrity`.
    """
    check_options(
        overlap_warn_fraction=overlap_warn_fraction,
        blind_permutations=n_permutations,
        blind_alpha=alpha,
    )
    if samples.count(Label.MEMBER) == 0 or samples.count(Label.NONMEMBER) == 0:
        return Integrity()
    sections: dict[str, Any] = {}
    warnings: list[str] = []
    blind_warning = None
    blind_scores = None
    # the overlap check beside the blind baselines: both mostly numpy, which releases the GIL
    overlap = _beside(lambda: _timed_overlap(samples, seed)) if blind else None
    if blind:
        import pandas as pd  # on first use: importing miakit.blind stays light

        with stage("blind_baselines"):
            result = run_blind_baselines(
                samples.texts,
                samples.label_array(),
                seed=seed,
                n_resamples=n_resamples,
                n_permutations=n_permutations,
                alpha=alpha,
                groups=_documents(samples),  # chunks of one document stay in one fold
            )
        sections["blind"] = result.metrics
        sections["blind_summary"] = result.summary()
        blind_scores = pd.DataFrame({"id": samples.ids, "label": [s.label.value for s in samples]})
        for name, values in result.scores.items():
            blind_scores[name] = values
        blind_warning = result.warning
        if blind_warning:
            warnings.append(blind_warning)
    report = overlap() if overlap is not None else _timed_overlap(samples, seed)
    sections["overlap"] = report.to_dict(max_pairs=MAX_PAIRS)
    if report.fraction_nonmembers > overlap_warn_fraction:
        warnings.append(
            f"{report.n_nonmembers_with_duplicate} of {report.n_nonmembers} non-members "
            f"({report.fraction_nonmembers:.1%}) have an exact or near-duplicate among the "
            f"members (word {report.n}-gram containment >= {report.threshold:g}): the model "
            "saw most of their text, so their non-member label is doubtful. The pairs are in "
            "metrics.json under 'overlap'; deduplicate the corpus before splitting it."
        )
    return Integrity(sections, warnings, blind_warning, blind_scores)


def _timed_overlap(samples: SampleSet, seed: int) -> OverlapReport:
    with stage("overlap"):
        return overlap_report(samples, seed=seed)


def _beside(fn: Callable[[], OverlapReport]) -> Callable[[], OverlapReport]:
    """Start ``fn`` on a daemon thread (in a copy of this context: its stages are timed into
    the run's timings) and return a function that waits for it and returns its result, or
    raises its exception."""
    future: Future[OverlapReport] = Future()

    def work() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # raised again by the waiting caller, the same object
            future.set_exception(exc)

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name="miakit-overlap", daemon=True).start()
    return future.result


def boxed(message: str, *, title: str = "WARNING", width: int = 78) -> str:
    """``message`` wrapped in a box of ``*`` for the terminal, ``title`` on the first line."""
    inner = width - 4
    lines = textwrap.wrap(f"{title}: {message}", width=inner) or [title]
    rule = "*" * width
    return "\n".join([rule, *(f"* {line.ljust(inner)} *" for line in lines), rule])


def _documents(samples: SampleSet) -> list[str] | None:
    """Each sample's document (its ``doc_id``, else its id) when some document has several
    samples (issue 13: a long text's windows, or rows sharing a ``doc_id``), else ``None``."""
    docs = [s.doc_id if s.doc_id is not None else s.id for s in samples]
    return docs if len(set(docs)) < len(docs) else None
