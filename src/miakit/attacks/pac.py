"""PAC: the polarized distance of a text, calibrated by that of its word-swapped copies.

Its extra, ``pac_augmented`` (:class:`AugmentedLogProbs`), holds the target's token log-probs
of each sample's augmentations; it is built by :mod:`miakit.pipeline.providers.augmentations`
(:class:`~miakit.perturb.swap.WordSwapPerturber`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, PerSample, SignalView
from miakit.attacks._registry import register_attack
from miakit.errors import InvalidParameterError, MissingSignalError

#: The extra holding the token log-probs of each sample's augmentations.
PAC_EXTRA = "pac_augmented"


@dataclass(frozen=True)
class AugmentedLogProbs(PerSample):
    """The target's token log-probs of each sample's augmentations.

    ``values`` (the :class:`PerSample` part) is the number of augmentations with at least one
    scored token; NaN with its reason where there is none (a text of fewer than two words).

    Attributes:
        rows: ``rows[i][j]``: float64 log-probs ``ℓ_t`` of sample ``i``'s augmentation ``j``,
            over its own scored tokens.
        augmentations, alpha: the settings the copies were made with (``pac``'s
            hyperparameters of the same names).
    """

    rows: tuple[tuple[np.ndarray, ...], ...] = ()
    augmentations: int = 5
    alpha: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.rows) != len(self.values):
            raise ValueError(
                f"AugmentedLogProbs needs {len(self.values)} rows, got {len(self.rows)}"
            )
        fixed = tuple(tuple(np.asarray(r, dtype=np.float64) for r in row) for row in self.rows)
        object.__setattr__(self, "rows", fixed)

    @classmethod
    def of_rows(
        cls,
        rows: Sequence[Sequence[np.ndarray]],
        why_none: str,
        *,
        augmentations: int = 5,
        alpha: float = 0.3,
    ) -> AugmentedLogProbs:
        """From the rows alone: ``values`` counts the non-empty augmentations; ``why_none`` is
        the reason of a sample that has none."""
        counts = np.array([sum(1 for r in row if len(r)) for row in rows], dtype=np.float64)
        values = np.where(counts > 0, counts, np.nan)
        reasons = tuple(None if c > 0 else why_none for c in counts)
        return cls(values, reasons, tuple(tuple(row) for row in rows), augmentations, alpha)

    def take(self, index: np.ndarray | Sequence[int]) -> AugmentedLogProbs:
        idx = np.asarray(index, dtype=np.int64)
        rows = tuple(self.rows[i] for i in idx)
        reasons = tuple(self.reasons[i] for i in idx)
        return AugmentedLogProbs(self.values[idx], reasons, rows, self.augmentations, self.alpha)

    def inserted(self, position: int, row: AugmentedLogProbs) -> AugmentedLogProbs:
        """A copy with the one sample of ``row`` inserted before ``position``."""
        return AugmentedLogProbs(
            np.insert(self.values, position, row.values),
            (*self.reasons[:position], *row.reasons, *self.reasons[position:]),
            (*self.rows[:position], *row.rows, *self.rows[position:]),
            self.augmentations,
            self.alpha,
        )


def _extreme_mean(
    values: np.ndarray, offsets: np.ndarray, share: float, *, top: bool
) -> np.ndarray:
    """Per segment, the mean of its ``max(1, ⌊share·T⌋)`` largest (``top``) or smallest
    values, shape ``(n_segments,)``; NaN for an empty segment."""
    counts = np.diff(offsets)
    keep = np.where(counts > 0, np.maximum(_ops.k_count(share, counts), 1), 0)
    seg = np.repeat(np.arange(len(counts)), counts)
    order = np.lexsort((-values if top else values, seg))  # within each segment, best first
    rank = np.arange(len(values)) - offsets[:-1][seg]
    chosen = rank < keep[seg]
    sums = np.bincount(seg[chosen], weights=values[order][chosen], minlength=len(counts))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(keep > 0, sums / np.maximum(keep, 1), np.nan)


def polarized_distance(
    values: np.ndarray, offsets: np.ndarray, *, k_far: float, k_local: float
) -> np.ndarray:
    """PAC's polarized distance per segment: the mean of the ``max(1, ⌊k_far·T⌋)`` highest
    token log-probs minus the mean of the ``max(1, ⌊k_local·T⌋)`` lowest; NaN if empty."""
    far = _extreme_mean(values, offsets, k_far, top=True)
    local = _extreme_mean(values, offsets, k_local, top=False)
    return far - local


def check_params(
    *, k_far: float = 0.05, k_local: float = 0.3, augmentations: int = 5, alpha: float = 0.3
) -> tuple[float, float, int, float]:
    """The hyperparameters, checked (:class:`InvalidParameterError` naming the bad one)."""
    k_far = _ops.check_fraction("pac", "k_far", k_far)
    k_local = _ops.check_fraction("pac", "k_local", k_local)
    augmentations = _ops.check_positive_int("pac", "augmentations", augmentations)
    return k_far, k_local, augmentations, _ops.check_fraction("pac", "alpha", alpha)


def _tokens_needed(**params: float) -> int:
    """One scored token; checking the hyperparameters here refuses a bad value before any
    model loads (the runner asks every attack's ``min_tokens`` first)."""
    check_params(**params)  # type: ignore[arg-type]
    return 1


@register_attack(
    "pac",
    needs=("token_log_prob",),
    extras=(PAC_EXTRA,),
    paper="2405.11930",
    default=False,
    min_tokens=_tokens_needed,
)
def pac(
    signals: SignalView,
    *,
    k_far: float = 0.05,
    k_local: float = 0.3,
    augmentations: int = 5,
    alpha: float = 0.3,
) -> AttackOutput:
    """Mean polarized distance of the augmentations minus the text's own (PAC, negated).

    Formula (Ye et al., "Data Contamination Calibration for Black-box LLMs", ACL 2024, arXiv
    2405.11930; official code yyy01/PAC): the *polarized distance* of a text with scored
    token log-probs ``ℓ_1..ℓ_T`` is ``PD = mean(far) − mean(local)``, ``far`` the
    ``max(1, ⌊k_far·T⌋)`` highest ``ℓ_t`` and ``local`` the ``max(1, ⌊k_local·T⌋)`` lowest;
    ``PAC(x) = PD(x) − mean_j PD(x̃_j)`` over the augmentations ``x̃_j`` (``augmentations``
    copies, each with ``max(1, int(alpha·W))`` random swaps of two of its ``W`` words: the
    official code's EDA random swap, :class:`~miakit.perturb.swap.WordSwapPerturber`, made
    and scored by the ``augmentations`` input provider with this attack's settings). The
    official code reports ``roc_auc_score(labels, −PAC)`` (and the SoK benchmark returns
    ``−PAC``): a member has the smaller PAC. The score is therefore
    ``−PAC = mean_j PD(x̃_j) − PD(x)``.
    Defaults are the official code's: ``k_far`` 0.05, ``k_local`` 0.3, 5 augmentations,
    alpha 0.3 (the SoK benchmark uses 10 augmentations). The issue that asked for PAC cites
    arXiv 2407.01505, which is another paper ("Self-Cognition in Large Language Models"); PAC
    is 2405.11930.

    Paper: arXiv 2405.11930.

    Sign: higher = more likely member (swapping words breaks what the model memorised, so a
    member's augmentations spread their log-probs further apart than the member itself).

    Not run by default (``augmentations`` extra target passes per text); ask for it with
    ``--attacks pac`` (settings: ``--param pac.augmentations=10``).

    NaN policy: NaN with a reason where the text has no scored tokens or NaN log-probs, or
    no augmentation has a scored token (a text of fewer than two words has no augmentation),
    or an augmentation has NaN log-probs.

    Args:
        signals: a view with ``target/plain:token_log_prob`` and the extra ``pac_augmented``.
        k_far: the share of highest log-probs averaged, ``0 < k_far <= 1``.
        k_local: the share of lowest log-probs averaged, ``0 < k_local <= 1``.
        augmentations: copies per text, an integer ``>= 1`` (read by the provider).
        alpha: the share of a text's words swapped in each copy, ``0 < alpha <= 1`` (read by
            the provider).

    Returns:
        Scores of shape ``(n_samples,)``, float64.

    Raises:
        InvalidParameterError: a hyperparameter out of range, or an extra made with other
            ``augmentations`` or ``alpha``.
        MissingSignalError: the extra is not an :class:`AugmentedLogProbs`.
    """
    k_far, k_local, augmentations, alpha = check_params(
        k_far=k_far, k_local=k_local, augmentations=augmentations, alpha=alpha
    )
    augmented = signals.extras[PAC_EXTRA]
    if not isinstance(augmented, AugmentedLogProbs):
        raise MissingSignalError(
            f"extra {PAC_EXTRA!r} must be an AugmentedLogProbs, got {type(augmented).__name__}"
        )
    if (augmented.augmentations, augmented.alpha) != (augmentations, alpha):
        raise InvalidParameterError(
            f"attack 'pac' with augmentations={augmentations}, alpha={alpha} got copies made "
            f"with augmentations={augmented.augmentations}, alpha={augmented.alpha}"
        )
    reasons = _ops.Reasons(signals.n_samples)
    log_prob, offsets = _ops.token_values(signals, reasons, "token_log_prob")
    reasons.add(np.isnan(augmented.values), lambda i: str(augmented.reasons[i]))
    own = polarized_distance(log_prob, offsets, k_far=k_far, k_local=k_local)
    rows = [r for row in augmented.rows for r in row]
    owner = np.repeat(np.arange(signals.n_samples), [len(row) for row in augmented.rows])
    aug_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=aug_offsets[1:])
    flat = np.concatenate([np.zeros(0), *rows])
    reasons.add(
        np.bincount(owner, _ops.segment_any(np.isnan(flat), aug_offsets), signals.n_samples) > 0,
        f"NaN in the token log-probs of an augmentation ({PAC_EXTRA})",
    )
    distances = polarized_distance(flat, aug_offsets, k_far=k_far, k_local=k_local)
    scored = np.isfinite(distances)  # augmentations with a scored token
    totals = np.bincount(owner[scored], distances[scored], signals.n_samples)
    counts = np.bincount(owner[scored], minlength=signals.n_samples)
    with np.errstate(invalid="ignore", divide="ignore"):
        calibration = np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)
    reasons.add(counts == 0, "no augmentation has a scored token")
    return reasons.output(calibration - own, fallback="non-finite PAC (infinite log-probs?)")
