"""The family-wise statistic of the blind baselines' label-permutation test (see :mod:`._cv`)."""

from __future__ import annotations

from typing import Any

import numpy as np


def family_test(stats: dict[str, np.ndarray], alpha: float, test_n: int) -> dict[str, Any]:
    """The max-over-baselines permutation p-value from ``(1 + P,)`` AUROCs per baseline."""
    names = list(stats)
    table = np.vstack([stats[name] for name in names])  # (n_baselines, 1 + P)
    top = table.max(axis=0)  # (1 + P,) the statistic: best AUROC of each labelling
    observed, null = top[0], top[1:]
    # a tolerance so that a permuted maximum equal to the observed one up to rounding counts
    exceed = int(np.count_nonzero(null >= observed - 1e-12))
    return {
        "permutation_p": (1 + exceed) / (1 + null.shape[0]),
        "alpha": alpha,
        "n_permutations": int(null.shape[0]),
        "test_n": test_n,
        "test_best": names[int(np.argmax(table[:, 0]))],
        "permutation_null_mean": float(null.mean()),
        # what each baseline's AUROC looks like under no shift (the honest spread, with the
        # small negative bias of pooled out-of-fold scores): [mean, sd] over the permutations
        "null_auroc": {
            name: [float(row[1:].mean()), float(row[1:].std())]
            for name, row in zip(names, table, strict=True)
        },
    }
