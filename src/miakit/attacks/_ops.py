"""Shared numpy helpers for attacks: ragged segment reductions, Min-K selection, NaN reasons.

Ragged layout (as in :class:`~miakit.signals.table.TokenSignals`): sample ``i`` owns
``values[offsets[i]:offsets[i + 1]]``; ``offsets`` has shape ``(n_samples + 1,)``, starts at 0
and ends at ``len(values)``. Every helper here is vectorised over all samples at once and
handles empty segments explicitly (``np.add.reduceat`` alone does not).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from miakit.attacks._base import AttackOutput, SignalView
from miakit.errors import InvalidParameterError
from miakit.signals.spec import SignalRef

#: Tolerance added to k·T before flooring, so that e.g. k = 0.29, T = 100 selects 29 tokens
#: (0.29 * 100 == 28.999999999999996 in floating point) rather than 28.
K_COUNT_TOLERANCE = 1e-9


def _check_layout(values: np.ndarray, offsets: np.ndarray) -> None:
    if values.ndim != 1 or offsets.ndim != 1 or len(offsets) == 0:
        raise ValueError("expected 1-D values and 1-D offsets of length n_samples + 1")
    if int(offsets[0]) != 0 or int(offsets[-1]) != len(values):
        raise ValueError(
            f"offsets must run from 0 to len(values) = {len(values)}; "
            f"got {int(offsets[0])} .. {int(offsets[-1])}"
        )


def segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-segment sums, shape ``(n_samples,)`` float64; 0.0 for an empty segment.

    Uses ``np.add.reduceat`` over the starts of the non-empty segments only: an empty
    segment's start equals the next start, and ``reduceat`` would return one element of the
    next segment for it (or fail when the start equals ``len(values)``).
    """
    values = np.asarray(values, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.int64)
    _check_layout(values, offsets)
    out = np.zeros(len(offsets) - 1, dtype=np.float64)
    nonempty = np.diff(offsets) > 0
    if nonempty.any():
        out[nonempty] = np.add.reduceat(values, offsets[:-1][nonempty])
    return out


