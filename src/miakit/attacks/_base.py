"""What an attack sees (:class:`SignalView`) and returns (:class:`AttackOutput`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miakit.errors import MissingSignalError
from miakit.signals.spec import SignalRef
from miakit.signals.table import TokenSignals


@dataclass(frozen=True)
class PerSample:
    """One float per sample with the reason for each NaN: an *extra* input computed per sample
    outside the signal tables (e.g. the mean NLL of a text's neighbors).

    Attributes:
        values: shape ``(n_samples,)``, float64; NaN where the value could not be computed.
        reasons: ``reasons[i]`` says why ``values[i]`` is NaN (``None`` where it is finite).
    """

    values: np.ndarray
    reasons: tuple[str | None, ...]

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 1 or len(values) != len(self.reasons):
            raise ValueError(
                f"PerSample needs 1-D values and one reason per value; got shape "
                f"{values.shape} and {len(self.reasons)} reasons"
            )
        object.__setattr__(self, "values", values)

    @classmethod
    def of(
        cls, values: Sequence[float] | np.ndarray, reasons: Sequence[str | None] | None = None
    ) -> PerSample:
        """Values with reasons; a NaN without a reason gets a generic one."""
        arr = np.asarray(values, dtype=np.float64)
        given = list(reasons) if reasons is not None else [None] * len(arr)
        fixed = tuple(
            (r or "no value (NaN) without a recorded reason") if np.isnan(v) else None
            for v, r in zip(arr, given, strict=True)
        )
        return cls(arr, fixed)

    def __len__(self) -> int:
        return len(self.values)

    def take(self, index: np.ndarray | Sequence[int]) -> PerSample:
        """The values of samples ``index``, in that order."""
        idx = np.asarray(index, dtype=np.int64)
        return PerSample(self.values[idx], tuple(self.reasons[i] for i in idx))


class _Extras(Mapping[str, Any]):
    """The extras of a view: reading an undeclared or absent name is a MissingSignalError."""

    def __init__(self, data: Mapping[str, Any], allowed: frozenset[str] | None) -> None:
        self._data = data
        self._allowed = allowed

    def __getitem__(self, name: str) -> Any:
        if self._allowed is not None and name not in self._allowed:
            raise MissingSignalError(
                f"extra input {name!r} was read but not declared; declared: "
                f"{sorted(self._allowed)}. Add it to the attack's extras=."
            )
        if name not in self._data:
            raise MissingSignalError(
                f"extra input {name!r} was not provided to this run; provided: {sorted(self._data)}"
            )
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(k for k in self._data if self._allowed is None or k in self._allowed)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class SignalView:
    """Read-only access to signals for ``n_samples`` samples, in the run's sample order.

    A view built by the registry for one attack only allows the signals that attack declared:
    reading anything else raises :class:`MissingSignalError`. This makes "reads only its
    declared signals" a property the conformance suite checks for every attack.

    *Extras* are inputs that are not per-token signals (a token-frequency table, per-sample
    neighbor NLLs, ...), keyed by name. They follow the same rule: an attack declares them
    (``register_attack(..., extras=(...))``) and may read only those, through :attr:`extras`.
    A :class:`PerSample` extra is per sample and must hold ``n_samples`` values.

    Args:
        tables: ``(model, context) -> TokenSignals``, all with the same number of samples.
        texts: the raw texts, one per sample (required only if some attack reads ``text``).
        allowed: the signals that may be read; ``None`` allows everything.
        extras: extra inputs by name.
        allowed_extras: the extras that may be read; ``None`` allows every one given.
    """

    def __init__(
        self,
        tables: Mapping[tuple[str, str], TokenSignals],
        texts: Sequence[str] | None = None,
        *,
        n_samples: int | None = None,
        allowed: Iterable[SignalRef] | None = None,
        extras: Mapping[str, Any] | None = None,
        allowed_extras: Iterable[str] | None = None,
    ) -> None:
        self._tables = dict(tables)
        self._texts = list(texts) if texts is not None else None
        self._extras = dict(extras or {})
        sizes = {t.n_samples for t in self._tables.values()}
        if self._texts is not None:
            sizes.add(len(self._texts))
        if n_samples is not None:
            sizes.add(n_samples)
        sizes |= {len(v) for v in self._extras.values() if isinstance(v, PerSample)}
        if len(sizes) > 1:
            raise ValueError(
                f"signal tables, texts and per-sample extras disagree on the sample count: {sizes}"
            )
        if not sizes:
            raise ValueError("a SignalView needs at least one table, texts or n_samples")
        self.n_samples: int = sizes.pop()
        self._allowed = frozenset(allowed) if allowed is not None else None
        self._allowed_extras = frozenset(allowed_extras) if allowed_extras is not None else None

    def restrict(self, allowed: Iterable[SignalRef], extras: Iterable[str] = ()) -> SignalView:
        """Return a view that only allows signals ``allowed`` and extras ``extras`` (and never
        more than this view allows)."""
        narrowed = frozenset(allowed)
        if self._allowed is not None:
            narrowed &= self._allowed
        narrowed_extras = frozenset(extras)
        if self._allowed_extras is not None:
            narrowed_extras &= self._allowed_extras
        return SignalView(
            self._tables,
            self._texts,
            n_samples=self.n_samples,
            allowed=narrowed,
            extras=self._extras,
            allowed_extras=narrowed_extras,
        )

    @property
    def extras(self) -> Mapping[str, Any]:
        """Extra inputs by name; reading one that was not declared (or not provided) raises
        :class:`MissingSignalError`."""
        return _Extras(self._extras, self._allowed_extras)

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
