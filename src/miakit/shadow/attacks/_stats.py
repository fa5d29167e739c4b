"""Per-example statistics over the IN or the OUT shadow models.

When every example has the same number ``k`` of shadows on a side (the leave-one-out views
always do), the side is gathered into a dense ``(n, q, k)`` array, the shadows last so that
every reduction runs over contiguous memory (median by ``np.partition``; on 64 models x 20,000
examples x 6 queries this halved LiRA's time against reducing ``(n, k, q)`` over its middle
axis); otherwise the other entries are set NaN and the ``nan*`` functions are used. Both
give the same numbers (``tests/shadow/test_attacks.py``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from miakit.errors import InvalidParameterError

#: Floor of a standard deviation (LiRA's reference code adds 1e-30), so that a constant
#: signal gives a finite log-density instead of 0/0.
MIN_STD = 1e-30


def masked(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values`` ``(n, s, q)`` with the entries whose ``mask`` ``(n, s)`` is False set NaN."""
    return np.where(mask[:, :, None], values, np.nan)


def dense(values: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """``(n, q, k)``: the entries of ``values`` ``(n, s, q)`` where ``mask`` ``(n, s)`` is
    True, in shadow order, when every row has the same count ``k``; else ``None``."""
    counts = mask.sum(axis=1)
    if len(counts) == 0 or counts.min() != counts.max():
        return None
    n, k = values.shape[0], int(counts[0])
    cols = np.nonzero(mask)[1].reshape(n, k)  # (n, k) row-major: each row's shadows in order
    q = np.arange(values.shape[2])
    return values[np.arange(n)[:, None, None], cols[:, None, :], q[None, :, None]]


def _median_last(d: np.ndarray) -> np.ndarray:
    """``np.median(d, axis=-1)`` by partitioning (the same values)."""
    k = d.shape[-1]
    if k % 2:
        return np.partition(d, k // 2, axis=-1)[..., k // 2]
    part = np.partition(d, [k // 2 - 1, k // 2], axis=-1)
    return np.mean(part[..., k // 2 - 1 : k // 2 + 1], axis=-1)


def require_count(mask: np.ndarray, least: int, *, side: str, attack: str, fix: str) -> None:
    """Raise unless every example has at least ``least`` shadows with ``mask`` True."""
    counts = mask.sum(axis=1)
    if counts.min(initial=least) < least:
        raise InvalidParameterError(
            f"{attack} needs at least {least} {side} shadow model(s) per example, but example "
            f"{int(np.argmin(counts))} has {int(counts.min())}: train more shadow models "
            f"(--n-models){fix}"
        )


def center(values: np.ndarray, mask: np.ndarray, how: str) -> np.ndarray:
    """``(n, q)``: the median or mean over the shadows where ``mask`` is True."""
    if how not in ("median", "mean"):
        raise InvalidParameterError(f"center must be 'median' or 'mean', got {how!r}")
    d = dense(values, mask)
    if d is not None:
        return _median_last(d) if how == "median" else d.mean(axis=-1)
    v = masked(values, mask)
    return np.nanmedian(v, axis=1) if how == "median" else np.nanmean(v, axis=1)


def spread(values: np.ndarray, mask: np.ndarray, *, fixed: bool) -> np.ndarray:
    """Standard deviation over the shadows where ``mask`` is True (``ddof=0``, as the
    reference code's ``np.std``): per example ``(n, q)``, or with ``fixed`` one global value
    per query ``(1, q)``, the root of the mean per-example variance (each example's spread
    around its own mean, pooled over examples)."""
    d = dense(values, mask)
    var = d.var(axis=-1) if d is not None else np.nanvar(masked(values, mask), axis=1)  # (n, q)
    if fixed:
        var = var.mean(axis=0, keepdims=True)
    return np.maximum(np.sqrt(var), MIN_STD)


def gaussian_fit(
    values: np.ndarray, mask: np.ndarray, how: str, *, fixed: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(center(values, mask, how), spread(values, mask, fixed=fixed))`` from one gather of
    the side (LiRA needs both; gathering twice was a third of its time)."""
    if how not in ("median", "mean"):
        raise InvalidParameterError(f"center must be 'median' or 'mean', got {how!r}")
    d = dense(values, mask)
    if d is None:
        return center(values, mask, how), spread(values, mask, fixed=fixed)
    mu = _median_last(d) if how == "median" else d.mean(axis=-1)
    var = d.var(axis=-1)
    if fixed:
        var = var.mean(axis=0, keepdims=True)
    return mu, np.maximum(np.sqrt(var), MIN_STD)


def log_mean_exp_neg(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(n, q)``: ``log mean exp(−values)`` over the shadows where ``mask`` is True (for
    ``values`` = loss: the log of the mean probability of the true label)."""
    d = dense(-values, mask)
    if d is None:
        return (
            logsumexp(np.where(mask[:, :, None], -values, -np.inf), axis=1)
            - np.log(mask.sum(axis=1))[:, None]
        )
    top = d.max(axis=-1)  # (n, q), finite for finite values; d is (n, q, k)
    return top + np.log(np.exp(d - top[..., None]).mean(axis=-1))


def norm_logpdf(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """log N(x; mu, sigma^2), elementwise."""
    z = (x - mu) / sigma
    return -0.5 * z * z - np.log(sigma) - 0.5 * np.log(2.0 * np.pi)