def segment_mean(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-segment means, shape ``(n_samples,)`` float64; NaN for an empty segment."""
    counts = np.diff(np.asarray(offsets, dtype=np.int64))
    sums = segment_sum(values, offsets)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def segment_any(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-segment "any", shape ``(n_samples,)`` bool; False for an empty segment."""
    return segment_sum(np.asarray(mask, dtype=np.float64), offsets) > 0


def k_count(k: float, n: np.ndarray) -> np.ndarray:
    """``⌊k·n⌋`` elementwise as int64, with :data:`K_COUNT_TOLERANCE` against rounding."""
    return np.floor(k * np.asarray(n, dtype=np.float64) + K_COUNT_TOLERANCE).astype(np.int64)


def min_count_for(k: float) -> int:
    """The smallest ``n >= 1`` with ``k_count(k, n) >= 1`` (for "needs at least" messages)."""
    bound = (1.0 - K_COUNT_TOLERANCE) / k
    if not math.isfinite(bound) or bound > 2**62:
        return 2**62
    n = max(1, math.ceil(bound) - 1)
    while int(k_count(k, np.array([n]))[0]) < 1:
        n += 1
    return n


def min_k_mean(values: np.ndarray, offsets: np.ndarray, k: float) -> np.ndarray:
    """Mean of the ``⌊k·T_i⌋`` smallest values of each segment, shape ``(n_samples,)``.

    NaN where ``⌊k·T_i⌋ == 0`` (including empty segments). NaN inputs sort last and are
    *not* reported here: callers check them with :func:`segment_any` first.
    """
    values = np.asarray(values, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.int64)
    _check_layout(values, offsets)
    counts = np.diff(offsets)
    n = len(counts)
    m = k_count(k, counts)  # (n,) tokens kept per sample
    seg = np.repeat(np.arange(n), counts)  # (n_tokens,) owning sample of each position
    # Sort by (sample, value). Segments stay where they were, so position j of the sorted
    # array still belongs to sample seg[j] and has rank j - offsets[seg[j]] within it.
    order = np.lexsort((values, seg))
    rank = np.arange(len(values)) - offsets[:-1][seg]
    keep = rank < m[seg]
    sums = np.bincount(seg[keep], weights=values[order][keep], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m > 0, sums / np.maximum(m, 1), np.nan)


def window_means(
    values: np.ndarray, offsets: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Averages of ``window`` consecutive values within each segment, stride 1.

    Returns ``(means, win_offsets)`` in the same ragged layout: a segment of ``T`` values has
    ``max(T - window + 1, 0)`` windows. Each window is summed directly (``window`` vector adds
    over the flat array, O(n_tokens · window)) rather than by differences of a running sum, so
    the result is exact to rounding and does not depend on the sample's position in the table.
    """
    values = np.asarray(values, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.int64)
    _check_layout(values, offsets)
    counts = np.diff(offsets)
    n_win = np.maximum(counts - window + 1, 0)
    win_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(n_win, out=win_offsets[1:])
    seg = np.repeat(np.arange(len(counts)), n_win)  # (n_windows,)
    starts = offsets[:-1][seg] + (np.arange(int(win_offsets[-1])) - win_offsets[:-1][seg])
    acc = values[starts].copy()
    for j in range(1, window):
        acc += values[starts + j]
    return acc / window, win_offsets


def check_fraction(attack: str, name: str, value: object) -> float:
    """Validate a hyperparameter in ``(0, 1]`` and return it as float."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 < float(value) <= 1.0
    ):
        raise InvalidParameterError(
            f"attack {attack!r}: {name} must be a number with 0 < {name} <= 1 (a fraction of "
            f"the scored tokens); got {value!r}. Use e.g. {name}=0.2 for 20%."
        )
    return float(value)


def check_positive_int(attack: str, name: str, value: object) -> int:
    """Validate an integer hyperparameter ``>= 1`` and return it as int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise InvalidParameterError(
            f"attack {attack!r}: {name} must be an integer >= 1; got {value!r}."
        )
    return int(value)


def too_short_reason(setting: str, need: int) -> str:
    """The NaN reason of a text with fewer scored tokens than ``setting`` needs. It is the same
    for every such sample (their token counts are in ``samples.parquet``), so that warnings
    and the report group them, and attacks with the same setting share it."""
    return f"too short for {setting}: needs at least {need} scored tokens"


def no_tokens_reason(table: str) -> str:
    """The NaN reason of a sample with no scored tokens in ``table`` (``"model/context"``).
    It names the table, not the signal read from it, so that attacks reading different
    signals (``loss``: ``token_log_prob``, ``entropy``: ``mean_log_prob``) give one reason for
    one cause, which warnings and the report then group."""
    return f"no scored tokens in {table} (text shorter than 2 tokens?)"


class Reasons:
    """Collects, per sample, the first reason it cannot be scored; builds the output.

    Reasons are added in order of precedence (the first one added for a sample wins). Samples
    with a reason get a NaN score; a NaN score without one gets the ``fallback`` reason.
    """

    def __init__(self, n_samples: int) -> None:
        self._reasons: list[str | None] = [None] * n_samples

    def add(self, mask: np.ndarray, reason: str | Callable[[int], str]) -> None:
        """Record ``reason`` (a string, or a function of the sample index) where ``mask``."""
        for i in np.flatnonzero(mask):
            if self._reasons[i] is None:
                self._reasons[i] = reason(int(i)) if callable(reason) else reason

    def output(self, scores: np.ndarray, *, fallback: str) -> AttackOutput:
        scores = np.array(scores, dtype=np.float64)  # a copy: callers keep theirs
        for i, r in enumerate(self._reasons):
            if r is not None:
                scores[i] = np.nan
            elif np.isnan(scores[i]):
                self._reasons[i] = fallback
        return AttackOutput(scores=scores, reasons=tuple(self._reasons))


def token_values(
    signals: SignalView,
    reasons: Reasons,
    stat: str,
    *,
    model: str = "target",
    context: str = "plain",
) -> tuple[np.ndarray, np.ndarray]:
    """Read one signal as ``(values, offsets)`` and record empty and NaN samples in ``reasons``.

    Returns float64 values of shape ``(n_tokens,)`` and int64 offsets ``(n_samples + 1,)``.
    """
    values, offsets = signals.flat(stat, model=model, context=context)
    name = str(SignalRef(stat, model=model, context=context))
    reasons.add(np.diff(offsets) == 0, no_tokens_reason(f"{model}/{context}"))
    reasons.add(segment_any(np.isnan(values), offsets), f"NaN in {name} (corrupt signal table?)")
    return values, offsets


def mean_token_log_prob(
    signals: SignalView, reasons: Reasons, *, model: str = "target", context: str = "plain"
) -> np.ndarray:
    """``mean_t ℓ_t`` (= −NLL) per sample, shape ``(n_samples,)``; NaN where unscorable."""
    values, offsets = token_values(signals, reasons, "token_log_prob", model=model, context=context)
    return segment_mean(values, offsets)


def require_same_tokens(
    reasons: Reasons, offsets_a: np.ndarray, offsets_b: np.ndarray, a: str, b: str
) -> None:
    """Record samples whose signals ``a`` and ``b`` disagree on the scored-token count.

    Attacks that combine a model's own table with a paired table (``"p@q"``, tokenized by
    ``p``) sum or average both over the same tokens; a different count means the tables do
    not come from one tokenization (a corrupt or mismatched signal table).
    """
    counts_a, counts_b = np.diff(offsets_a), np.diff(offsets_b)
    reasons.add(
        counts_a != counts_b,
        lambda i: (
            f"{a} has {counts_a[i]} scored tokens but {b} has {counts_b[i]}; they must come "
            "from the same tokenization (mismatched signal tables?)"
        ),
    )


def checked_ranks(signals: SignalView, reasons: Reasons) -> tuple[np.ndarray, np.ndarray]:
    """``(ranks, offsets)`` of ``target/plain:token_rank`` with negative ranks (a corrupt
    table) flagged in ``reasons`` and set to 0 so they cannot poison the arithmetic."""
    ranks, offsets = token_values(signals, reasons, "token_rank")
    negative = ranks < 0
    reasons.add(
        segment_any(negative, offsets),
        "negative token_rank in target/plain (corrupt signal table?)",
    )
    return np.where(negative, 0.0, ranks), offsets
