"""Chunk scores aggregated to document scores (issue 13; arXiv 2411.00154, 2310.15007).

A document's chunks each have one score per attack (higher = more likely member). Its
document score, per aggregate, is a statistic of the finite chunk scores: NaN chunk scores
(an attack that could not score a chunk, e.g. a last chunk too short for it) are left out and
counted; a document none of whose chunks was scored is NaN.

Metrics of document scores come from :func:`miakit.metrics.evaluate` applied to one value per
document, so its bootstrap resamples documents, never chunks: chunks of one document are not
independent, and resampling them would give intervals that are too narrow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from miakit.errors import InvalidParameterError

#: The aggregates of a document's chunk scores, in output order. ``qNN``: the NN-th percentile
#: (numpy's default linear interpolation, which pandas' ``quantile`` uses too).
AGGREGATES: tuple[str, ...] = ("mean", "min", "max", "median", "q25", "q75")

_QUANTILE = {"median": 0.5, "q25": 0.25, "q75": 0.75}


def group_codes(doc_ids: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """``(codes, names)``: document ``names`` in order of first appearance, and for each chunk
    the index of its document, int64 of shape ``(n_chunks,)``."""
    index: dict[str, int] = {}
    codes = np.array([index.setdefault(d, len(index)) for d in doc_ids], dtype=np.int64)
    return codes, list(index)


def aggregate(
    scores: np.ndarray, codes: np.ndarray, n_docs: int, *, aggregates: Sequence[str] = AGGREGATES
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-document aggregates of chunk ``scores``.

    Args:
        scores: ``(n_chunks,)`` chunk scores; NaN = not scored (left out).
        codes: ``(n_chunks,)`` int document index of each chunk, in ``0 .. n_docs - 1``.
        n_docs: the number of documents (each must have at least one chunk).
        aggregates: names from :data:`AGGREGATES`.

    Returns:
        ``(values, n_scored)``: aggregate -> ``(n_docs,)`` float64 (NaN for a document with no
        scored chunk), and ``(n_docs,)`` int64, the scored chunks of each document.

    Raises:
        InvalidParameterError: shapes disagree, a code is out of range, a document has no
            chunk, or an aggregate is unknown.
    """
    x = np.asarray(scores, dtype=np.float64)
    c = np.asarray(codes)
    if x.ndim != 1 or c.shape != x.shape:
        raise InvalidParameterError(f"scores {x.shape} and codes {c.shape} must be equal 1-d")
    if not np.issubdtype(c.dtype, np.integer) or (len(c) and (c.min() < 0 or c.max() >= n_docs)):
        raise InvalidParameterError(f"codes must be integers in 0..{n_docs - 1}")
    unknown = [a for a in aggregates if a not in AGGREGATES]
    if unknown:
        raise InvalidParameterError(f"unknown aggregate(s) {unknown}; choose from {AGGREGATES}")
    sizes = np.bincount(c, minlength=n_docs)
    if (sizes == 0).any():
        raise InvalidParameterError(f"document {int(np.argmin(sizes))} has no chunk")
    # NaN last within each document, then ascending: each document's finite scores are a
    # sorted run starting at its offset (lexsort: the last key is the primary one)
    order = np.lexsort((x, np.isnan(x), c))
    v = x[order]
    n_scored = np.bincount(c[~np.isnan(x)], minlength=n_docs).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # (n_docs,) first chunk of each
    ok = n_scored > 0
    values = {a: np.full(n_docs, np.nan) for a in aggregates}
    first, last = start[ok], start[ok] + n_scored[ok] - 1
    for a in aggregates:
        if a == "mean":
            total = np.bincount(c[~np.isnan(x)], weights=x[~np.isnan(x)], minlength=n_docs)
            values[a][ok] = total[ok] / n_scored[ok]
        elif a == "min":
            values[a][ok] = v[first]
        elif a == "max":
            values[a][ok] = v[last]
        else:  # numpy's linear interpolation between order statistics
            h = (n_scored[ok] - 1) * _QUANTILE[a]
            lo = np.floor(h).astype(np.int64)
            hi = np.minimum(lo + 1, n_scored[ok] - 1)
            below, above = v[first + lo], v[first + hi]
            values[a][ok] = below + (h - lo) * (above - below)
    return values, n_scored


def document_labels(labels: np.ndarray, codes: np.ndarray, n_docs: int) -> np.ndarray:
    """``(n_docs,)`` int64 label of each document (1 member, 0 non-member, -1 unknown), from
    chunk ``labels`` that agree within each document.

    Raises:
        InvalidParameterError: a document's chunks carry different labels; the message gives
            the index of the first such document (the caller names it).
    """
    y = np.asarray(labels, dtype=np.int64)
    out = np.full(n_docs, -2, dtype=np.int64)
    for d, label in zip(np.asarray(codes), y, strict=True):
        if out[d] == -2:
            out[d] = label
        elif out[d] != label:
            raise InvalidParameterError(f"document {int(d)} mixes labels")
    return out
