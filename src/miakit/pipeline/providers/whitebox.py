"""The supervised white-box attack's classifier, fitted on the labelled calibration split.

The provider of the extra ``whitebox_model`` (:class:`~miakit.attacks.whitebox.WhiteboxModel`),
for :mod:`miakit.attacks.whitebox` (Pandora's White-Box, arXiv 2402.17012). Threat model: the
auditor holds some known members of the fine-tune and known non-members, given with
``--calibrate FILE`` (a label column; YAML ``calibrate:``, ``miakit.run(calibrate=...)``), apart
from the evaluated members and non-members. The calibration provider loads that file and refuses
texts it shares with the evaluation data (exact, normalised-text and containment matches,
:func:`miakit.data.disjoint.require_disjoint`); this provider also refuses shared ids.

For the evaluation run it scores the calibration texts through the same planner (so the same
engines, signal cache and gradient cache: one forward pass per text feeds every signal),
asks the other providers for their extras of those texts (the gradient norms), computes the
features of :func:`miakit.attacks.whitebox.features`, and fits the classifier
(:func:`miakit.inference.logistic.fit_cv`, C chosen by stratified cross-validation inside the
split, folds seeded by ``--seed``). It never reads an evaluation label: the evaluation samples
are read for their ids only. ``metrics.json`` records the fit under ``auxiliary.whitebox``.

A calibration text the features cannot describe (no scored token, no gradient) takes no part
in the fit; the run's warnings name it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from miakit.attacks import AttackSpec, SignalView, default_registry
from miakit.attacks.whitebox import MODEL_EXTRA, WhiteboxModel, features
from miakit.data import Sample, SampleSet
from miakit.data._messages import listing
from miakit.errors import DataError
from miakit.pipeline.inputs import Input, InputProvider, Unavailable, register_provider
from miakit.pipeline.providers.calibration import Calibration
from miakit.pipeline.providers.gradients import no_gradients

if TYPE_CHECKING:  # annotations only: `miakit run --help` imports every provider
    from miakit.signals.plan import SignalPlanner

#: The input this module provides: it needs the labelled calibration split.
MODEL = Input(
    f"extra:{MODEL_EXTRA}",
    "a classifier trained on labelled known members and non-members",
    setting="calibrate",
)


def require_distinct_ids(
    calib: Sequence[Sample], evaluation: Sequence[Sample], source: str
) -> None:
    """Refuse calibration samples whose ids are evaluation ids.

    Raises:
        DataError: naming the shared ids and the fix.
    """
    shared = sorted({s.id for s in calib} & {s.id for s in evaluation})
    if shared:
        raise DataError(
            f"--calibrate ({source}) shares {len(shared)} id(s) with the evaluation data: "
            f"{listing([repr(i) for i in shared])}. The calibration split must be known "
            "members and non-members apart from the evaluated ones: remove them from the "
            "calibration file (or from --members/--nonmembers/--data), or give a calibration "
            "text that is not evaluated an id of its own"
        )


@register_provider("whitebox", inputs=[MODEL], order=95)
class Whitebox(InputProvider):
    """The classifier of ``whitebox``, fitted on ``--calibrate`` (after the calibration
    provider has loaded and checked it)."""

    section: dict[str, Any] | None = None

    def _calibration(self) -> SampleSet | None:
        owners = [p for p in self.run.providers if isinstance(p, Calibration)]
        return owners[0].calibration if owners else None

    def prepare(self) -> None:
        config = self.run.config
        calib = self._calibration()
        registry = default_registry()
        asked = [n for n in config.attacks or () if n in registry]
        if calib is not None and any(MODEL_EXTRA in registry.get(n).extras for n in asked):
            require_distinct_ids(list(calib), list(self.run.samples), str(config.calibrate))

    def extras(
        self,
        wanted: set[str],
        planner: SignalPlanner,
        texts: Sequence[str],
        specs: Sequence[AttackSpec],
        *,
        evaluation: Sequence[Sample] | None,
    ) -> dict[str, Any]:
        if MODEL_EXTRA not in wanted or evaluation is None:  # None: the calibration texts
            return {}
        calib = self._calibration()
        source = str(self.run.config.calibrate)
        if calib is None:  # the selection refuses the attack first; a direct call ends here
            raise DataError("attack 'whitebox' needs --calibrate FILE (labelled members)")
        require_distinct_ids(list(calib), evaluation, source)
        engine = planner.engine("target")
        if not engine.capabilities.gradients:
            return {MODEL_EXTRA: Unavailable(no_gradients(engine))}
        users = [s for s in specs if MODEL_EXTRA in s.extras]
        tables = planner.compute(calib.texts, [r for s in users for r in s.needs])
        extras = self.run.extras(planner, calib.texts, users)  # evaluation=None: no recursion
        view = SignalView(tables, calib.texts, n_samples=len(calib), extras=extras)
        names, x, reasons = features(view)
        keep = np.array([r is None for r in reasons], dtype=bool)
        dropped = [f"{s.id!r} ({r})" for s, r in zip(calib, reasons, strict=True) if r]
        if dropped:
            self.run.warnings.append(
                f"whitebox: {len(dropped)} calibration text(s) without features take no part "
                f"in the fit: {listing(dropped)}"
            )
        labels = calib.label_array()[keep]
        from miakit.inference.logistic import fit_cv  # scipy, through miakit.inference

        fit = fit_cv(x[keep], labels, seed=self.run.config.seed)
        self.section = {
            "source": source,
            "threat_model": "known members and non-members of the target (labelled split)",
            "n_members": int((labels == 1).sum()),
            "n_nonmembers": int((labels == 0).sum()),
            "n_without_features": len(dropped),
            "classifier": "standardised L2 logistic regression (log-odds of member)",
            "C": fit.c,
            "cv_auroc": fit.cv_auroc,
            "cv_folds": fit.n_folds,
            "cv_grid": {f"{c:g}": auc for c, auc in fit.grid.items()},
            "rule": "highest mean held-out-fold AUROC; ties: the smaller C",
            "seed": self.run.config.seed,
            "coefficients": dict(zip(names, map(float, fit.coef), strict=True)),
            "intercept": fit.intercept,
        }
        model = WhiteboxModel(tuple(names), fit.mean, fit.scale, fit.coef, fit.intercept)
        return {MODEL_EXTRA: model}

    def sections(self) -> dict[str, Any]:
        return {"auxiliary": {"whitebox": self.section}} if self.section else {}
