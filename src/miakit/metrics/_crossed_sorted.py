"""The sorted pairs and one resample of :mod:`miakit.metrics.crossed` (private, numpy).

A resample is a weight (draw count) per ``(target, example)`` pair; TPR at an FPR is read
from the top of the sorted non-members only (:func:`tpr_at`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Weights of a top slice: ``take(start) -> (n - start,)`` float64 draw counts of the sorted
#: pairs ``start..n-1`` of one class.
Take = Callable[[int], np.ndarray]
#: ``above(cuts) -> [drawn members at sorted positions >= cut, for each cut]``.
Above = Callable[[Sequence[int]], list[float]]


@dataclass(frozen=True)
class Sorted:
    """Members and non-members sorted ascending once, with their target and example ids."""

    pos: np.ndarray  # (n_pos,) member scores, ascending
    neg: np.ndarray  # (n_neg,) non-member scores, ascending
    pos_row: np.ndarray  # (n_pos,) target of each sorted member
    pos_col: np.ndarray  # (n_pos,) example of each sorted member
    neg_row: np.ndarray  # (n_neg,)
    neg_col: np.ndarray  # (n_neg,)
    lo: np.ndarray  # (n_pos,) non-members strictly below each sorted member
    hi: np.ndarray  # (n_pos,) non-members below or tied
    tied: bool  # some member ties a non-member (else lo == hi)
    per_row: tuple[np.ndarray, np.ndarray]  # (n_targets,) members, non-members per target
    per_col: tuple[np.ndarray, np.ndarray]  # (n_examples,) members, non-members per example


def sort_pairs(
    s: np.ndarray, y: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]
) -> Sorted:
    pos, neg = y == 1, y == 0
    # the order inside a tie does not matter: ties are found by searchsorted on the values
    po = np.argsort(s[pos])
    no = np.argsort(s[neg])
    ps, ns = s[pos][po], s[neg][no]
    lo = np.searchsorted(ns, ps, side="left")
    hi = np.searchsorted(ns, ps, side="right")
    return Sorted(
        pos=ps,
        neg=ns,
        pos_row=rows[pos][po],
        pos_col=cols[pos][po],
        neg_row=rows[neg][no],
        neg_col=cols[neg][no],
        lo=lo,
        hi=hi,
        tied=bool(np.any(lo != hi)),
        per_row=(
            np.bincount(rows[pos], minlength=shape[0]).astype(np.float64),
            np.bincount(rows[neg], minlength=shape[0]).astype(np.float64),
        ),
        per_col=(
            np.bincount(cols[pos], minlength=shape[1]).astype(np.float64),
            np.bincount(cols[neg], minlength=shape[1]).astype(np.float64),
        ),
    )


def max_false_positives(fpr: float, n_neg: float) -> int:
    """Largest integer ``k <= n_neg`` with ``k / n_neg <= fpr`` (the float test of
    :func:`miakit.metrics.roc_curve`'s rates)."""
    k = min(math.floor(fpr * n_neg), int(n_neg))
    while k + 1 <= n_neg and (k + 1) / n_neg <= fpr:
        k += 1
    while k > 0 and k / n_neg > fpr:
        k -= 1
    return k


def placements(d: Sorted) -> tuple[np.ndarray, np.ndarray]:
    """Twice the Mann-Whitney placements: per sorted member, the non-members below it (ties
    1/2); per sorted non-member, the members above it (ties 1/2); both doubled, so integers.
    Each sums to 2U."""
    n_pos = d.pos.shape[0]
    twice_pos = (d.lo + d.hi).astype(np.float64)
    lo = np.searchsorted(d.pos, d.neg, side="left")
    hi = np.searchsorted(d.pos, d.neg, side="right")
    twice_neg = (2 * n_pos - lo - hi).astype(np.float64)
    return twice_pos, twice_neg


def tpr_at(
    d: Sorted,
    take_neg: Take,
    above: Above,
    n_pos: float,
    n_neg: float,
    fpr_targets: Sequence[float],
) -> list[float]:
    """TPR at each FPR of one resample, exactly, reading only the top of the sorted
    non-members.

    Args:
        d: the sorted pairs.
        take_neg: the resample's draw counts of a top slice of the sorted non-members (see
            :data:`Take`).
        above: the resample's drawn members at sorted positions ``>= cut`` for each cut.
        n_pos, n_neg: the resample's weighted class counts (> 0).
        fpr_targets: FPR targets in [0, 1].
    """
    n_all = d.neg.shape[0]
    ks = [max_false_positives(f, n_neg) for f in fpr_targets]
    need = max((k + 1 for k in ks if k < n_neg), default=0)
    top = min(n_all, 2 * need + 1024)
    while True:  # grow the slice until it holds `need` drawn non-members
        from_top = np.cumsum(take_neg(n_all - top)[::-1])
        if top == n_all or from_top[-1] >= need:
            break
        top = min(n_all, 4 * top)
    cuts = []
    for k in ks:
        if k < n_neg:
            # v: the (k + 1)-th highest drawn non-member (where the count from the top
            # reaches k + 1; it has a weight > 0); members strictly above v are flagged
            i = int(np.searchsorted(from_top, k + 1, side="left"))
            cuts.append(int(np.searchsorted(d.pos, d.neg[n_all - 1 - i], side="right")))
    flagged = iter(above(cuts))
    return [1.0 if k >= n_neg else float(next(flagged)) / n_pos for k in ks]


@dataclass(frozen=True)
class Anchors:
    """Members at or above a few sorted positions (the point estimate's cuts), counted per
    target and per example: a resample's count above a nearby cut is then a dot product
    plus the few members between the two cuts."""

    cuts: np.ndarray  # (m,) positions in the sorted members
    per_row: np.ndarray  # (m, n_targets) members at positions >= cut, per target
    per_col: np.ndarray  # (m, n_examples)


def anchors(d: Sorted, cuts: Sequence[int], n_rows: int, n_cols: int) -> Anchors:
    cut = np.asarray(sorted(set(cuts)) or [d.pos.shape[0]], dtype=np.int64)
    return Anchors(
        cuts=cut,
        per_row=np.stack([np.bincount(d.pos_row[c:], minlength=n_rows) for c in cut]) * 1.0,
        per_col=np.stack([np.bincount(d.pos_col[c:], minlength=n_cols) for c in cut]) * 1.0,
    )


def _block_above(ids: np.ndarray, u: np.ndarray, cuts: np.ndarray, base: np.ndarray) -> Above:
    """``above`` when the sorted member ``k`` is drawn ``u[ids[k]]`` times."""

    def above(wanted: Sequence[int]) -> list[float]:
        out = []
        for f in wanted:
            j = int(np.argmin(np.abs(cuts - f)))
            c, total = int(cuts[j]), dot(u, base[j])
            if f < c:
                total += float(u[ids[f:c]].sum())
            elif f > c:
                total -= float(u[ids[c:f]].sum())
            out.append(total)
        return out

    return above


def _pair_above(rng: np.random.Generator, n: int, n_pick: int) -> Above:
    """``above`` for ``n_pick`` draws with replacement from ``n`` sorted members: the draws
    between consecutive cuts are multinomial (one draw for all cuts of a resample)."""

    def above(wanted: Sequence[int]) -> list[float]:
        edges = sorted(set(wanted))
        lengths = np.diff([0, *edges, n])
        per_segment = rng.multinomial(n_pick, lengths / n)
        tail = np.cumsum(per_segment[::-1])[::-1]  # tail[i]: draws at positions >= edges[i-1]
        at = {e: float(tail[i + 1]) for i, e in enumerate(edges)}
        return [at[f] for f in wanted]

    return above


def _pair_take(rng: np.random.Generator, n: int, n_pick: int) -> Take:
    """Top-slice counts of ``n_pick`` draws with replacement from ``n`` sorted pairs: the
    slice's total is binomial, spread uniformly over it (the multinomial's marginals)."""

    def take(start: int) -> np.ndarray:
        size = n - start
        total = rng.binomial(n_pick, size / n) if size < n else n_pick
        return np.bincount(rng.integers(0, size, size=total), minlength=size).astype(float)

    return take


def dot(x: np.ndarray, y: np.ndarray) -> float:
    # not BLAS: its threads, woken for every small product, cost more than the product
    return float(np.multiply(x, y).sum())


def counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """How often each of ``n`` units is drawn in ``n`` draws with replacement, float64."""
    return np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)


