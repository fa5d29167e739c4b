"""Auxiliary inputs of a run: prefix contexts, extras and calibration, in one place.

:class:`AuxiliaryRun` is what :func:`miakit.runner.run` uses. It loads the auxiliary sets
(``--aux-nonmembers``, ``--aux-members``, ``--calibrate``) and refuses any text they share with
the evaluation data, or the prefix sets with the calibration set (exact or normalised copies,
and texts containing one or lying inside one by word 13-gram containment:
:mod:`miakit.data.disjoint`); builds the ReCaLL prefix
contexts; computes the extras the selected attacks declared (token frequencies, neighbour
NLLs) for any list of texts; and chooses calibrated hyperparameters on the calibration set
alone (:mod:`miakit.inference.calibrate`). Evaluation labels never reach it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from miakit._core.io import atomic_write
from miakit.attacks import AttackSpec, SignalView
from miakit.auxiliary import frequency as freq
from miakit.auxiliary import neighbours as nbr
from miakit.auxiliary.prefix import Prefix, build_prefix
from miakit.config import RunConfig
from miakit.data import Label, Sample, SampleSet, load_samples
from miakit.data.disjoint import require_disjoint
from miakit.errors import DataError, InvalidParameterError
from miakit.inference.calibrate import GridResult, grid_search
from miakit.perturb.base import Perturber
from miakit.perturb.cache import NeighbourCache
from miakit.signals.plan import SignalPlanner
from miakit.signals.spec import Context

#: Hyperparameters that ``--calibrate`` chooses: attack -> {hyperparameter: grid} (on ties the
#: value listed first wins). Con-ReCall's γ: 0.0 (plain ReCaLL) to 1.0 in steps of 0.1, the
#: paper's range {0.1, …, 1.0} plus 0. Adding e.g. ``"min_k": {"k": (0.05, 0.1, 0.2, ...)}``
#: is all it takes to calibrate another attack; several hyperparameters of one attack are
#: searched one after the other, each with the values already chosen held fixed.
CALIBRATION_GRIDS: dict[str, dict[str, tuple[Any, ...]]] = {
    "con_recall": {"gamma": tuple(round(0.1 * i, 1) for i in range(11))},
}

#: Auxiliary sample sets: config key -> (prefix context, label its rows must have, flag).
_PREFIX_SETS = {
    "aux_nonmembers": ("recall_nonmember", Label.NONMEMBER, "--aux-nonmembers"),
    "aux_members": ("recall_member", Label.MEMBER, "--aux-members"),
}


@dataclass
class AuxiliaryRun:
    """The auxiliary inputs of one run (see the module docstring)."""

    config: RunConfig
    prefixes: dict[str, Prefix] = field(default_factory=dict)
    calibration: SampleSet | None = None
    perturber: Perturber | None = None
    frequency: freq.FrequencyTable | None = None
    #: attack name -> its evaluation neighbours, and the perturber that wrote them
    neighbourhoods: dict[str, nbr.Neighbourhood] = field(default_factory=dict)
    perturbers: dict[str, Perturber] = field(default_factory=dict)
    calibrated: dict[str, GridResult] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: what the frequency corpus's leakage check covered (:func:`freq.require_not_in_corpus`)
    corpus_check: dict[str, Any] | None = None

    @classmethod
    def prepare(
        cls,
        config: RunConfig,
        samples: SampleSet,
        *,
        perturber: Perturber | None = None,
    ) -> AuxiliaryRun:
        """Load and check the auxiliary sets and build the prefix contexts.

        Raises:
            DataError: an auxiliary or calibration text matches, contains or lies inside an
                evaluation text (or an auxiliary text a calibration text); a calibration set
                without both labels.
            InvalidParameterError: fewer auxiliary texts than ``--recall-shots``.
        """
        for key, value in (
            ("--recall-shots", config.recall_shots),
            ("--neighbors", config.neighbors),
        ):
            if value < 1:
                raise InvalidParameterError(f"{key} must be an integer >= 1; got {value}")
        aux = cls(config=config, perturber=perturber)
        fields = {
            "text_field": config.text_field,
            "id_field": config.id_field,
            "label_field": config.label_field,
        }
        aux_sets: dict[str, list[Sample]] = {}
        for key, (context, label, flag) in _PREFIX_SETS.items():
            path = getattr(config, key)
            if path is None:
                continue
            rows = load_samples(path, label=label, **fields)
            require_disjoint(rows, list(samples), what=f"{flag} ({path})")
            aux_sets[flag] = rows
            aux.prefixes[context] = build_prefix(
                context,
                rows,
                n=config.recall_shots,
                seed=config.seed,
                separator=config.recall_separator,
                source=str(path),
            )
        if config.calibrate is not None:
            calib = load_samples(config.calibrate, label=None, **fields)
            unknown = [s.id for s in calib if s.label is Label.UNKNOWN]
            n_member = sum(s.label is Label.MEMBER for s in calib)
            if unknown or n_member in (0, len(calib)):
                raise DataError(
                    f"--calibrate ({config.calibrate}) needs labelled members and non-members "
                    f"(a label column); got {n_member} member(s), "
                    f"{len(calib) - n_member - len(unknown)} non-member(s) and "
                    f"{len(unknown)} unlabelled row(s)"
                )
            SampleSet.of(calib).require_unique_ids()
            require_disjoint(calib, list(samples), what=f"--calibrate ({config.calibrate})")
            for flag, rows in aux_sets.items():
                require_disjoint(
                    rows, calib, what=f"{flag}", other=f"calibration ({config.calibrate})"
                )
            aux.calibration = SampleSet.of(calib)
        return aux

    @property
    def contexts(self) -> dict[str, Context]:
        """The prefix contexts built from the auxiliary sets, by name."""
        return {name: p.context for name, p in self.prefixes.items()}

    # -- extras ------------------------------------------------------------------------
    def extras(
        self,
        planner: SignalPlanner,
        texts: Sequence[str],
        specs: Sequence[AttackSpec],
        *,
        evaluation: Sequence[Sample] | None = None,
    ) -> dict[str, Any]:
        """The extras ``specs`` declared, for ``texts``. With ``evaluation`` (the evaluation
        samples, whose texts are ``texts``) the corpus leakage check runs and the neighbours
        are kept for ``neighbors.parquet``."""
        wanted = {e for s in specs for e in s.extras}
        out: dict[str, Any] = {}
        config = self.config
        cache_dir = None if config.no_cache else config.resolved_cache_dir()
        if "token_frequency" in wanted:
            if self.frequency is None:
                if config.frequency_corpus is None:
                    raise InvalidParameterError("dc_pdd needs --frequency-corpus")
                self.frequency = freq.build_frequency_table(
                    config.frequency_corpus,
                    planner.engine("target").scorer,
                    cache_dir=cache_dir,
                    text_field=config.text_field,
                )
            if evaluation is not None:
                self.corpus_check = freq.require_not_in_corpus(self.frequency, evaluation)
                if self.corpus_check["containment"] != "checked":
                    self.warnings.append(
                        f"--frequency-corpus: containment check {self.corpus_check['containment']}"
                        f" (limit: miakit.auxiliary.frequency.CONTAINMENT_MAX_WORDS)"
                    )
            out["token_frequency"] = self.frequency.frequencies
        for extra, attack in nbr.NEIGHBOUR_EXTRAS.items():
            if extra not in wanted:
                continue
            cache = NeighbourCache(cache_dir / "neighbours") if cache_dir is not None else None
            perturber = self._perturber(planner, extra)
            neighbours = nbr.generate(
                perturber, texts, m=config.neighbors, seed=config.seed, cache=cache
            )
            hood = nbr.score(planner.engine("target"), neighbours)
            if evaluation is not None:
                self.neighbourhoods[attack] = hood
            out[extra] = hood.mean_nll
        return out

    def _perturber(self, planner: SignalPlanner, extra: str) -> Perturber:
        """The generator of ``extra``: the in-memory ``perturber`` if given, else the paper's
        (``neighbor_nll``, from ``--fill-mask-model``) or the causal-LM variant's."""
        attack = nbr.NEIGHBOUR_EXTRAS[extra]
        if self.perturber is not None:
            self.perturbers[attack] = self.perturber
        if attack not in self.perturbers:
            config = self.config
            from miakit.perturb import CausalLMPerturber, DropoutSwapPerturber

            if extra == "neighbor_nll":
                if config.fill_mask_model is None:
                    raise InvalidParameterError(
                        "attack 'neighborhood' needs --fill-mask-model (a local masked LM for "
                        "the paper's neighbours); without one, run the variant "
                        "--attacks neighborhood_causal"
                    )
                self.perturbers[attack] = DropoutSwapPerturber.load(
                    config.fill_mask_model, device=config.device, top_k=config.neighbor_top_k
                )
            else:
                self.perturbers[attack] = CausalLMPerturber(
                    planner.engine("target").scorer,
                    fraction=config.neighbor_fraction,
                    top_k=config.neighbor_top_k,
                    max_length=config.max_length,
                    bos=config.bos,
                )
        return self.perturbers[attack]

    # -- calibration -------------------------------------------------------------------
    def calibrate(
        self,
        planner: SignalPlanner,
        specs: Sequence[AttackSpec],
        params: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, dict[str, Any]]:
        """``params`` with the calibrated hyperparameters of ``specs`` filled in.

        Each attack of ``specs`` that has a grid in :data:`CALIBRATION_GRIDS` is scored on the
        calibration set (its own signals and extras) at every grid value; the value with the
        best calibration AUROC is used. Without ``--calibrate`` nothing changes.

        Raises:
            InvalidParameterError: a calibrated hyperparameter was also set by hand.
        """
        out = {k: dict(v) for k, v in params.items()}
        if self.calibration is None:
            return out
        tuned = [s for s in specs if s.name in CALIBRATION_GRIDS]
        if not tuned:
            self.warnings.append(
                f"--calibrate was given but no attack run has a calibrated hyperparameter "
                f"(calibrated: {', '.join(sorted(CALIBRATION_GRIDS))}); it was not used"
            )
            return out
        clash = [
            f"{s.name}.{p}"
            for s in tuned
            for p in CALIBRATION_GRIDS[s.name]
            if p in params.get(s.name, {})
        ]
        if clash:
            raise InvalidParameterError(
                f"{', '.join(clash)} is chosen by --calibrate; do not also set it with --param "
                "(drop one of the two)"
            )
        calib = self.calibration
        texts = calib.texts
        labels = calib.label_array()  # 1 member, 0 non-member (checked in prepare)
        tables = planner.compute(texts, [r for s in tuned for r in s.needs])
        view = SignalView(
            tables, texts, n_samples=len(calib), extras=self.extras(planner, texts, tuned)
        )
        for spec in tuned:
            fixed = dict(out.get(spec.name, {}))
            for param, grid in CALIBRATION_GRIDS[spec.name].items():

                def scores(
                    value: Any,
                    spec: AttackSpec = spec,
                    param: str = param,
                    fixed: dict[str, Any] = fixed,
                ) -> np.ndarray:
                    return spec(view, **{**fixed, param: value}).scores

                result = grid_search(scores, grid, labels, attack=spec.name, param=param)
                self.calibrated[f"{spec.name}.{param}"] = result
                fixed[param] = result.best
            out[spec.name] = fixed
        return out

    # -- outputs -----------------------------------------------------------------------
    def sections(self) -> dict[str, Any]:
        """``metrics.json`` sections: ``auxiliary`` and (with ``--calibrate``) ``calibration``."""
        config = self.config
        section: dict[str, Any] = {
            "prefixes": {name: p.to_dict() for name, p in self.prefixes.items()},
        }
        if self.frequency is not None:
            section["frequency_corpus"] = self.frequency.to_dict()
            if self.corpus_check is not None:
                section["frequency_corpus"]["leakage_check"] = self.corpus_check
        if self.neighbourhoods:
            section["neighbours"] = {
                attack: nbr.summary(
                    hood, self.perturbers[attack], m=config.neighbors, seed=config.seed
                )
                for attack, hood in self.neighbourhoods.items()
            }
        out: dict[str, Any] = {"auxiliary": section}
        if self.calibration is not None:
            calib = self.calibration
            out["calibration"] = {
                "source": config.calibrate,
                "n_members": calib.count(Label.MEMBER),
                "n_nonmembers": calib.count(Label.NONMEMBER),
                "rule": "highest calibration AUROC; ties: first grid value",
                "chosen": {k: r.best for k, r in self.calibrated.items()},
                "results": {k: r.to_dict() for k, r in self.calibrated.items()},
            }
        return out

    def write(self, out_dir: Path, ids: Sequence[str]) -> None:
        """Write ``neighbors.parquet`` (when neighbours were generated) to ``out_dir``;
        remove a stale one otherwise."""
        path = out_dir / "neighbors.parquet"
        if not self.neighbourhoods:
            path.unlink(missing_ok=True)
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        records = nbr.records(self.neighbourhoods, ids)
        atomic_write(path, lambda tmp: records.to_parquet(tmp, index=False))
