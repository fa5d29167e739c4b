"""How many texts do you need? The p-value of the test on growing subsets of the texts.

For each size ``n`` the test (:func:`~miakit.inference.permutation.permutation_test`) runs on
``n`` suspect and ``n`` validation texts drawn at random without replacement; ``repeats``
independent draws per size show the spread. Within one draw the subsets are nested (the
first ``n`` of one seeded shuffle of each set), so a curve follows one growing sample.

This curve is descriptive. Its p-values are many looks at the same data, so none of them is
the verdict: the verdict is the single, pre-registered test on all texts. Reading "p drops
below alpha at about n texts" off it is fine; choosing the ``n`` that gives the smallest p
would not be.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from miakit.inference.combiner import CLIP_QUANTILE
from miakit.inference.permutation import DEFAULT_FOLDS, DEFAULT_PERMUTATIONS, permutation_test

#: Sizes tried by default (per set), up to the smaller set; that size itself is always added.
DEFAULT_SIZES = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
#: Independent draws per size by default.
DEFAULT_REPEATS = 5


def default_sizes(n_max: int, minimum: int) -> list[int]:
    """:data:`DEFAULT_SIZES` from ``minimum`` to ``n_max``, with ``n_max`` itself."""
    sizes = [n for n in DEFAULT_SIZES if minimum <= n < n_max]
    return [*sizes, n_max]


def power_curve(
    x_suspect: np.ndarray,
    x_validation: np.ndarray,
    ids_suspect: Sequence[str],
    ids_validation: Sequence[str],
    *,
    sizes: Sequence[int],
    repeats: int = DEFAULT_REPEATS,
    alpha: float = 0.01,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    n_folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    clip: float = CLIP_QUANTILE,
) -> list[dict[str, Any]]:
    """p-values of the test on ``n`` suspect and ``n`` validation texts, for each size.

    Args:
        x_suspect, x_validation: ``(n_s, f)`` and ``(n_v, f)`` raw features.
        ids_suspect, ids_validation: their unique ids.
        sizes: texts per set, each at most ``min(n_s, n_v)``.
        repeats: independent draws per size.
        alpha: level for the ``detected`` share.
        n_permutations, n_folds, seed, clip: as the test.

    Returns:
        One dict per size, in order: ``n_per_set``, ``p_values`` (one per draw), ``median_p``,
        ``auroc`` (median held-out AUROC), ``detected`` (share of draws with ``p <= alpha``).
    """
    rng = np.random.default_rng([seed, 2406, 7])
    orders = [
        (rng.permutation(len(ids_suspect)), rng.permutation(len(ids_validation)))
        for _ in range(repeats)
    ]
    rows = []
    for n in sizes:
        ps: list[float] = []
        aurocs: list[float] = []
        for r, (os_, ov) in enumerate(orders):
            s, v = os_[:n], ov[:n]
            x = np.vstack([x_suspect[s], x_validation[v]])
            y = np.r_[np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)]
            ids = [f"s\x00{ids_suspect[i]}" for i in s] + [f"v\x00{ids_validation[i]}" for i in v]
            t = permutation_test(
                x, y, ids, n_permutations=n_permutations, n_folds=n_folds, seed=seed + r, clip=clip
            )
            ps.append(t.p_value)
            aurocs.append(t.auroc)
        rows.append(
            {
                "n_per_set": int(n),
                "p_values": ps,
                "median_p": float(np.median(ps)),
                "auroc": float(np.median(aurocs)),
                "detected": float(np.mean(np.array(ps) <= alpha)),
            }
        )
    return rows