@dataclass(frozen=True)
class Influence:
    """The AUROC's per-pair first-order influences, summed per target and per example."""

    pos: np.ndarray  # (n_pos,) twice the placements of the sorted members
    neg: np.ndarray  # (n_neg,)
    per_target: np.ndarray  # (n_targets,) influence sums on the AUROC
    per_example: np.ndarray  # (n_examples,)
    pairs_sq: float  # sum of the squared per-pair influences


def sums(
    i_pos: np.ndarray, v_pos: np.ndarray, i_neg: np.ndarray, v_neg: np.ndarray, n: int
) -> np.ndarray:
    """``(n,)``: the members' ``v_pos`` and the non-members' ``v_neg`` summed per unit."""
    return np.bincount(i_pos, v_pos, n) + np.bincount(i_neg, v_neg, n)


def influence(d: Sorted, n_rows: int, n_cols: int) -> tuple[float, Influence]:
    """``(auroc, influences)`` of the sorted pairs."""
    twice_pos, twice_neg = placements(d)
    n_pos, n_neg = d.pos.shape[0], d.neg.shape[0]
    # exact integers: the same U / (P N) as miakit.metrics.auroc, one division
    auc = float(twice_pos.sum()) / (2.0 * n_pos * n_neg)
    # d auc = (dU - auc (n_neg dP + n_pos dN)) / (P N): a member adds its placement and
    # auc / n_pos of the normaliser's share, a non-member likewise
    psi_pos = (twice_pos / 2.0 - auc * n_neg) / (n_pos * n_neg)
    psi_neg = (twice_neg / 2.0 - auc * n_pos) / (n_pos * n_neg)
    return auc, Influence(
        pos=twice_pos,
        neg=twice_neg,
        per_target=np.bincount(d.pos_row, psi_pos, n_rows)
        + np.bincount(d.neg_row, psi_neg, n_rows),
        per_example=np.bincount(d.pos_col, psi_pos, n_cols)
        + np.bincount(d.neg_col, psi_neg, n_cols),
        pairs_sq=dot(psi_pos, psi_pos) + dot(psi_neg, psi_neg),
    )


