"""Per-side statistics of every leave-one-out view from one sort per attack.

With a balanced design (every example IN for exactly half of the ``N`` models) and the
leave-one-out views of :func:`miakit.shadow.evaluate.target_view` (IN and OUT counts
equalised, no cap), each side of example ``i`` seen by target ``t`` is the full side of
``i`` (its ``N/2`` IN models, or its ``N/2`` OUT models) less exactly one model: the target
itself, or the one left out to equalise the counts. So each example's sides are sorted once
per attack, and a view's median is one of two neighbouring ranks of the full side, its mean
and variance a one-model downdate of the full side's sums (taken about the full side's mean,
so no cancellation). That is ``O(n · q)`` per target instead of gathering and reducing
``(n, q, N/2 − 1)`` values; the numbers equal :func:`miakit.shadow.attacks._stats.gaussian_fit`
on the view to round-off (``tests/shadow/test_sides.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from miakit.errors import InvalidParameterError
from miakit.shadow.attacks._stats import MIN_STD


@dataclass(frozen=True)
class _Side:
    models: np.ndarray  # (n, h) the side's model ids per example, ascending
    sorted_values: np.ndarray  # (n, q, h) its values, ascending per (example, query)
    rank: np.ndarray  # (n, q, h) rank of models[i, j]'s value in sorted_values[i, q]
    centre: np.ndarray  # (n, q) the full side's mean
    s1: np.ndarray  # (n, q) sum of (value - centre)
    s2: np.ndarray  # (n, q) sum of (value - centre)^2
    e1: np.ndarray  # (n, q) sum_j exp(v_(0) - v_j): exp(-v) scaled by its largest term
    e2: np.ndarray  # (n, q) the same without the smallest value, scaled by the next one


def _side(values: np.ndarray, mask: np.ndarray) -> _Side:
    n, _, q = values.shape
    h = int(mask[0].sum())
    models = np.nonzero(mask)[1].reshape(n, h)
    v = values[np.arange(n)[:, None, None], models[:, None, :], np.arange(q)[None, :, None]]
    order = np.argsort(v, axis=2, kind="stable")  # (n, q, h)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(h)[None, None, :], axis=2)
    centre = v.mean(axis=2)
    dev = v - centre[..., None]
    sv = np.take_along_axis(v, order, axis=2)
    return _Side(
        models=models,
        sorted_values=sv,
        rank=rank,
        centre=centre,
        s1=dev.sum(axis=2),
        s2=(dev * dev).sum(axis=2),
        e1=np.exp(sv[..., :1] - sv).sum(axis=2),
        e2=np.exp(sv[..., 1:2] - sv[..., 1:]).sum(axis=2),
    )


@dataclass
class LeaveOneOutSides:
    """The sorted full sides of every signal of a balanced design, built on first use.

    Attributes:
        arrays: signal -> ``(n, N, q)`` values of all ``N`` models.
        membership: ``(n, N)`` bool, every row with exactly ``N / 2`` True.
    """

    arrays: dict[str, np.ndarray]
    membership: np.ndarray
    _built: dict[tuple[str, bool], _Side] = field(default_factory=dict, repr=False)

    def side(self, signal: str, inn: bool) -> _Side:
        key = (signal, inn)
        if key not in self._built:
            mask = self.membership if inn else ~self.membership
            self._built[key] = _side(self.arrays[signal], mask)
        return self._built[key]


@dataclass(frozen=True)
class ViewSides:
    """One target's view of :class:`LeaveOneOutSides`: the model each side lacks.

    Attributes:
        sides: the shared sorted sides.
        removed_in, removed_out: ``(n,)`` the one model of each example's full IN / OUT side
            that the view leaves out (model ids of the full design).
    """

    sides: LeaveOneOutSides
    removed_in: np.ndarray
    removed_out: np.ndarray

    def _removed(self, signal: str, inn: bool) -> tuple[_Side, np.ndarray, np.ndarray]:
        """``(side, rho (n, q) rank of the removed model's value, x_r (n, q) that value)``."""
        s = self.sides.side(signal, inn)
        removed = self.removed_in if inn else self.removed_out
        n, q, _ = s.sorted_values.shape
        j = np.argmax(s.models == removed[:, None], axis=1)  # (n,) its place in the side
        rho = s.rank[np.arange(n), :, j]
        x_r = s.sorted_values[np.arange(n)[:, None], np.arange(q)[None, :], rho]
        return s, rho, x_r

    def log_mean_exp_neg(self, signal: str, inn: bool) -> np.ndarray:
        """``(n, q)``: ``log mean exp(−v)`` over the view's side (RMIA's log of the mean
        probability when ``v`` is the loss). Removing a model other than the one with the
        smallest ``v`` subtracts a term from a sum whose largest term is 1 (no
        cancellation); removing that one uses the sum scaled by the next smallest."""
        s, rho, x_r = self._removed(signal, inn)
        k = s.sorted_values.shape[2] - 1
        v0, v1 = s.sorted_values[..., 0], s.sorted_values[..., 1]
        with np.errstate(divide="ignore"):
            rest = np.log(np.maximum(s.e1 - np.exp(v0 - x_r), 0.0))
        return np.where(rho == 0, np.log(s.e2) - v1, rest - v0) - np.log(k)

    def fit(
        self, signal: str, inn: bool, how: str, *, fixed: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(centre (n, q), std (n, q) or (1, q))`` of the view's IN (``inn``) or OUT side."""
        if how not in ("median", "mean"):
            raise InvalidParameterError(f"center must be 'median' or 'mean', got {how!r}")
        s, rho, x_r = self._removed(signal, inn)
        n, q, h = s.sorted_values.shape
        rows, cols = np.arange(n)[:, None], np.arange(q)[None, :]
        k = h - 1
        s1 = s.s1 - (x_r - s.centre)
        mean_dev = s1 / k
        var = (s.s2 - (x_r - s.centre) ** 2) / k - mean_dev**2
        var = np.maximum(var, 0.0)  # round-off below 0 for a constant side
        if how == "mean":
            mu = s.centre + mean_dev
        else:  # rank m of the k left maps to m + (m >= rho) of the full side

            def at(m: int) -> np.ndarray:
                return s.sorted_values[rows, cols, m + (m >= rho)]

            mu = at(k // 2) if k % 2 else 0.5 * (at(k // 2 - 1) + at(k // 2))
        if fixed:
            var = var.mean(axis=0, keepdims=True)
        return mu, np.maximum(np.sqrt(var), MIN_STD)


__all__ = ["LeaveOneOutSides", "ViewSides"]
