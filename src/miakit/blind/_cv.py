"""Cross-validated scoring of the blind baselines, and the distribution-shift warning.

A blind baseline never sees the model: it learns to tell members from non-members from the
texts alone. If it can, the two sets differ in distribution (time, topic, format), and an
attack's AUROC on them measures that difference, not membership (arXiv 2406.16201).

Every labelled sample gets an *out-of-fold* score: stratified k-fold cross-validation with a
seeded shuffle; for each fold a fresh clone of the baseline's estimator (vocabulary, idf,
imputer, scaler and classifier alike) is fitted on the other folds and scores the held-out
fold. Nothing fitted ever sees the texts it scores, unlike a vectorizer refitted on the test
split (the flaw noted in the Blind-MIA code). Only the stateless, row-wise featurization
(hashed n-gram counts, regex date counts) runs once over all texts; see
:class:`~miakit.blind.BlindPipeline`.
The pooled out-of-fold probabilities then go through :func:`miakit.metrics.evaluate`, so blind
baselines get the same metrics and bootstrap intervals as attacks. Pooling probabilities of k
different models is the usual ``cross_val_predict`` practice; folds whose models are calibrated
differently can only lower the pooled AUROC, which errs on the side of a quieter warning.

Reading the intervals. The bootstrap resamples samples with their out-of-fold scores held
fixed, so it leaves out the variability of fitting the classifiers. On random splits of real
text (600 paragraphs of Python's documentation, 5 splits) the AUROCs of the three baselines
spread about 1.5x wider than their bootstrap standard error, and 3 of 15 intervals missed 0.5
narrowly. That is why the warning needs the lower bound to exceed 0.6, not 0.5: it never fired
on those random splits, and it fires on a split whose non-members mention later years. The
warning looks at the best of the baselines, a mild best-of-three selection that the 0.6 margin
also absorbs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from miakit.blind._registry import BaselineRegistry, BlindBaseline, default_baselines
from miakit.data.schema import Label
from miakit.errors import InvalidParameterError
from miakit.metrics import evaluate

#: The warning fires when the lower bound of the best baseline's AUROC interval exceeds this.
WARN_AUROC_LOWER = 0.6
PAPER = "2406.16201"

_CODES = {Label.MEMBER: 1, Label.NONMEMBER: 0, Label.UNKNOWN: -1}


@dataclass(frozen=True)
class BlindResult:
    """Out-of-fold scores and metrics of the blind baselines.

    Attributes:
        scores: baseline name -> ``(n_samples,)`` float64 out-of-fold member probability,
            higher = more likely member; NaN for unknown labels (and for every sample when the
            baseline could not be fitted).
        metrics: baseline name -> :func:`miakit.metrics.evaluate` output (an ``"error"`` key
            when the baseline could not be scored).
        best: the baseline with the highest AUROC (the first name when none has one).
        warning: the distribution-shift message when the lower bound of the best AUROC's
            interval exceeds :data:`WARN_AUROC_LOWER`, else ``None``.
        n_folds: folds actually used (fewer than asked when a class is small; 0 when it was
            too small for cross-validation at all).
        seed: seed of the fold shuffle and of the bootstrap.
        notes: what was changed or could not be done, for the report.
    """

    scores: dict[str, np.ndarray]
    metrics: dict[str, dict[str, Any]]
    best: str
    warning: str | None
    n_folds: int
    seed: int
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> dict[str, Any]:
        """``{"best", "best_auroc", "best_auroc_ci", "warning", "n_folds", "notes"}``."""
        m = self.metrics[self.best]
        return {
            "best": self.best,
            "best_auroc": m["auroc"],
            "best_auroc_ci": list(m["auroc_ci"]),
            "warning": self.warning,
            "n_folds": self.n_folds,
            "notes": list(self.notes),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"metrics": {...}, "summary": {...}, "seed": int}``.

        Scores are left out (they are per sample; the runner writes them to Parquet). NaN
        metrics stay ``float("nan")``, which ``json.dumps`` writes as ``NaN`` by default.
        """
        return {"metrics": self.metrics, "summary": self.summary(), "seed": self.seed}


