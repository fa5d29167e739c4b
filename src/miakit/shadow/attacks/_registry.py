"""The classifier attack registry: shadow-model attacks as pure functions of signals.

A classifier attack is a function of a :class:`TargetView` (the target model's signals, the
other models' signals and their known membership) and keyword-only hyperparameters, returning
``(n_samples,)`` scores, higher = more likely member::

    @register_classifier_attack("offset", needs=("phi",), paper="2111.08440")
    def offset(view: TargetView) -> np.ndarray: ...

The name -> spec mechanics (sorted iteration, "did you mean" errors, freezing, discovery by
import) are :class:`miakit._core.registry.Registry`, as for the LLM attacks; this is a
separate instance because the item type differs. Variants of one attack are registered under
suffixed names (``lira_online_fixed_var``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from miakit._core.registry import Registry
from miakit.errors import InvalidParameterError, MissingSignalError, did_you_mean
from miakit.shadow.attacks._sides import ViewSides
from miakit.shadow.attacks._stats import gaussian_fit, log_mean_exp_neg

#: Signals a classifier attack may declare (``correct``: prediction == label, as 0/1).
SIGNALS = ("phi", "loss", "log_max_prob", "correct")


@dataclass(frozen=True)
class TargetView:
    """What an attack sees when one model is the target and the others are its shadows.

    Attributes:
        target: signal -> ``(n_samples, n_queries)`` of the target model.
        shadows: signal -> ``(n_samples, n_shadows, n_queries)`` of the shadow models.
        shadow_in: ``(n_samples, n_shadows)`` bool: the shadow trained on the example (IN).
        shadow_out: ``(n_samples, n_shadows)`` bool: the shadow did not train on it (OUT).
            Disjoint from ``shadow_in``; a shadow in neither is left out for that example
            (:func:`miakit.shadow.evaluate.target_view` equalises the IN and OUT counts).
        labels: ``(n_samples,)`` true class labels.
        queries: the query names (``queries[0] == "identity"``).
        sides: for a leave-one-out view of a balanced design, the sorted full sides that
            :meth:`fit` reads instead of the shadows (:mod:`~miakit.shadow.attacks._sides`);
            ``None``: :meth:`fit` reduces the shadows.
    """

    target: Mapping[str, np.ndarray]
    shadows: Mapping[str, np.ndarray]
    shadow_in: np.ndarray
    shadow_out: np.ndarray
    labels: np.ndarray
    queries: tuple[str, ...]
    sides: ViewSides | None = None

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])

    def _declared(self, name: str) -> None:
        if name not in self.target:
            raise MissingSignalError(
                f"signal {name!r} was not declared by the attack (it has {sorted(self.target)})"
            )

    def target_signal(self, name: str) -> np.ndarray:
        """``(n, q)``: the target's signal ``name`` (the shadows' copy is not made).

        Raises:
            MissingSignalError: the attack did not declare ``name``.
        """
        self._declared(name)
        return self.target[name]

    def log_mean_prob(self, name: str, *, inn: bool) -> np.ndarray:
        """``(n, q)``: ``log mean exp(−signal)`` over the IN (``inn``) or OUT shadows (for the
        loss: the log of the mean probability of the true label), from :attr:`sides` when
        the view has them (the same numbers to round-off).

        Raises:
            MissingSignalError: the attack did not declare ``name``.
        """
        self._declared(name)
        if self.sides is not None:
            return self.sides.log_mean_exp_neg(name, inn)
        return log_mean_exp_neg(self.shadows[name], self.shadow_in if inn else self.shadow_out)

    def signal(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(target (n, q), shadows (n, s, q))`` of signal ``name``.

        Raises:
            MissingSignalError: the attack did not declare ``name``.
        """
        self._declared(name)
        return self.target[name], self.shadows[name]

    def fit(self, name: str, *, inn: bool, how: str, fixed: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(centre (n, q), std)`` of signal ``name`` over the IN (``inn``) or OUT shadows:
        :func:`~miakit.shadow.attacks._stats.gaussian_fit` (``std`` ``(n, q)``, or ``(1, q)``
        with ``fixed``), from :attr:`sides` when the view has them (the same numbers).

        Raises:
            MissingSignalError: the attack did not declare ``name``.
        """
        self._declared(name)
        if self.sides is not None:  # the shadows' copy is never made
            return self.sides.fit(name, inn, how, fixed=fixed)
        mask = self.shadow_in if inn else self.shadow_out
        return gaussian_fit(self.shadows[name], mask, how, fixed=fixed)


class LazySignals(Mapping[str, np.ndarray]):
    """``{signal: array}`` for the signals in ``keys``, each made by ``get`` on first access
    (a view's shadows are a copy of ``N − 1`` models' signals: attacks that read the sorted
    sides never need it)."""

    def __init__(self, get: Callable[[str], np.ndarray], keys: Iterable[str]) -> None:
        self._get, self._keys = get, tuple(keys)
        self._made: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._keys:
            raise KeyError(key)
        if key not in self._made:
            self._made[key] = self._get(key)
        return self._made[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


AttackFn = Callable[..., np.ndarray]


@dataclass(frozen=True)
class ClassifierAttack:
    """A registered classifier attack: function, declared signals, paper, hyperparameters."""

    name: str
    func: AttackFn
    needs: tuple[str, ...]
    paper: str
    params: Mapping[str, Any] = field(default_factory=dict)
    #: whether it uses shadow models (``False``: a threshold on the target's own output)
    uses_shadows: bool = True

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.func) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults updated by ``params``; unknown names are errors with a suggestion."""
        unknown = [k for k in params if k not in self.params]
        if unknown:
            hints = "".join(did_you_mean(k, self.params) for k in unknown)
            raise InvalidParameterError(
                f"attack {self.name!r} has no hyperparameter {', '.join(map(repr, unknown))} "
                f"(it has: {', '.join(self.params) or 'none'}).{hints}"
            )
        return {**self.params, **params}

    def __call__(self, view: TargetView, **params: Any) -> np.ndarray:
        """Scores ``(n_samples,)`` float64 on a view restricted to the declared signals."""
        kwargs = self.check_params(params)
        own = TargetView(
            target={k: view.target[k] for k in self.needs},
            shadows=LazySignals(lambda k: view.shadows[k], self.needs),
            shadow_in=view.shadow_in,
            shadow_out=view.shadow_out,
            labels=view.labels,
            queries=view.queries,
            sides=view.sides,
        )
        scores = np.asarray(self.func(own, **kwargs), dtype=np.float64)
        if scores.shape != (view.n_samples,):
            raise RuntimeError(
                f"attack {self.name!r} returned shape {scores.shape}, expected ({view.n_samples},)"
            )
        return scores


def _hyperparameters(name: str, func: AttackFn) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, p in enumerate(inspect.signature(func).parameters.values()):
        if i == 0:
            continue
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty:
            raise TypeError(f"attack {name!r}: {p.name!r} must be keyword-only with a default")
        params[p.name] = p.default
    return params


class ClassifierAttackRegistry(Registry[ClassifierAttack]):
    """Name -> :class:`ClassifierAttack`; ``register`` builds the spec from a function."""

    def __init__(self) -> None:
        super().__init__(
            "classifier attack", registry_name="classifier attack", identity=lambda s: s.func
        )

    def register(
        self, name: str, *, needs: Iterable[str], paper: str, uses_shadows: bool = True
    ) -> Callable[[AttackFn], AttackFn]:
        def make(func: AttackFn) -> ClassifierAttack:
            declared = tuple(needs)
            unknown = [s for s in declared if s not in SIGNALS]
            if unknown:
                raise TypeError(f"attack {name!r}: unknown signals {unknown}; known: {SIGNALS}")
            return ClassifierAttack(
                name=name,
                func=func,
                needs=declared,
                paper=paper,
                params=_hyperparameters(name, func),
                uses_shadows=uses_shadows,
            )

        return self.decorator(name, make)


_DEFAULT = ClassifierAttackRegistry()


def register_classifier_attack(
    name: str, *, needs: Iterable[str], paper: str, uses_shadows: bool = True
) -> Callable[[AttackFn], AttackFn]:
    """Register an attack in the default classifier registry (see the module docstring)."""
    return _DEFAULT.register(name, needs=needs, paper=paper, uses_shadows=uses_shadows)


def default_registry() -> ClassifierAttackRegistry:
    """Import every module of :mod:`miakit.shadow.attacks` once; the frozen registry."""
    if not _DEFAULT.frozen:
        _DEFAULT.discover("miakit.shadow.attacks").freeze()
    return _DEFAULT


__all__ = [
    "SIGNALS",
    "ClassifierAttack",
    "ClassifierAttackRegistry",
    "LazySignals",
    "TargetView",
    "default_registry",
    "register_classifier_attack",
]
