"""Input providers: what builds each input an attack can declare, registered by the provider.

An attack declares the inputs it needs besides models when it registers: signals of contexts
built from user data (``needs=("recall_nonmember:token_log_prob",)``) and extras
(``extras=("token_frequency",)``); :attr:`miakit.attacks.AttackSpec.inputs` lists them as input
keys, ``"context:NAME"`` / ``"extra:NAME"``. A **provider** registers itself under the keys it
provides (:func:`register_provider`), with the setting behind each (a
:class:`~miakit.config.RunConfig` field, whose flag the config schema knows), and builds them
for a run (:class:`InputProvider`). The run resolves every selected attack's inputs from the
providers' declarations and names no attack or input itself:

- a default run skips an attack whose input has no value ("needs --aux-nonmembers"), an
  explicitly requested one fails naming the flag, and ``miakit list attacks`` shows it
  (:func:`required_flags`, :func:`missing_flags`);
- the providers' hooks run in their declared ``order``
  (:class:`~miakit.pipeline.auxiliary.AuxiliaryRun`).

The built-in providers are the public modules of :mod:`miakit.pipeline.providers`, discovered
by import; a provider of your own registers by importing its module before the run first
builds the registry (:func:`default_providers`), as an attack of your own does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miakit._core.plugins import load_entry_points
from miakit._core.registry import Registry
from miakit.config.build import all_keys
from miakit.config.provided import add as add_settings
from miakit.config.schema import Key
from miakit.errors import InvalidParameterError

if TYPE_CHECKING:
    from miakit.attacks import AttackSpec
    from miakit.data import Sample
    from miakit.pipeline.auxiliary import AuxiliaryRun
    from miakit.signals.plan import SignalPlanner
    from miakit.signals.spec import Context


@dataclass(frozen=True)
class Input:
    """One input a provider builds.

    Attributes:
        key: ``"context:NAME"`` or ``"extra:NAME"``, as attacks declare it.
        what: a short description, for messages and listings.
        setting: the :class:`~miakit.config.RunConfig` field whose value it needs; ``None``
            when the provider builds it from the run alone (always available).
        stand_in: the keyword argument of :func:`miakit.run` that supplies it in memory
            instead of ``setting`` (``"perturber"`` stands in for ``--fill-mask-model``).
    """

    key: str
    what: str
    setting: str | None = None
    stand_in: str | None = None

    @property
    def flag(self) -> str | None:
        """The command-line option of :attr:`setting` (from the config schema)."""
        if self.setting is None:
            return None
        key = all_keys().get(self.setting)  # a built-in or a provided setting
        return (key.flag if key is not None else None) or self.setting

    def available(self, config: Mapping[str, Any] | Any, stand_ins: Iterable[str] = ()) -> bool:
        """Whether ``config`` (a RunConfig or a mapping of its fields) or a stand-in gives it."""
        if self.setting is None or (self.stand_in is not None and self.stand_in in stand_ins):
            return True
        if isinstance(config, Mapping):
            return config.get(self.setting) is not None
        return config.value(self.setting) is not None


@dataclass(frozen=True)
class Unavailable:
    """The value of an extra that a provider cannot build in this run (the target backend
    lacks a capability, such as ``gradients``): the run does not call the attacks that
    declare it and lists each under ``skipped_attacks`` with :attr:`reason`
    (:func:`unavailable`), as it does an attack whose flag is missing.
    """

    reason: str


def unavailable(spec: AttackSpec, extras: Mapping[str, Any]) -> str | None:
    """Why ``spec`` cannot run on ``extras`` (the first :class:`Unavailable` extra it
    declares), or ``None``."""
    for name in spec.extras:
        value = extras.get(name)
        if isinstance(value, Unavailable):
            return value.reason
    return None


class InputProvider:
    """One run's builder of some inputs: subclass it and override the hooks that apply.

    The run makes one instance per registered provider, with the run's shared state
    (:class:`~miakit.pipeline.auxiliary.AuxiliaryRun`: ``config``, the evaluation ``samples``,
    ``stand_ins``, ``warnings``, ``aux_sets``), and calls, in the providers' ``order``:
    :meth:`prepare` before any model loads; :meth:`contexts` for the signal planner;
    :meth:`extras` for the evaluation texts (and the calibration texts); :meth:`tune` on the
    attacks' hyperparameters; :meth:`sections` for ``metrics.json``; :meth:`write` into the
    output folder. Every hook defaults to doing nothing.
    """

    def __init__(self, run: AuxiliaryRun) -> None:
        self.run = run

    def prepare(self) -> None:
        """Check the settings, load and check auxiliary files (before any model loads)."""

    def contexts(self) -> dict[str, Context]:
        """The contexts built from user data, by name (without the ``"context:"`` prefix)."""
        return {}

    def extras(
        self,
        wanted: set[str],
        planner: SignalPlanner,
        texts: Sequence[str],
        specs: Sequence[AttackSpec],
        *,
        evaluation: Sequence[Sample] | None,
    ) -> dict[str, Any]:
        """The extras among ``wanted`` (names, without ``"extra:"``) that this provider
        builds, for ``texts``; ``evaluation``: the evaluation samples when ``texts`` are theirs
        (leakage checks, per-sample records), ``None`` for the calibration texts."""
        return {}

    def tune(
        self,
        planner: SignalPlanner,
        specs: Sequence[AttackSpec],
        params: dict[str, dict[str, Any]],
    ) -> dict[str, dict[str, Any]]:
        """The attacks' hyperparameters, possibly with chosen values filled in."""
        return params

    def sections(self) -> dict[str, Any]:
        """``metrics.json`` sections: ``{"auxiliary": {entry: ...}}`` and top-level ones."""
        return {}

    def write(self, out_dir: Path, ids: Sequence[str]) -> None:
        """Write (or remove stale) files of the output folder."""


