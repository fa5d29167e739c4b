"""Calibration: hyperparameters chosen on a labelled set apart from the evaluation data.

``--calibrate`` gives labelled members and non-members. They are refused when they share a
text with the evaluation data or with an auxiliary set (the other providers' ``aux_sets``), so
this provider runs after those. Each selected attack that declares a calibration grid when it
registers (``calibration={"gamma": (...)}``, :func:`miakit.attacks.register_attack`) is scored
on the calibration set alone (its own signals and extras) at every grid value, and the value
with the best calibration AUROC is used (:func:`miakit.inference.calibrate.grid_search`; ties:
the value listed first). Several hyperparameters of one attack are searched one after the
other, each with the values already chosen held fixed. Evaluation labels never reach it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from miakit.attacks import AttackSpec, SignalView, default_registry
from miakit.data import Label, SampleSet, load_samples
from miakit.data.disjoint import require_disjoint
from miakit.errors import DataError, InvalidParameterError
from miakit.pipeline.inputs import InputProvider, default_providers, register_provider

if TYPE_CHECKING:  # annotations only: `miakit run --help` imports every provider
    from miakit.inference.calibrate import GridResult
    from miakit.signals.plan import SignalPlanner


@register_provider("calibration", order=90)
class Calibration(InputProvider):
    """The calibration set of ``--calibrate`` and the hyperparameters chosen on it."""

    calibration: SampleSet | None = None
    calibrated: dict[str, GridResult]

    def prepare(self) -> None:
        self.calibrated = {}
        config, run = self.run.config, self.run
        if config.calibrate is None:
            return
        calib = load_samples(
            config.calibrate,
            label=None,
            text_field=config.text_field,
            id_field=config.id_field,
            label_field=config.label_field,
        )
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
        require_disjoint(calib, list(run.samples), what=f"--calibrate ({config.calibrate})")
        for flag, rows in run.aux_sets.items():
            require_disjoint(rows, calib, what=f"{flag}", other=f"calibration ({config.calibrate})")
        self.calibration = SampleSet.of(calib)

    def tune(
        self,
        planner: SignalPlanner,
        specs: Sequence[AttackSpec],
        params: dict[str, dict[str, Any]],
    ) -> dict[str, dict[str, Any]]:
        """``params`` with the calibrated hyperparameters of ``specs`` filled in.

        Raises:
            InvalidParameterError: a calibrated hyperparameter was also set by hand.
        """
        from miakit.inference.calibrate import grid_search  # scipy, through miakit.inference

        out = {k: dict(v) for k, v in params.items()}
        if self.calibration is None:
            return out
        tuned = [s for s in specs if s.calibration]
        inputs = default_providers().inputs()
        readers = [  # attacks reading the calibration set itself (whitebox's classifier)
            s
            for s in specs
            if any(inputs[k].setting == "calibrate" for k in s.inputs if k in inputs)
        ]
        if not tuned and readers:
            return out
        if not tuned:
            calibrated = [s.name for s in default_registry() if s.calibration]
            self.run.warnings.append(
                f"--calibrate was given but no attack run has a calibrated hyperparameter "
                f"(calibrated: {', '.join(sorted(calibrated))}); it was not used"
            )
            return out
        clash = [f"{s.name}.{p}" for s in tuned for p in s.calibration if p in out.get(s.name, {})]
        if clash:
            raise InvalidParameterError(
                f"{', '.join(clash)} is chosen by --calibrate; do not also set it with --param "
                "(drop one of the two)"
            )
        calib = self.calibration
        texts = calib.texts
        labels = calib.label_array()  # 1 member, 0 non-member (checked in prepare)
        tables = planner.compute(texts, [r for s in tuned for r in s.needs])
        extras = self.run.extras(planner, texts, tuned)
        view = SignalView(tables, texts, n_samples=len(calib), extras=extras)
        for spec in tuned:
            fixed = dict(out.get(spec.name, {}))
            for param, grid in spec.calibration.items():

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

    def sections(self) -> dict[str, Any]:
        """``calibration`` in ``metrics.json`` (with ``--calibrate``)."""
        if self.calibration is None:
            return {}
        calib = self.calibration
        return {
            "calibration": {
                "source": self.run.config.calibrate,
                "n_members": calib.count(Label.MEMBER),
                "n_nonmembers": calib.count(Label.NONMEMBER),
                "rule": "highest calibration AUROC; ties: first grid value",
                "chosen": {k: r.best for k, r in self.calibrated.items()},
                "results": {k: r.to_dict() for k, r in self.calibrated.items()},
            }
        }
