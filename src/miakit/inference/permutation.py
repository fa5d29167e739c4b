"""The dataset-inference test: cross-fitted combiner scores, calibrated by label permutation.

Statistic. The rows (suspect texts labelled 1, validation texts 0) are split into ``k``
folds. For each fold the combiner (:mod:`miakit.inference.combiner`) is fitted on the other
folds and scores the held-out fold, so every row gets a score from a model that never saw
it. The statistic is the AUROC of those held-out scores, suspect against validation (the
Mann–Whitney U statistic over ``n_s * n_v``): one-sided, large when suspect texts score
higher.

p-value. The whole procedure, fit included, is rerun on ``n_permutations`` random
permutations of the labels, and ``p = (1 + #{T_perm >= T_obs}) / (1 + n_permutations)``.
Under the null hypothesis (suspect and validation texts are exchangeable: drawn from one
distribution, and the model treats them alike) every labelling is equally likely, so this
p-value is valid at every sample size: ``P(p <= a) <= a`` for all ``a``, with no
distributional assumption about the features. It is exact for the random folds used here
(a seeded random partition, independent of the labels and the same for every labelling:
the folds and the fold-wise clipping and standardisation are label-free, so only the ridge
fit depends on the labels, and it is linear in them; see :mod:`~miakit.inference.combiner`).

Folds and permutations follow the rows, not their positions: a row's fold is the rank of a
seeded hash of its id, and the permutations are drawn over the rows in that order, so
shuffling the input rows permutes every per-row output accordingly and leaves the p-value
unchanged; copies of one row (the bootstrap) stay in one fold, never on both sides of a fit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from miakit.inference.combiner import CLIP_QUANTILE, fit_score
from miakit.metrics.ranks import auroc_columns

#: Permutations by default: resolves alpha = 0.01 (smallest p = 0.001).
DEFAULT_PERMUTATIONS = 999
#: Folds of the cross-fit by default.
DEFAULT_FOLDS = 5
#: Labellings scored per block (bounds memory at ``n * BLOCK`` floats).
BLOCK = 250


def id_order(ids: Sequence[str], seed: int) -> np.ndarray:
    """``(n,)`` positions of the rows sorted by ``blake2b(seed, id)``: an order of the rows
    that depends on their ids only, not on where they sit in the input."""
    keys = [
        int.from_bytes(hashlib.blake2b(f"{seed}\x00{i}".encode(), digest_size=8).digest(), "big")
        for i in ids
    ]
    return np.argsort(np.array(keys, dtype=np.uint64), kind="stable")


def assign_folds(ids: Sequence[str], n_folds: int, seed: int) -> np.ndarray:
    """``(n,)`` fold of each row: its rank in :func:`id_order`, modulo ``n_folds``.

    Balanced (sizes differ by at most one), label-free, and a function of the ids only: the
    same id lands in the same fold wherever its row sits.
    """
    order = id_order(ids, seed)
    folds = np.empty(len(order), dtype=np.int64)
    folds[order] = np.arange(len(order)) % n_folds
    return folds


def cross_fit(
    x: np.ndarray, labels: np.ndarray, folds: np.ndarray, *, clip: float = CLIP_QUANTILE
) -> np.ndarray:
    """Held-out combiner scores for every labelling.

    Args:
        x: ``(n, f)`` raw features.
        labels: ``(n,)`` or ``(n, m)`` 0/1 labellings (1 = suspect).
        folds: ``(n,)`` fold of each row.
        clip: share of each tail clipped per feature.

    Returns:
        ``(n,)`` or ``(n, m)``: row ``i``'s score from the combiner fitted on the rows of the
        other folds, for each labelling.
    """
    out = np.zeros(labels.shape, dtype=np.float64)
    for k in np.unique(folds):
        test = folds == k
        out[test] = fit_score(x[~test], x[test], labels[~test], clip=clip)
    return out


@dataclass(frozen=True)
class PermutationTest:
    """The outcome of :func:`permutation_test`.

    Attributes:
        auroc: the observed statistic (held-out AUROC, suspect vs validation).
        p_value: ``(1 + #{null >= auroc}) / (1 + n_permutations)``.
        n_permutations: permutations drawn.
        null_mean, null_sd: mean and standard deviation of the statistic over the
            permutations (its spread when nothing separates the sets).
        scores: ``(n,)`` held-out scores of the real labelling.
        folds: ``(n,)`` fold of each row.
    """

    auroc: float
    p_value: float
    n_permutations: int
    null_mean: float
    null_sd: float
    scores: np.ndarray
    folds: np.ndarray


def permutation_test(
    x: np.ndarray,
    y: np.ndarray,
    ids: Sequence[str],
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    n_folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    clip: float = CLIP_QUANTILE,
) -> PermutationTest:
    """One-sided test that suspect rows (``y == 1``) score higher than validation rows.

    No input checks (the caller's job, :func:`miakit.inference.dataset_inference_from_features`).

    Args:
        x: ``(n, f)`` raw features.
        y: ``(n,)`` 0/1 labels, both classes present.
        ids: ``n`` unique row ids (they fix the folds).
        n_permutations: label permutations of the null distribution (>= 1).
        n_folds: folds of the cross-fit (>= 2).
        seed: seed of the folds and of the permutations.
        clip: share of each tail clipped per feature.
    """
    folds = assign_folds(ids, n_folds, seed)
    order = id_order(ids, seed)  # permutations act on rows in this order: input order is moot
    yi = np.asarray(y, dtype=np.int64)
    rng = np.random.default_rng([seed, 2406, 6443])
    observed = cross_fit(x, yi.astype(np.float64), folds, clip=clip)
    t_obs = float(auroc_columns(observed, yi[:, None])[0])
    null: list[np.ndarray] = []
    done = 0
    while done < n_permutations:
        b = min(BLOCK, n_permutations - done)
        perm = np.empty((yi.shape[0], b), dtype=np.int64)  # (n, b) permuted labellings
        perm[order] = rng.permuted(np.tile(yi[order], (b, 1)), axis=1).T
        s = cross_fit(x, perm.astype(np.float64), folds, clip=clip)
        null.append(auroc_columns(s, perm))
        done += b
    t_null = np.concatenate(null)
    # a tolerance so that a permuted statistic equal to the observed one up to rounding counts
    exceed = int(np.count_nonzero(t_null >= t_obs - 1e-12))
    return PermutationTest(
        auroc=t_obs,
        p_value=(1 + exceed) / (1 + n_permutations),
        n_permutations=n_permutations,
        null_mean=float(t_null.mean()),
        null_sd=float(t_null.std()),
        scores=observed,
        folds=folds,
    )