@dataclass(frozen=True)
class ProviderSpec:
    """A registered provider: the inputs it declares and the class that builds them.

    Attributes:
        name: the registry name (its module's name, for the built-in ones).
        inputs: the inputs it provides.
        factory: ``factory(run) -> InputProvider`` (the decorated class).
        order: when its hooks run relative to the others (lower first; equal: by name).
        settings: the settings it declares (:func:`miakit.config.provided.declare`): keys of
            the config schema from then on (YAML, flags, checks), read with
            ``self.run.config.value(name)``.
    """

    name: str
    inputs: tuple[Input, ...]
    factory: Callable[[AuxiliaryRun], InputProvider]
    order: int = 50
    settings: tuple[Key, ...] = ()


class ProviderRegistry(Registry[ProviderSpec]):
    """Name -> :class:`ProviderSpec`; an input key may have one provider only."""

    def __init__(self) -> None:
        super().__init__("input provider", identity=lambda spec: spec.factory)

    def register(
        self,
        name: str,
        *,
        inputs: Iterable[Input] = (),
        order: int = 50,
        settings: Iterable[Key] = (),
    ) -> Callable[[type[InputProvider]], type[InputProvider]]:
        """Class decorator registering an :class:`InputProvider` subclass as ``name``, with
        the settings it declares (added to the config schema: :mod:`miakit.config.provided`)."""

        def make(cls: type[InputProvider]) -> ProviderSpec:
            declared = tuple(inputs)
            own = tuple(settings)
            for spec in self:
                clash = {i.key for i in declared} & {i.key for i in spec.inputs}
                if clash and spec.name != name:
                    raise RuntimeError(
                        f"input {sorted(clash)[0]!r} is provided by {spec.name!r} already"
                    )
            for i in declared:
                if not i.key.startswith(("context:", "extra:")):
                    raise TypeError(f"provider {name!r}: input key {i.key!r} needs a kind prefix")
            from miakit.config import KEYS

            add_settings(name, own, set(KEYS))
            return ProviderSpec(name, declared, cls, order, own)

        return self.decorator(name, make)

    def ordered(self) -> list[ProviderSpec]:
        """The providers in the order their hooks run."""
        return sorted(self, key=lambda spec: (spec.order, spec.name))

    def inputs(self) -> dict[str, Input]:
        """Input key -> its declaration, over every provider."""
        return {i.key: i for spec in self for i in spec.inputs}