def run_blind_baselines(
    texts: Sequence[str],
    labels: ArrayLike,
    *,
    names: Sequence[str] | None = None,
    n_folds: int = 5,
    seed: int = 0,
    n_resamples: int = 1000,
    registry: BaselineRegistry | None = None,
) -> BlindResult:
    """Score members against non-members with model-free classifiers, by cross-validation.

    Folds: ``StratifiedKFold(n_folds, shuffle=True, random_state=seed)`` over the labelled
    samples, shared by all baselines. If the smaller class has fewer than ``n_folds`` samples
    the fold count drops to that size (at least 2) and a note says so; with fewer than 2
    samples in a class there is no cross-validation: every score is NaN and every metric
    carries an ``"error"``. A baseline whose pipeline cannot be fitted (e.g. no word of two
    letters in a training fold) gets NaN scores and an ``"error"``, and the others still run.

    Deterministic: the same inputs and seed give the same scores and metrics.

    Args:
        texts: ``n_samples`` texts.
        labels: ``(n_samples,)`` 1 = member, 0 = non-member, -1 = unknown, or
            :class:`~miakit.data.Label` values. Unknown samples are neither trained on nor
            scored.
        names: baselines to run, in this order (default: all registered, sorted by name).
        n_folds: cross-validation folds, at least 2.
        seed: seed of the fold shuffle, of the estimators and of the bootstrap.
        n_resamples: bootstrap resamples for the confidence intervals.
        registry: where to look the names up (default: :func:`default_baselines`).

    Returns:
        A :class:`BlindResult`.

    Raises:
        InvalidParameterError: unknown or repeated names, ``n_folds < 2``, lengths that
            differ, labels outside {-1, 0, 1} or texts that are not strings.
    """
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    registry = registry if registry is not None else default_baselines()
    chosen = _check_names(registry, names)
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2:
        raise InvalidParameterError(f"n_folds must be an integer >= 2; got {n_folds!r}.")
    y = _label_codes(labels)
    text_list = list(texts)
    if len(text_list) != y.shape[0]:
        raise InvalidParameterError(
            f"texts and labels differ in length: {len(text_list)} texts, {y.shape[0]} labels."
        )
    bad = [i for i, t in enumerate(text_list) if not isinstance(t, str)]
    if bad:
        raise InvalidParameterError(
            f"texts must be strings; positions {bad[:10]} are not (first: "
            f"{type(text_list[bad[0]]).__name__})."
        )

    n = y.shape[0]
    known = np.flatnonzero(y != -1)  # (n_labelled,) positions into texts
    y_known = y[known]
    n_members = int(np.count_nonzero(y_known == 1))
    n_nonmembers = int(y_known.shape[0] - n_members)
    smaller = min(n_members, n_nonmembers)
    notes: list[str] = []
    k = n_folds
    scores = {name: np.full(n, np.nan, dtype=np.float64) for name in chosen}
    errors: dict[str, str] = {}
    if smaller < 2:
        k = 0
        reason = (
            f"blind baselines need at least 2 members and 2 non-members for cross-validation; "
            f"got {n_members} member(s) and {n_nonmembers} non-member(s)"
        )
        errors = dict.fromkeys(chosen, reason)
        notes.append(reason)
    else:
        if smaller < n_folds:
            k = max(2, smaller)
            which = "members" if n_members < n_nonmembers else "non-members"
            notes.append(
                f"cross-validation folds reduced from {n_folds} to {k}: only {smaller} {which}"
            )
        cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        folds = list(cv.split(np.zeros((y_known.shape[0], 1)), y_known))
        # lbfgs on these problems is a series of small vector operations; multithreaded BLAS
        # only adds thread hand-offs (measured 5-10x slower on 2 busy cores).
        with threadpool_limits(limits=1, user_api="blas"):
            for name in chosen:
                try:
                    scores[name] = _out_of_fold(
                        registry.get(name), text_list, y, known, folds, seed=seed
                    )
                except ValueError as exc:  # e.g. an empty vocabulary in a training fold
                    errors[name] = f"blind baseline {name!r} could not be fitted: {exc}"
                    notes.append(errors[name])

    metrics: dict[str, dict[str, Any]] = {}
    for name in chosen:
        m = evaluate(scores[name], y, n_resamples=n_resamples, seed=seed)
        if name in errors:
            m["error"] = errors[name]
        metrics[name] = m
    best = _best(chosen, metrics)
    return BlindResult(
        scores=scores,
        metrics=metrics,
        best=best,
        warning=shift_warning(best, metrics[best]),
        n_folds=k,
        seed=seed,
        notes=tuple(notes),
    )


