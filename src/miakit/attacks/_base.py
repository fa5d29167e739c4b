"""What an attack sees (:class:`SignalView`) and returns (:class:`AttackOutput`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from miakit.errors import MissingSignalError
from miakit.signals.spec import SignalRef
from miakit.signals.table import TokenSignals


class SignalView:
    """Read-only access to signals for ``n_samples`` samples, in the run's sample order.

    A view built by the registry for one attack only allows the signals that attack declared:
    reading anything else raises :class:`MissingSignalError`. This makes "reads only its
    declared signals" a property the conformance suite checks for every attack.

    Args:
        tables: ``(model, context) -> TokenSignals``, all with the same number of samples.
        texts: the raw texts, one per sample (required only if some attack reads ``text``).
        allowed: the signals that may be read; ``None`` allows everything.
    """

    def __init__(
        self,
        tables: Mapping[tuple[str, str], TokenSignals],
        texts: Sequence[str] | None = None,
        *,
        n_samples: int | None = None,
        allowed: Iterable[SignalRef] | None = None,
    ) -> None:
        self._tables = dict(tables)
        self._texts = list(texts) if texts is not None else None
        sizes = {t.n_samples for t in self._tables.values()}
        if self._texts is not None:
            sizes.add(len(self._texts))
        if n_samples is not None:
            sizes.add(n_samples)
        if len(sizes) > 1:
            raise ValueError(f"signal tables and texts disagree on the sample count: {sizes}")
        if not sizes:
            raise ValueError("a SignalView needs at least one table, texts or n_samples")
        self.n_samples: int = sizes.pop()
        self._allowed = frozenset(allowed) if allowed is not None else None

    def restrict(self, allowed: Iterable[SignalRef]) -> SignalView:
        """Return a view that only allows ``allowed`` (and never more than this view allows)."""
        narrowed = frozenset(allowed)
        if self._allowed is not None:
            narrowed &= self._allowed
        return SignalView(self._tables, self._texts, n_samples=self.n_samples, allowed=narrowed)

    def _check(self, ref: SignalRef) -> None:
        if self._allowed is not None and ref not in self._allowed:
            raise MissingSignalError(
                f"signal {ref} was read but not declared; declared: "
                f"{sorted(str(a) for a in self._allowed)}. Add it to the attack's needs=."
            )

    def table(self, *, model: str = "target", context: str = "plain") -> TokenSignals:
        key = (model, context)
        if key not in self._tables:
            raise MissingSignalError(
                f"no signals for model {model!r} under context {context!r}; available: "
                f"{sorted(self._tables)}"
            )
        return self._tables[key]

    def flat(
        self, stat: str, *, model: str = "target", context: str = "plain"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(values, offsets)``: values float64 of shape ``(n_tokens,)``, offsets int64
        of shape ``(n_samples + 1,)``; sample ``i`` owns ``values[offsets[i]:offsets[i+1]]``."""
        self._check(SignalRef(stat, model=model, context=context))
        t = self.table(model=model, context=context)
        return t.flat(stat).astype(np.float64), t.offsets

    def tokens(
        self, stat: str, *, model: str = "target", context: str = "plain"
    ) -> list[np.ndarray]:
        """Per-sample float64 arrays of one statistic (shape ``(n_scored_tokens_i,)`` each)."""
        values, offsets = self.flat(stat, model=model, context=context)
        return [values[a:b] for a, b in itertools.pairwise(offsets)]

    @property
    def texts(self) -> list[str]:
        """The raw texts (declare ``"text"`` in ``needs=``)."""
        self._check(SignalRef.parse("text"))
        if self._texts is None:
            raise MissingSignalError("texts were not provided to this view")
        return list(self._texts)


@dataclass(frozen=True)
class AttackOutput:
    """Scores of one attack: shape ``(n_samples,)`` float64, higher = more likely member.

    ``reasons[i]`` says why ``scores[i]`` is NaN (``None`` where the score is finite).
    """

    scores: np.ndarray
    reasons: tuple[str | None, ...]

    @classmethod
    def from_scores(
        cls, scores: np.ndarray, reasons: Sequence[str | None] | None = None
    ) -> AttackOutput:
        scores = np.asarray(scores, dtype=np.float64)
        if reasons is None:
            reasons = [None] * len(scores)
        fixed: list[str | None] = []
        for s, r in zip(scores, reasons, strict=True):
            if np.isnan(s):
                fixed.append(r or "the attack returned NaN without a reason")
            else:
                fixed.append(None)
        return cls(scores=scores, reasons=tuple(fixed))

    @property
    def n_nan(self) -> int:
        return int(np.isnan(self.scores).sum())
