"""Out-of-fold ridge scores of one baseline for many labellings at once (see :mod:`._cv`).

The folds depend on positions only (a seeded ``KFold``), and each fold's transformer
(vocabulary, idf, imputer, scaler) is unsupervised, so one fold's feature matrices and kernels
serve the real labels and every permutation of them; the ridge fit is linear in the labels,
so all labellings of a fold are one solve (:func:`miakit.metrics.ridge.ridge_scores`).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
import scipy.sparse as sp

from miakit.blind._registry import BlindPipeline
from miakit.blind._ridge import fold_ridge_scores
from miakit.errors import InvalidParameterError
from miakit.metrics.ridge import RIDGE

Folds = list[tuple[np.ndarray, np.ndarray]]


def make_folds(n: int, k: int, seed: int, groups: np.ndarray | None = None) -> Folds:
    """``k`` seeded folds over positions ``0..n-1`` (``KFold(k, shuffle=True)``), label-free.

    With ``groups`` (``(n,)`` int codes: the document of each position, e.g. the chunks of
    one long text), whole groups go to one fold: the groups in a seeded random order, each to
    the fold with the fewest positions so far. A document's chunks share its words, so a
    fold that trained on some of them would recognise the others (issue 13). ``k`` must not
    exceed the number of groups.
    """
    if groups is None:
        from sklearn.model_selection import KFold

        cv = KFold(n_splits=k, shuffle=True, random_state=seed)
        return list(cv.split(np.zeros((n, 1))))
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    sizes = np.bincount(inverse)
    fold_of = np.empty(len(sizes), dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for g in np.random.default_rng([seed, 2406, 13]).permutation(len(sizes)):
        fold_of[g] = int(np.argmin(load))
        load[fold_of[g]] += sizes[g]
    fold = fold_of[inverse]
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]


#: Most threads of the fold jobs' pool (each holds a fold's kernels: 0.3-0.5 GB at 4,000 texts).
MAX_THREADS = 8


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if sys.platform == "linux" else (os.cpu_count() or 1)


def pool_size(n_jobs: int) -> int:
    """Threads for ``n_jobs`` fold jobs: one core fewer than :func:`usable_cores` (the caller's
    thread keeps one: a run's scoring loop when the checks run in the background), at most
    :data:`MAX_THREADS` and ``n_jobs``, at least 1."""
    return max(1, min(n_jobs, usable_cores() - 1, MAX_THREADS))


def permuted_labels(
    y: np.ndarray, n_permutations: int, seed: int, groups: np.ndarray | None = None
) -> np.ndarray:
    """``(n, n_permutations)`` int64: independent uniform permutations of ``y``, seeded.

    With ``groups`` (``(n,)`` codes; ``y`` constant within each), the groups' labels are
    permuted and every position takes its group's: under no shift the documents, not the
    chunks, are exchangeable."""
    rng = np.random.default_rng([seed, 2406])
    y = np.asarray(y, dtype=np.int64)
    if groups is None:
        tiled = np.tile(y, (n_permutations, 1))  # (n_perm, n)
        return np.ascontiguousarray(rng.permuted(tiled, axis=1).T)
    _, first, inverse = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
    tiled = np.tile(y[first], (n_permutations, 1))  # (n_perm, n_groups)
    return np.ascontiguousarray(rng.permuted(tiled, axis=1)[:, inverse].T)


#: Fewest texts per featurization chunk: below it the texts are featurized in one call.
MIN_CHUNK = 1000
#: Most texts per featurization chunk: the vectorised hashing holds every n-gram of a chunk
#: at once (about 190 MB per 1,000 texts of ~1,000 characters; 100,000 texts in one call
#: needed about 19 GB).
MAX_CHUNK = 4000


def featurize(
    pipeline: BlindPipeline, texts: list[str], pool: Executor, threads: int
) -> Callable[[], Any]:
    """Start ``pipeline.featurize(texts)`` on ``pool``, in up to ``threads`` row chunks of at
    least :data:`MIN_CHUNK` texts, more when a chunk would exceed :data:`MAX_CHUNK`; the
    returned function waits and returns the matrix.

    ``featurize`` is row-wise (:class:`~miakit.blind.BlindPipeline`), so the chunks stacked
    are the matrix of one call, entry for entry (sparse chunks stack as canonical CSR). The
    character hashing is numpy and runs beside the other chunks and baselines.
    """
    parts = max(1, min(threads, len(texts) // MIN_CHUNK), -(-len(texts) // MAX_CHUNK))
    bounds = np.linspace(0, len(texts), parts + 1).astype(int)
    jobs = [pool.submit(pipeline.featurize, texts[lo:hi]) for lo, hi in itertools.pairwise(bounds)]

    def wait() -> Any:
        chunks = [job.result() for job in jobs]  # in order: the first failing chunk's error
        if len(chunks) == 1:
            return chunks[0]
        if sp.issparse(chunks[0]):
            return sp.vstack(chunks, format="csr")
        return np.vstack(chunks)

    return wait


def _fold_matrices(pipeline: BlindPipeline, x: Any, train: np.ndarray, test: np.ndarray) -> Any:
    from sklearn.base import clone

    if pipeline.transform is None:
        return x[train], x[test]
    # A fresh transformer per fold, fitted on the training rows only and never on labels.
    t = clone(pipeline.transform)
    return t.fit_transform(x[train]), t.transform(x[test])


def oof_scores(
    pipeline: BlindPipeline,
    x: Any,
    labels: np.ndarray,
    folds: Folds,
    pool: Executor | None = None,
) -> Callable[[], np.ndarray]:
    """Start the ``(n, m)`` out-of-fold ridge scores of ``x`` ``(n, f)`` for each column of
    ``labels``; the returned function waits for them and returns them.

    Each fold is one job on ``pool`` (numpy, scipy and BLAS release the GIL, so folds and
    baselines run on as many cores as the pool has threads), or runs at once without a pool.
    Every fold writes its own rows, so the scores do not depend on the order the jobs finish.

    Args:
        pipeline: the baseline (its ``transform`` is fitted per fold).
        x: ``(n, f)`` featurized texts, numpy or scipy sparse.
        labels: ``(n, m)`` 0/1 labellings (column 0 is usually the real one).
        folds: from :func:`make_folds`.
        pool: where the fold jobs run (``None``: here, one after the other).

    Raises:
        ValueError: (from the returned function) when the transformer cannot be fitted on a
            training fold; the first such fold in fold order.
    """
    out = np.full(labels.shape, np.nan, dtype=np.float64)

    def one(train: np.ndarray, test: np.ndarray) -> None:
        x_train, x_test = _fold_matrices(pipeline, x, train, test)
        out[test] = fold_ridge_scores(x_train, x_test, labels[train])

    if pool is None:
        for train, test in folds:
            one(train, test)
        return lambda: out
    jobs = [pool.submit(one, train, test) for train, test in folds]

    def wait() -> np.ndarray:
        for job in jobs:  # in fold order: the first failing fold's error, as without a pool
            job.result()
        return out

    return wait


def oof_scores_primal(pipeline: BlindPipeline, x: Any, y: np.ndarray, folds: Folds) -> np.ndarray:
    """``(n,)`` the same ridge classifier as :func:`oof_scores`, solved in primal form.

    For sets too large for the ``(n_train, n_train)`` kernel: scikit-learn's ``Ridge`` with an
    intercept and the same penalty (:data:`~miakit.metrics.ridge.RIDGE` times the mean squared
    norm of the centred training rows), iterative, to its default tolerance.
    """
    from sklearn.linear_model import Ridge

    out = np.full(y.shape[0], np.nan, dtype=np.float64)
    for train, test in folds:
        x_train, x_test = _fold_matrices(pipeline, x, train, test)
        y_train = y[train].astype(np.float64)
        if np.ptp(y_train) == 0:  # one class only: nothing to learn, as in ridge_scores
            out[test] = 0.0
            continue
        model = Ridge(alpha=_penalty(x_train)).fit(x_train, y_train)
        out[test] = model.predict(x_test) - y_train.mean()  # without the intercept, as there
    return out


def _penalty(x: Any) -> float:
    """:data:`RIDGE` times the mean squared norm of the centred rows of ``x``."""
    if sp.issparse(x):
        x = sp.csr_matrix(x, dtype=np.float64)
        squares = float(x.multiply(x).sum())
        mean = np.asarray(x.mean(axis=0)).ravel()
    else:
        x = np.asarray(x, dtype=np.float64)
        squares = float((x * x).sum())
        mean = x.mean(axis=0)
    n = x.shape[0]
    return RIDGE * max((squares - n * float(mean @ mean)) / n, 1e-12)


def group_codes(groups: Sequence[str], y: np.ndarray) -> np.ndarray:
    """``(n,)`` int codes of ``groups``.

    Raises:
        InvalidParameterError: not one group per sample, or a group whose labelled samples
            carry different labels (its samples would not be exchangeable as one unit).
    """
    g = [str(x) for x in groups]
    if len(g) != y.shape[0]:
        raise InvalidParameterError(f"groups: {len(g)} values for {y.shape[0]} samples.")
    _, codes = np.unique(np.array(g, dtype=object), return_inverse=True)
    seen: dict[int, int] = {}
    for c, label in zip(codes.tolist(), y.tolist(), strict=True):
        if label != -1 and seen.setdefault(c, label) != label:
            raise InvalidParameterError(f"group {g[codes.tolist().index(c)]!r} mixes labels.")
    return np.asarray(codes, dtype=np.int64)
