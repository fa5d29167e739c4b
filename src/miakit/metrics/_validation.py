"""Input checks shared by the metric functions (private).

Every check raises :class:`~miakit.errors.InvalidParameterError` with what was expected, what
arrived and how to fix it, so that a caller never sees a bare numpy error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from miakit._core.errors import InvalidParameterError


def as_score_label_arrays(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    allow_unknown: bool = False,
    allow_nan: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``scores`` as float64 and ``labels`` as int64, both of shape ``(n_samples,)``.

    Args:
        scores: ``(n_samples,)`` attack scores, higher = more likely member.
        labels: ``(n_samples,)`` 1 = member, 0 = non-member (and -1 = unknown if
            ``allow_unknown``).
        allow_unknown: accept the label -1.
        allow_nan: accept NaN scores (infinite scores are never accepted).

    Raises:
        InvalidParameterError: on wrong shapes, non-numeric values, labels outside the allowed
            set, or non-finite scores.
    """
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"scores must be a 1-D array of numbers; could not convert it to float ({exc}). "
            "Pass one numeric score per sample."
        ) from None
    y_raw = np.asarray(labels)
    if s.ndim != 1 or y_raw.ndim != 1:
        raise InvalidParameterError(
            f"scores and labels must be 1-D arrays of shape (n_samples,); got shapes {s.shape} "
            f"and {y_raw.shape}. Flatten them or pass one score and one label per sample."
        )
    if s.shape != y_raw.shape:
        raise InvalidParameterError(
            f"scores and labels must have the same length; got {s.shape[0]} scores and "
            f"{y_raw.shape[0]} labels. Pass one label per score."
        )
    allowed = (-1, 0, 1) if allow_unknown else (0, 1)
    if y_raw.dtype.kind not in "biuf":
        raise InvalidParameterError(
            f"labels must be integers in {allowed} (1 = member, 0 = non-member"
            + (", -1 = unknown" if allow_unknown else "")
            + f"); got dtype {y_raw.dtype}. Map your labels to these integers."
        )
    bad = ~np.isin(y_raw, allowed)
    if bad.any():
        examples = sorted({str(v) for v in y_raw[bad][:5].tolist()})
        raise InvalidParameterError(
            f"labels must be in {allowed} (1 = member, 0 = non-member"
            + (", -1 = unknown" if allow_unknown else "")
            + f"); got {int(bad.sum())} other value(s), e.g. {examples}. "
            + (
                "Map your labels to these integers."
                if allow_unknown
                else "Drop unknown (-1) samples first, or call miakit.metrics.evaluate, "
                "which ignores them."
            )
        )
    y = y_raw.astype(np.int64)
    if np.isinf(s).any():
        raise InvalidParameterError(
            f"scores must be finite; got {int(np.isinf(s).sum())} infinite score(s). "
            "Map them to finite values (e.g. clip to the finite range) or to NaN to mark the "
            "sample as unscorable."
        )
    if not allow_nan and np.isnan(s).any():
        raise InvalidParameterError(
            f"scores must be finite; got {int(np.isnan(s).sum())} NaN score(s). "
            "Use miakit.metrics.evaluate, which excludes and counts NaN scores, or drop them "
            "yourself and report how many."
        )
    return s, y


def require_both_classes(labels: np.ndarray) -> None:
    """Raise unless ``labels`` (shape ``(n_samples,)``, values in {0, 1}) holds both classes."""
    n_pos = int(np.count_nonzero(labels == 1))
    n_neg = int(labels.shape[0] - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise InvalidParameterError(
            "ROC metrics need both members (label 1) and non-members (label 0); got "
            f"{n_pos} member(s) and {n_neg} non-member(s). Add samples of the missing class."
        )


def check_rate(value: float, *, name: str) -> float:
    """Return ``value`` as a float after checking it is a finite rate in [0, 1]."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number in [0, 1]; got {value!r}.") from None
    if not (math.isfinite(v) and 0.0 <= v <= 1.0):
        raise InvalidParameterError(
            f"{name} must be a rate in [0, 1]; got {value!r}. Pass e.g. {name}=0.01 for 1%."
        )
    return v


def check_rates(values: Sequence[float], *, name: str) -> tuple[float, ...]:
    """Return a non-empty sequence of rates in [0, 1] as a tuple of floats."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InvalidParameterError(
            f"{name} must be a sequence of rates in [0, 1]; got {values!r}. "
            f"Pass e.g. {name}=(0.001, 0.01)."
        )
    if len(values) == 0:
        raise InvalidParameterError(
            f"{name} must hold at least one rate in [0, 1]; got an empty sequence. "
            f"Pass e.g. {name}=(0.001, 0.01)."
        )
    return tuple(check_rate(v, name=f"{name}[{i}]") for i, v in enumerate(values))


def check_bootstrap_options(*, n_resamples: int, confidence: float, seed: int) -> None:
    """Check the bootstrap options, raising once with every problem found."""
    problems = []
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)):
        problems.append(f"n_resamples must be an int >= 1; got {n_resamples!r}")
    elif n_resamples < 1:
        problems.append(f"n_resamples must be >= 1 (1000 or more recommended); got {n_resamples}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)):
        problems.append(f"confidence must be a float in (0, 1); got {confidence!r}")
    elif not (0.0 < float(confidence) < 1.0):
        problems.append(f"confidence must be in (0, 1), e.g. 0.95; got {confidence!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        problems.append(f"seed must be an int (numpy.random.default_rng(seed)); got {seed!r}")
    if problems:
        raise InvalidParameterError("invalid bootstrap options: " + "; ".join(problems) + ".")
