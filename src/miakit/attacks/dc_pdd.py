"""The DC-PDD attack: token probabilities calibrated by their frequency in a reference corpus."""

from __future__ import annotations

import math
import numbers

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack
from miakit.errors import InvalidParameterError, MissingSignalError

#: The extra holding f(v), shape ``(vocab,)``: see :func:`dc_pdd`.
FREQUENCY_EXTRA = "token_frequency"


@register_attack(
    "dc_pdd",
    needs=("token_log_prob", "token_id"),
    extras=(FREQUENCY_EXTRA,),
    paper="2409.14781",
)
def dc_pdd(signals: SignalView, *, a: float = 0.01) -> AttackOutput:
    """Mean divergence-calibrated probability of each distinct token (DC-PDD).

    Formula: for each scored token ``x_t`` whose id has not occurred earlier among the text's
    scored tokens (first occurrences only), ``α_t = p(x_t) · log(1 / f(x_t))``, clipped as
    ``α_t = min(α_t, a)``; ``score = mean_t α_t``. ``p(x_t) = exp(token_log_prob)`` is the
    target's probability of the token and ``f`` the token's frequency in a reference corpus
    (``--frequency-corpus``, tokenized with the target's tokenizer), Laplace-smoothed:
    ``f(v) = (c(v) + 1) / (N + V)`` with ``c(v)`` the count of ``v``, ``N`` the corpus's token
    count and ``V`` the vocabulary size (the extra ``token_frequency``, shape ``(V,)``). The
    corpus must not contain evaluation texts (the run checks exact matches).

    ``a = 0.01`` is the paper's value (also mimir's). Some toolkits use raw, unnormalised
    counts and ``a = 1e-10``, which is a different statistic; the official script indexes raw
    counts although it computes the smoothed ``f``. Only scored tokens enter: without a BOS
    token the text's first token is not scored (``--bos always`` scores it).

    Paper: arXiv 2409.14781 (Zhang et al., DC-PDD).

    Sign: higher = more likely member. The official code returns ``−mean α`` read as
    lower = member; its negation is used here. A model assigns training texts higher
    probability than their corpus frequency predicts, so α is larger for members.

    NaN policy: NaN with a reason where the sample has no scored tokens, NaN log-probs, a
    token id that is not a non-negative integer or lies outside the frequency table, or a
    frequency outside ``(0, 1]``.

    Args:
        signals: a view with ``target/plain:`` ``token_log_prob`` and ``token_id``, and the
            extra ``token_frequency`` (float array of shape ``(V,)``).
        a: the clip value ``a > 0`` of each α_t.

    Returns:
        Scores of shape ``(n_samples,)``, float64.

    Raises:
        InvalidParameterError: ``a`` is not a finite number > 0.
        MissingSignalError: the frequency table is not a 1-D array.
    """
    if (
        isinstance(a, bool)
        or not isinstance(a, numbers.Real)
        or not math.isfinite(float(a))
        or float(a) <= 0
    ):
        raise InvalidParameterError(
            f"attack 'dc_pdd': a must be a finite number > 0 (the clip value of each token's "
            f"calibrated probability); got {a!r}. The paper uses a=0.01."
        )
    freq = np.asarray(signals.extras[FREQUENCY_EXTRA], dtype=np.float64)
    if freq.ndim != 1:
        raise MissingSignalError(
            f"extra {FREQUENCY_EXTRA!r} must be a 1-D array of token frequencies (vocab,); "
            f"got shape {freq.shape}"
        )
    reasons = _ops.Reasons(signals.n_samples)
    log_prob, offsets = _ops.token_values(signals, reasons, "token_log_prob")
    ids, _ = _ops.token_values(signals, reasons, "token_id")
    counts = np.diff(offsets)
    seg = np.repeat(np.arange(len(counts)), counts)  # (n_tokens,) owning sample

    valid_id = np.isfinite(ids) & (ids >= 0) & (ids == np.floor(ids)) & (ids < len(freq))
    reasons.add(
        _ops.segment_any(~valid_id & ~np.isnan(ids), offsets),
        f"a token id is not in the frequency table (ids must be integers in [0, {len(freq)})):"
        " was the corpus counted with another tokenizer?",
    )
    safe_ids = np.where(valid_id, ids, 0).astype(np.int64)
    f = freq[safe_ids]  # (n_tokens,)
    bad_f = valid_id & ~((f > 0) & (f <= 1))
    reasons.add(
        _ops.segment_any(bad_f, offsets),
        "a token frequency is not in (0, 1] (corrupt frequency table?)",
    )

    # First occurrence of each (sample, id) pair: np.unique returns the index of the first
    # occurrence in the original (sample-major, position-ordered) array.
    n_ids = int(safe_ids.max()) + 1 if len(safe_ids) else 1
    _, first = np.unique(seg * n_ids + safe_ids, return_index=True)
    keep = np.zeros(len(ids), dtype=bool)
    keep[first] = True
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        alpha = np.minimum(np.exp(log_prob) * -np.log(f), float(a))  # (n_tokens,)
    kept_counts = np.bincount(seg[keep], minlength=len(counts))
    sums = np.bincount(seg[keep], weights=alpha[keep], minlength=len(counts))
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(kept_counts > 0, sums / np.maximum(kept_counts, 1), np.nan)
    return reasons.output(scores, fallback="non-finite DC-PDD mean (infinite signal values?)")
