"""The IN/OUT membership matrix of a shadow-model experiment.

``membership[i, m]`` is True when pool example ``i`` is in model ``m``'s training set. It is
balanced both ways, as in LiRA's ``train.py`` (arXiv 2112.03570, ``keep = order < pkeep * N``
with ``pkeep = 0.5``) and one step further:

- every example is IN for exactly ``n_models / 2`` models (each row is a random half of the
  models), so every example has as many IN as OUT shadow models;
- every model trains on exactly ``n_pool / 2`` examples, so the models of one experiment take
  the same number of steps and can train side by side (:mod:`miakit.shadow.concurrent`).

Construction: random row halves first, then column sums are evened out by moving single
entries within a row from a column above ``n_pool / 2`` to one below it (a row's count never
changes), each move at a random row that allows it.

Caveat of any exactly balanced design, LiRA's included: with leave-one-out evaluation, the
number of IN shadows of an example tells the target's membership (``n/2 - 1`` if IN, ``n/2``
if OUT). No attack here reads that count; an attack that did would be cheating.
"""

from __future__ import annotations

import numpy as np

from miakit.errors import InvalidParameterError


def balanced_membership(n_pool: int, n_models: int, *, seed: int) -> np.ndarray:
    """A ``(n_pool, n_models)`` bool matrix with every row sum ``n_models / 2`` and every
    column sum ``n_pool / 2``.

    Raises:
        InvalidParameterError: ``n_models`` or ``n_pool`` odd or too small.
    """
    if n_models < 2 or n_models % 2:
        raise InvalidParameterError(
            f"n_models must be even and >= 2 (each example IN for exactly half), got {n_models}"
        )
    if n_pool < 2 or n_pool % 2:
        raise InvalidParameterError(f"the pool size must be even and >= 2, got {n_pool}")
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_pool, n_models)), axis=1)
    keep = order < n_models // 2  # (n_pool, n_models): a random half of the models per row
    half = n_pool // 2
    while True:
        sums = keep.sum(axis=0)
        over = np.flatnonzero(sums > half)
        under = np.flatnonzero(sums < half)
        if len(over) == 0:  # sums total n_pool * n_models / 2, so none under either
            return keep
        j, k = int(over[0]), int(under[0])
        rows = np.flatnonzero(keep[:, j] & ~keep[:, k])
        moves = min(int(sums[j]) - half, half - int(sums[k]), len(rows))
        pick = rng.choice(rows, size=moves, replace=False)
        keep[pick, j] = False
        keep[pick, k] = True


def check_membership(membership: np.ndarray) -> None:
    """Raise unless ``membership`` is a balanced 2-D bool matrix (both ways).

    Raises:
        InvalidParameterError: naming the first unbalanced row or column.
    """
    m = np.asarray(membership)
    if m.dtype != bool or m.ndim != 2:
        raise InvalidParameterError(f"membership must be a 2-D bool array, got {m.dtype} {m.shape}")
    rows = m.sum(axis=1)
    bad = np.flatnonzero(rows * 2 != m.shape[1])
    if len(bad):
        raise InvalidParameterError(
            f"example {int(bad[0])} is IN for {int(rows[bad[0]])} of {m.shape[1]} models; "
            "every example must be IN for exactly half"
        )
    cols = m.sum(axis=0)
    bad = np.flatnonzero(cols * 2 != m.shape[0])
    if len(bad):
        raise InvalidParameterError(
            f"model {int(bad[0])} trains on {int(cols[bad[0]])} of {m.shape[0]} examples; "
            "every model must train on exactly half"
        )


__all__ = ["balanced_membership", "check_membership"]