_DEFAULT = ProviderRegistry()


def register_provider(
    name: str, *, inputs: Iterable[Input] = (), order: int = 50, settings: Iterable[Key] = ()
) -> Callable[[type[InputProvider]], type[InputProvider]]:
    """Register a provider in the default registry (see the module docstring), with the
    settings it declares (:func:`miakit.config.provided.declare`)."""
    return _DEFAULT.register(name, inputs=inputs, order=order, settings=settings)


def default_providers() -> ProviderRegistry:
    """Import every module of :mod:`miakit.pipeline.providers` and every installed plugin
    (entry points of ``miakit.attacks``, which may register providers too) once; the frozen
    registry."""
    if not _DEFAULT.frozen:
        _DEFAULT.discover("miakit.pipeline.providers")
        load_entry_points()
        _DEFAULT.freeze()
    return _DEFAULT


def given_stand_ins(
    given: Mapping[str, Any] | None,
    *,
    perturber: Any = None,
    providers: ProviderRegistry | None = None,
) -> dict[str, Any]:
    """The in-memory stand-ins of a run (``miakit.run(stand_ins=...)``, plus ``perturber=``),
    checked against what the registered providers declare (``Input(stand_in=NAME)``).

    Raises:
        InvalidParameterError: a name no provider takes (the known ones are listed), or the
            perturber given twice.
    """
    out = {k: v for k, v in (given or {}).items() if v is not None}
    if perturber is not None:
        if "perturber" in out:
            raise InvalidParameterError(
                "the perturber is given twice: pass perturber= or stand_ins={'perturber': ...}"
            )
        out["perturber"] = perturber
    registry = providers if providers is not None else default_providers()
    known = sorted({i.stand_in for i in registry.inputs().values() if i.stand_in})
    unknown = sorted(set(out) - set(known))
    if unknown:
        raise InvalidParameterError(
            f"stand_ins: no input provider takes {unknown[0]!r}; the known stand-ins are "
            f"{', '.join(known) or 'none'} (a provider declares one with Input(stand_in=NAME))"
        )
    return out


def flag_of(key: str, providers: ProviderRegistry | None = None) -> str:
    """The option providing input ``key`` (``"built in"`` when miakit builds it)."""
    spec = (providers or default_providers()).inputs().get(key)
    if spec is None:
        return f"<{key}: no run option provides it>"
    return spec.flag or "built in"


def required_flags(inputs: Iterable[str], providers: ProviderRegistry | None = None) -> list[str]:
    """The options an attack with these ``inputs`` needs (built-in inputs left out)."""
    known = (providers or default_providers()).inputs()
    return [flag_of(k, providers) for k in inputs if k not in known or known[k].flag]


def missing_flags(
    inputs: Iterable[str],
    config: Mapping[str, Any] | Any,
    stand_ins: Iterable[str] = (),
    providers: ProviderRegistry | None = None,
) -> list[str]:
    """The options among :func:`required_flags` that ``config`` (a RunConfig or a mapping of
    its fields) leaves unset and no stand-in (a :func:`miakit.run` argument given) replaces;
    an input no provider provides counts as missing."""
    known = (providers or default_providers()).inputs()
    given = set(stand_ins)
    return [
        flag_of(k, providers)
        for k in inputs
        if k not in known or not known[k].available(config, given)
    ]


__all__ = [
    "Input",
    "InputProvider",
    "ProviderRegistry",
    "ProviderSpec",
    "default_providers",
    "flag_of",
    "missing_flags",
    "register_provider",
    "required_flags",
]
