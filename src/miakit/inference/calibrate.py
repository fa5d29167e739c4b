"""Choosing a hyperparameter on a labelled calibration set (pure numpy).

A hyperparameter such as Con-ReCall's γ or Min-K%'s k is either fixed in advance or chosen on
a *calibration* set: labelled members and non-members that share no text with the evaluation
set. Choosing it on the evaluation set itself (the best of a sweep, as several papers report)
inflates the reported numbers. :func:`grid_search` sees only calibration scores and labels:
the caller computes the attack on the calibration samples for every grid value, and nothing
here can reach evaluation labels.

Rule: the value with the highest AUROC on the calibration labels wins; ties go to the value
listed first in the grid (so list the default or the simplest value first, e.g. ``γ = 0``).
Samples with a NaN score for a value are left out of that value's AUROC and counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miakit.errors import InvalidParameterError
from miakit.metrics import auroc


@dataclass(frozen=True)
class GridResult:
    """The outcome of a grid search over one hyperparameter.

    Attributes:
        attack, param: what was tuned.
        grid: the values tried, in order.
        auroc: AUROC on the calibration labels per value (NaN where it was undefined: fewer
            than one scored member or non-member).
        n_nan: calibration samples with a NaN score, per value.
        best: the chosen value.
    """

    attack: str
    param: str
    grid: tuple[Any, ...]
    auroc: tuple[float, ...]
    n_nan: tuple[int, ...]
    best: Any

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN AUROCs become ``None``)."""
        return {
            "attack": self.attack,
            "param": self.param,
            "chosen": self.best,
            "grid": [
                {"value": v, "auroc": None if math.isnan(a) else a, "n_nan": k}
                for v, a, k in zip(self.grid, self.auroc, self.n_nan, strict=True)
            ],
        }


def grid_search(
    score: Callable[[Any], np.ndarray],
    grid: Sequence[Any],
    labels: np.ndarray,
    *,
    attack: str,
    param: str,
) -> GridResult:
    """Pick the grid value whose calibration scores separate the calibration labels best.

    Args:
        score: value -> calibration scores, shape ``(n_calibration,)``, higher = member, NaN
            where a sample cannot be scored.
        grid: candidate values (non-empty), in order of preference on ties.
        labels: shape ``(n_calibration,)``, 1 = member, 0 = non-member.
        attack, param: names for the result and messages.

    Returns:
        A :class:`GridResult`.

    Raises:
        InvalidParameterError: an empty grid, labels that are not 0/1 or lack a class, a score
            array of the wrong shape, or no value with a defined AUROC.
    """
    if not len(grid):
        raise InvalidParameterError(f"calibration of {attack}.{param}: the grid is empty")
    y = np.asarray(labels)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise InvalidParameterError(
            f"calibration of {attack}.{param}: labels must be a 1-D array of 0/1"
        )
    if not ((y == 1).any() and (y == 0).any()):
        raise InvalidParameterError(
            f"calibration of {attack}.{param} needs members and non-members; got "
            f"{int((y == 1).sum())} member(s) and {int((y == 0).sum())} non-member(s)"
        )
    aurocs: list[float] = []
    n_nan: list[int] = []
    for value in grid:
        s = np.asarray(score(value), dtype=np.float64)
        if s.shape != y.shape:
            raise InvalidParameterError(
                f"calibration of {attack}.{param}={value!r}: got scores of shape {s.shape}, "
                f"expected {y.shape}"
            )
        finite = np.isfinite(s)
        n_nan.append(int((~finite).sum()))
        ys = y[finite]
        if (ys == 1).any() and (ys == 0).any():
            aurocs.append(float(auroc(s[finite], ys)))
        else:
            aurocs.append(float("nan"))
    defined = [i for i, a in enumerate(aurocs) if not math.isnan(a)]
    if not defined:
        raise InvalidParameterError(
            f"calibration of {attack}.{param}: no grid value could be scored on both classes "
            "of the calibration set (too many NaN scores?)"
        )
    best = max(defined, key=lambda i: (aurocs[i], -i))  # highest AUROC, then earliest
    return GridResult(
        attack=attack,
        param=param,
        grid=tuple(grid),
        auroc=tuple(aurocs),
        n_nan=tuple(n_nan),
        best=grid[best],
    )