def unit_weights(d: Sorted) -> tuple[Take, Above]:
    """``(take_neg, above)`` of the pairs themselves (every pair drawn once)."""
    n_pos = d.pos.shape[0]
    return (
        lambda start: np.ones(d.neg.shape[0] - start),
        lambda cuts: [float(n_pos - c) for c in cuts],
    )


def draw(
    d: Sorted, rng: np.random.Generator, unit: str, at: Anchors
) -> tuple[Take, Above, float, float, np.ndarray | None, np.ndarray | None]:
    """One resample of ``unit``: ``(take_neg, above, n_pos, n_neg, a, b)``; ``a``, ``b`` the
    target and example draw counts (``None``: every one drawn once)."""
    n_pos, n_neg = d.pos.shape[0], d.neg.shape[0]
    if unit == "pair":
        k_neg = int(rng.binomial(n_pos + n_neg, n_neg / (n_pos + n_neg)))
        k_pos = n_pos + n_neg - k_neg
        take = _pair_take(rng, n_neg, k_neg)
        return take, _pair_above(rng, n_pos, k_pos), k_pos, k_neg, None, None
    if unit == "target":
        a = counts(rng, at.per_row.shape[1])
        w_pos, w_neg = dot(a, d.per_row[0]), dot(a, d.per_row[1])
        above = _block_above(d.pos_row, a, at.cuts, at.per_row)
        return (lambda start: a[d.neg_row[start:]]), above, w_pos, w_neg, a, None
    b = counts(rng, at.per_col.shape[1])
    w_pos, w_neg = dot(b, d.per_col[0]), dot(b, d.per_col[1])
    above = _block_above(d.pos_col, b, at.cuts, at.per_col)
    return (lambda start: b[d.neg_col[start:]]), above, w_pos, w_neg, None, b


__all__ = [
    "Above",
    "Anchors",
    "Influence",
    "Sorted",
    "Take",
    "anchors",
    "counts",
    "dot",
    "draw",
    "influence",
    "max_false_positives",
    "placements",
    "sort_pairs",
    "sums",
    "tpr_at",
    "unit_weights",
]