def shift_warning(name: str, metrics: dict[str, Any]) -> str | None:
    """The distribution-shift warning for a baseline's metrics, or ``None`` below threshold.

    Fires when the lower bound of the AUROC interval exceeds :data:`WARN_AUROC_LOWER`: the
    bound, not the point estimate, so that small samples do not raise false alarms.
    """
    lo = metrics.get("auroc_ci", [math.nan])[0]
    if not isinstance(lo, int | float) or math.isnan(lo) or lo <= WARN_AUROC_LOWER:
        return None
    hi = metrics["auroc_ci"][1]
    return (
        f"members and non-members are distinguishable WITHOUT the model: the model-free "
        f"blind baseline {name!r} reaches AUROC {metrics['auroc']:.3f} (95% CI [{lo:.3f}, "
        f"{hi:.3f}]) from the texts alone. The two sets differ in distribution (time, topic "
        f"or format), so the attack AUROCs of this run are not evidence of membership. Use "
        f"members and non-members drawn at random from one corpus before training (see "
        f"`miakit split`). (arXiv {PAPER})"
    )


def _out_of_fold(
    baseline: BlindBaseline,
    texts: list[str],
    y: np.ndarray,
    known: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    *,
    seed: int,
) -> np.ndarray:
    """``(n_samples,)`` out-of-fold member probabilities; NaN outside ``known``."""
    from sklearn.base import clone

    pipeline = baseline.build(seed=seed)
    # Stateless and row-wise (see BlindPipeline), so computing it once leaks nothing.
    X = pipeline.featurize([texts[i] for i in known])  # (n_labelled, n_features)
    y_known = y[known]
    out = np.full(y.shape[0], np.nan, dtype=np.float64)
    for train, test in folds:
        # A fresh, unfitted estimator per fold, fitted on the training folds only.
        model = clone(pipeline.estimator)
        model.fit(X[train], y_known[train])
        proba = np.asarray(model.predict_proba(X[test]), dtype=np.float64)
        out[known[test]] = proba[:, list(model.classes_).index(1)]
    return out


def _best(names: list[str], metrics: dict[str, dict[str, Any]]) -> str:
    best, best_auroc = names[0], -math.inf
    for name in names:
        a = metrics[name]["auroc"]
        if isinstance(a, int | float) and not math.isnan(a) and a > best_auroc:
            best, best_auroc = name, float(a)
    return best


def _check_names(registry: BaselineRegistry, names: Sequence[str] | None) -> list[str]:
    if names is None:
        chosen = registry.names()
    else:
        if isinstance(names, str):
            raise InvalidParameterError(
                f"names must be a list of baseline names, not the string {names!r}."
            )
        chosen = [registry.get(name).name for name in names]
        repeated = sorted({n for n in chosen if chosen.count(n) > 1})
        if repeated:
            raise InvalidParameterError(f"blind baselines named more than once: {repeated}.")
    if not chosen:
        raise InvalidParameterError("no blind baselines to run: names is empty.")
    return chosen


def _label_codes(labels: ArrayLike) -> np.ndarray:
    """``(n_samples,)`` int64 labels 1 / 0 / -1 from ints or :class:`Label` values."""
    seq: list[Any] = (
        labels.tolist() if isinstance(labels, np.ndarray) else list(cast(Iterable[Any], labels))
    )
    if any(isinstance(v, Label) for v in seq):
        try:
            return np.array([_CODES[Label.parse(v)] for v in seq], dtype=np.int64)
        except Exception as exc:
            raise InvalidParameterError(f"invalid labels: {exc}") from exc
    arr = np.asarray(seq)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.number)):
        raise InvalidParameterError(
            "labels must be a 1-D sequence of 1 (member), 0 (non-member) and -1 (unknown)."
        )
    if arr.size and not np.all(np.isin(arr, (-1, 0, 1))):
        found = sorted({float(v) for v in np.unique(arr)} - {-1.0, 0.0, 1.0})[:5]
        raise InvalidParameterError(
            f"labels must be 1 (member), 0 (non-member) or -1 (unknown); found {found}."
        )
    return arr.astype(np.int64)
