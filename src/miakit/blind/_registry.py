"""The blind-baseline registry.

A blind baseline is one module in :mod:`miakit.blind` whose name is the baseline's name,
holding one factory decorated with :func:`register_baseline`. The factory takes a keyword-only
``seed`` and returns a :class:`BlindPipeline`: a stateless, row-wise ``featurize`` function
from texts to a feature matrix, and an *unfitted*, unsupervised scikit-learn transformer
(normally a ``Pipeline`` of vocabulary selection and tf-idf, or imputation and scaling). The
classifier is not the baseline's: every baseline shares the closed-form ridge classifier of
:mod:`miakit.blind._ridge`, which is what makes the permutation test cheap::

    @register_baseline("bag_of_words", paper="2406.16201")
    def bag_of_words(*, seed: int) -> BlindPipeline: ...

Why two parts: :func:`miakit.blind.run_blind_baselines` computes ``featurize`` once for all
texts (it learns nothing, so this cannot leak: row ``i`` depends on text ``i`` only, which the
conformance tests check) and clones the transformer for every fold, fitting everything that has
state (vocabulary, idf weights, imputation, scaling, classifier) on that fold's training part
only. The transformer never sees labels, so its fold matrices serve every label permutation of
the test. Tokenizing once instead of once per fold makes the three default baselines about 4x
faster.

The registry discovers modules by import (no central list); :func:`default_baselines` builds
and freezes it once. Tests may build a fresh :class:`BaselineRegistry`. The mechanics (sorted
iteration, "did you mean" errors, freezing, discovery) are the generic
:class:`miakit._core.registry.Registry`, shared with the attacks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from miakit._core.registry import Registry

#: ``factory(*, seed) -> BlindPipeline``.
BaselineFactory = Callable[..., "BlindPipeline"]


@dataclass(frozen=True)
class BlindPipeline:
    """What a baseline factory returns.

    Attributes:
        featurize: ``texts -> (n_texts, n_features)`` matrix (numpy or scipy sparse). Must be
            stateless and row-wise: row ``i`` depends on ``texts[i]`` alone, never on the
            other texts, so computing it once for all texts leaks nothing.
        transform: an unfitted, unsupervised scikit-learn transformer (or ``Pipeline``) on
            those features, with ``fit(X)`` and ``transform(X)``; cloned and fitted on each
            training fold, never given labels. ``None``: the features as they are.
    """

    featurize: Callable[[list[str]], Any]
    transform: Any = None


@dataclass(frozen=True)
class BlindBaseline:
    """A registered baseline: its name, pipeline factory and paper."""

    name: str
    factory: BaselineFactory
    paper: str

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.factory) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def build(self, *, seed: int) -> BlindPipeline:
        """A fresh :class:`BlindPipeline` with an unfitted transformer."""
        pipeline = self.factory(seed=seed)
        if not isinstance(pipeline, BlindPipeline):
            raise TypeError(
                f"blind baseline {self.name!r} returned {type(pipeline).__name__}, "
                "expected a BlindPipeline"
            )
        return pipeline


class BaselineRegistry(Registry[BlindBaseline]):
    """Name -> :class:`BlindBaseline` (a :class:`miakit._core.registry.Registry`), in
    registration-independent (sorted) order."""

    def __init__(self) -> None:
        super().__init__(
            "blind baseline", registry_name="blind-baseline", identity=lambda b: b.factory
        )

    def register(self, name: str, *, paper: str) -> Callable[[BaselineFactory], BaselineFactory]:
        """Decorator registering ``factory`` as baseline ``name``."""

        def make(factory: BaselineFactory) -> BlindBaseline:
            params = inspect.signature(factory).parameters
            if "seed" not in params or params["seed"].kind is not inspect.Parameter.KEYWORD_ONLY:
                raise TypeError(f"blind baseline {name!r}: the factory needs a keyword-only seed")
            return BlindBaseline(name=name, factory=factory, paper=paper)

        return self.decorator(name, make)


_DEFAULT = BaselineRegistry()


def register_baseline(name: str, *, paper: str) -> Callable[[BaselineFactory], BaselineFactory]:
    """Register a baseline in the default registry (see the module docstring)."""
    return _DEFAULT.register(name, paper=paper)


def registered_names() -> list[str]:
    """The names in the default registry so far, without discovering (importing) the rest:
    plugins' baselines, and whichever of :mod:`miakit.blind`'s modules are imported."""
    return _DEFAULT.names()


def default_baselines() -> BaselineRegistry:
    """Import every baseline module of :mod:`miakit.blind` once; return the frozen registry.

    The modules import scikit-learn, so this (not ``import miakit.blind``) pays that cost.
    """
    if not _DEFAULT.frozen:
        _DEFAULT.discover("miakit.blind").freeze()
    return _DEFAULT
