"""The GradNorm attack: the norm of the gradient of a text's loss with respect to the weights.

Its extra, ``grad_norms`` (:class:`GradNorms`), holds per-sample, per-layer gradient norms
for p = 1, 2 and ∞; it is built by :mod:`miakit.pipeline.providers.gradients` from a backend
with the ``gradients`` capability (white-box weights) and read by any attack that declares it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from miakit.attacks._base import AttackOutput, PerSample, SignalView
from miakit.attacks._registry import register_attack
from miakit.errors import InvalidParameterError, MissingSignalError

#: The extra holding the per-sample gradient norms (:class:`GradNorms`).
GRAD_EXTRA = "grad_norms"
#: The norms offered: ``p`` -> how the per-layer values combine into the total.
NORMS = (1, 2, math.inf)


def _empty() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float64)


@dataclass(frozen=True)
class GradNorms(PerSample):
    """Per-sample gradient norms of the mean token NLL, per parameter group and in total.

    ``values`` (the :class:`PerSample` part) is the total L2 norm ``‖∇θ NLL(x)‖_2`` over all
    parameters; NaN with its reason where no gradient exists (no scored token, a backend
    without gradients). The per-group arrays hold, for group ``j`` (``layers[j]``: the
    embeddings, each transformer block, the final norm and the head, see
    :func:`miakit.backends.hf.gradients.layer_of`), the group's L1 norm ``Σ|g|``, its L2 norm
    ``√Σg²`` and its L∞ norm ``max|g|``; the totals follow exactly from them
    (:meth:`total`), so one gradient computation serves every ``p``.

    Attributes:
        layers: the group names, shape ``(L,)``.
        l1, l2, linf: shape ``(n_samples, L)``, float64.
        n_tokens: shape ``(n_samples,)``: the scored tokens whose mean NLL was differentiated.
    """

    layers: tuple[str, ...] = ()
    l1: np.ndarray = field(default_factory=_empty)
    l2: np.ndarray = field(default_factory=_empty)
    linf: np.ndarray = field(default_factory=_empty)
    n_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        super().__post_init__()
        n, n_layers = len(self.values), len(self.layers)
        for name in ("l1", "l2", "linf"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            arr = arr.reshape(-1, n_layers) if n_layers else np.zeros((n, 0))
            if arr.shape != (n, n_layers):
                raise ValueError(f"GradNorms.{name} must have shape {(n, n_layers)}")
            object.__setattr__(self, name, arr)
        tokens = np.asarray(self.n_tokens, dtype=np.int64).reshape(-1)
        if len(tokens) != n:
            raise ValueError(f"GradNorms.n_tokens must have {n} entries, got {len(tokens)}")
        object.__setattr__(self, "n_tokens", tokens)

    def per_layer(self, p: float) -> np.ndarray:
        """Per-group ``p``-norms, shape ``(n_samples, L)``."""
        return {1: self.l1, 2: self.l2, math.inf: self.linf}[_check_p(p)]

    def total(self, p: float) -> np.ndarray:
        """The ``p``-norm of the whole gradient, shape ``(n_samples,)``: ``Σ_j l1_j``,
        ``√Σ_j l2_j²`` or ``max_j linf_j``; NaN where :attr:`values` is NaN."""
        p = _check_p(p)
        if p == 1:
            out = self.l1.sum(axis=1)
        elif p == 2:
            out = np.sqrt((self.l2**2).sum(axis=1))
        else:
            out = self.linf.max(axis=1, initial=0.0)
        return np.where(np.isnan(self.values), np.nan, out)

    def take(self, index: np.ndarray | Sequence[int]) -> GradNorms:
        idx = np.asarray(index, dtype=np.int64)
        return GradNorms(
            self.values[idx],
            tuple(self.reasons[i] for i in idx),
            self.layers,
            self.l1[idx],
            self.l2[idx],
            self.linf[idx],
            self.n_tokens[idx],
        )

    def inserted(self, position: int, row: GradNorms) -> GradNorms:
        """A copy with the one sample of ``row`` inserted before ``position``."""
        return GradNorms(
            np.insert(self.values, position, row.values),
            (*self.reasons[:position], *row.reasons, *self.reasons[position:]),
            self.layers,
            np.insert(self.l1, position, row.l1, axis=0),
            np.insert(self.l2, position, row.l2, axis=0),
            np.insert(self.linf, position, row.linf, axis=0),
            np.insert(self.n_tokens, position, row.n_tokens),
        )


def _check_p(p: object) -> float:
    if isinstance(p, bool) or p not in NORMS:
        raise InvalidParameterError(
            f"attack 'gradnorm': p must be 1, 2 or inf (math.inf in Python, .inf on the command "
            f"line: --param gradnorm.p=.inf); got {p!r}. The default is p=2."
        )
    return float(p)  # type: ignore[arg-type]


def _tokens_needed(*, p: float = 2) -> int:
    """One scored token, whatever ``p``; checking ``p`` here refuses a bad value before any
    model loads (the runner asks every attack's ``min_tokens`` first), not after the
    gradients were paid for."""
    _check_p(p)
    return 1


@register_attack(
    "gradnorm",
    needs=("token_log_prob",),
    extras=(GRAD_EXTRA,),
    paper="2402.07841",
    default=False,
    min_tokens=_tokens_needed,
)
def gradnorm(signals: SignalView, *, p: float = 2) -> AttackOutput:
    """Minus the p-norm of the gradient of the text's mean token NLL w.r.t. the weights.

    Formula: ``score(x) = −‖∇θ NLL(x)‖_p`` with ``NLL(x) = −(1/T) Σ_t log p_θ(x_t | x_<t)``
    over the text's ``T`` scored tokens (the same tokens as ``loss``: BOS policy and
    ``max_length`` truncation of the signal engine), the gradient taken over every weight
    of the model, exactly per sample (never a batch mean), in eval mode (dropout off).

    Paper: arXiv 2402.07841 (Wang et al., "Detecting Pretraining Data from Large Language
    Models via Gradient Norms"; also the gradient features of Pandora's White-Box, arXiv
    2402.17012). A training text sits near a minimum of its own loss, so its gradient is
    small.

    Sign: higher = more likely member, so the score is the *negative* norm. MIMIR returns
    ``−norm`` under a lower-is-member convention, which inverts it (its issue #27: AUC 0.32
    against 0.83 for LOSS); MIMIR also averages per-tensor norms instead of taking the norm
    of the whole gradient, which :meth:`GradNorms.total` does.

    ``p = 2`` (default): the Euclidean norm is the one the paper reports as most stable; it
    weighs every coordinate and is the norm the loss's local curvature speaks to. ``p = 1``
    is dominated by the largest parameter groups (the embeddings); ``p = ∞`` reads a single
    coordinate and is the noisiest. None is chosen on evaluation labels.

    Threat model: white-box weights (the backend must have the ``gradients`` capability);
    not part of the default attack set: one forward and one backward pass per text, about
    3× the cost of scoring, and a full gradient buffer of the model's size (see
    docs/attacks.md).

    NaN policy: NaN with a reason for a text with no scored tokens or a NaN token
    log-likelihood in the target's plain table (the loss that is differentiated is the mean
    of those tokens' NLLs: its tokens are the table's, and where it is undefined so is its
    gradient), and wherever the extra has none (its reason, e.g. a backend without
    gradients).

    Args:
        signals: a view with ``target/plain:token_log_prob`` and the extra ``grad_norms``
            (:class:`GradNorms`).
        p: the norm: 1, 2 or ``math.inf``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.

    Raises:
        InvalidParameterError: ``p`` is not 1, 2 or inf.
        MissingSignalError: the extra is not a :class:`GradNorms`.
    """
    p = _check_p(p)
    norms = signals.extras[GRAD_EXTRA]
    if not isinstance(norms, GradNorms):
        raise MissingSignalError(
            f"extra {GRAD_EXTRA!r} must be a miakit.attacks.gradnorm.GradNorms (from the "
            f"'gradients' input provider); got {type(norms).__name__}"
        )
    if len(norms) != signals.n_samples:
        raise MissingSignalError(
            f"extra {GRAD_EXTRA!r} has {len(norms)} samples, the view {signals.n_samples}"
        )
    totals = norms.total(p)
    reasons: list[str | None] = []
    scores = np.full(len(norms), np.nan)
    for i, log_probs in enumerate(signals.tokens("token_log_prob")):
        if len(log_probs) == 0:
            reasons.append("no scored tokens: the mean NLL has no gradient")
        elif np.isnan(log_probs).any():
            reasons.append("NaN token log-likelihood: the loss and its gradient are undefined")
        elif norms.reasons[i] is not None:
            reasons.append(norms.reasons[i])
        elif not np.isfinite(totals[i]):
            reasons.append("non-finite gradient norm (overflow in the backward pass?)")
        else:
            scores[i] = -totals[i]
            reasons.append(None)
    return AttackOutput.from_scores(scores, reasons)
