"""The auxiliary inputs of one run, built by the registered providers.

:class:`AuxiliaryRun` is what :func:`miakit.pipeline.run` uses. It makes one
:class:`~miakit.pipeline.inputs.InputProvider` of each registered provider and calls their
hooks in order: :meth:`prepare` (load and check auxiliary sets before any model loads: every
auxiliary text is refused when it matches, contains or lies inside an evaluation text,
:mod:`miakit.data.disjoint`), :attr:`contexts` (prefix contexts for the planner),
:meth:`extras` (what the selected attacks declared, for any list of texts), :meth:`calibrate`
(hyperparameters chosen on a calibration set apart from the evaluation data), then
:meth:`sections` and :meth:`write` for the outputs. It names no attack and no input: which
provider builds what is the providers' own declaration (:mod:`miakit.pipeline.inputs`).
Evaluation labels never reach it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miakit.attacks import AttackSpec
from miakit.config import RunConfig
from miakit.data import Sample, SampleSet
from miakit.pipeline.inputs import InputProvider, ProviderRegistry, default_providers
from miakit.signals.plan import SignalPlanner
from miakit.signals.spec import Context


@dataclass
class AuxiliaryRun:
    """The auxiliary inputs of one run, and the state its providers share.

    Attributes:
        config: the run's configuration.
        samples: the evaluation samples (texts and ids; providers never read their labels).
        stand_ins: in-memory objects given to :func:`miakit.run` by name (``"perturber"``).
        warnings: the run's warnings about its inputs, in the order they arose.
        aux_sets: flag -> the auxiliary texts loaded for it, for the providers that check
            their own texts against the others' (a calibration set against the prefix sets).
        providers: the providers' instances, in the order their hooks run.
    """

    config: RunConfig
    samples: SampleSet
    stand_ins: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    aux_sets: dict[str, list[Sample]] = field(default_factory=dict)
    providers: list[InputProvider] = field(default_factory=list)

    @classmethod
    def prepare(
        cls,
        config: RunConfig,
        samples: SampleSet,
        *,
        stand_ins: Mapping[str, Any] | None = None,
        registry: ProviderRegistry | None = None,
    ) -> AuxiliaryRun:
        """Make every provider and let each load and check its inputs.

        Raises:
            DataError: an auxiliary or calibration text matches, contains or lies inside an
                evaluation text (or an auxiliary text a calibration text); a calibration set
                without both labels.
            InvalidParameterError: a provider's setting cannot work (fewer auxiliary texts
                than ``--recall-shots``...).
        """
        given = {k: v for k, v in (stand_ins or {}).items() if v is not None}
        aux = cls(config=config, samples=samples, stand_ins=given)
        aux.providers = [spec.factory(aux) for spec in (registry or default_providers()).ordered()]
        for provider in aux.providers:
            provider.prepare()
        return aux

    @property
    def contexts(self) -> dict[str, Context]:
        """The contexts built from user data, by name."""
        return {name: c for p in self.providers for name, c in p.contexts().items()}

    @property
    def cache_dir(self) -> Path | None:
        """The run's cache folder (``None`` with ``--no-cache``)."""
        return None if self.config.no_cache else self.config.resolved_cache_dir()

    def extras(
        self,
        planner: SignalPlanner,
        texts: Sequence[str],
        specs: Sequence[AttackSpec],
        *,
        evaluation: Sequence[Sample] | None = None,
    ) -> dict[str, Any]:
        """The extras ``specs`` declared, for ``texts``. With ``evaluation`` (the evaluation
        samples, whose texts are ``texts``) the providers' leakage checks run and their
        per-sample records are kept for the outputs."""
        wanted = {e for s in specs for e in s.extras}
        out: dict[str, Any] = {}
        for provider in self.providers:
            out.update(provider.extras(wanted, planner, texts, specs, evaluation=evaluation))
        return out

    def calibrate(
        self,
        planner: SignalPlanner,
        specs: Sequence[AttackSpec],
        params: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, dict[str, Any]]:
        """``params`` with the hyperparameters the providers choose filled in."""
        out = {k: dict(v) for k, v in params.items()}
        for provider in self.providers:
            out = provider.tune(planner, specs, out)
        return out

    def sections(self) -> dict[str, Any]:
        """``metrics.json`` sections: ``auxiliary`` (one entry per provider that has one) and
        the providers' top-level sections (``calibration`` with ``--calibrate``)."""
        out: dict[str, Any] = {"auxiliary": {}}
        for provider in self.providers:
            for name, section in provider.sections().items():
                if name == "auxiliary":
                    out["auxiliary"].update(section)
                else:
                    out[name] = section
        return out

    def write(self, out_dir: Path, ids: Sequence[str]) -> None:
        """Let every provider write its files to ``out_dir`` (or remove stale ones)."""
        for provider in self.providers:
            provider.write(out_dir, ids)
