"""The result of dataset inference: the verdict, its reason and the record of the method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from miakit.errors import InvalidParameterError
from miakit.inference.assumptions import ShiftCheck

PAPER = "2406.06443"

Verdict = Literal["member", "not_detected", "withheld"]

METHOD_NOTE = (
    "label-permutation test of the whole fit: held-out (cross-fitted) ridge-combiner scores, "
    "statistic = AUROC suspect vs validation (one-sided, Mann-Whitney U), the combiner "
    "refitted on every permutation, p = (1 + #{null >= observed}) / (1 + n_permutations); "
    "valid at any sample size when suspect and validation texts are exchangeable"
)


@dataclass(frozen=True)
class DatasetInferenceResult:
    """The verdict of dataset inference and what it rests on.

    Attributes:
        verdict: ``"member"`` (p <= alpha: evidence the model was trained on suspect
            texts), ``"not_detected"`` (no evidence at alpha; not proof of non-training) or
            ``"withheld"`` (the sets differ without the model: no test is meaningful).
        p_value: the permutation p-value; ``None`` when withheld.
        alpha: the level.
        reason: the verdict in words, with its numbers.
        method: how the p-value was computed (``name``, ``statistic``, ``n_permutations``,
            ``n_folds``, ``clip_quantile``, ``seed``, ``note``).
        effect: ``auroc`` (held-out), ``auroc_ci``, ``ci_method``, ``null_auroc_mean``,
            ``null_auroc_sd``; empty when withheld.
        weights: feature -> ridge weight on standardised features, fitted on all texts
            (descriptive; positive = higher values look like suspect texts).
        feature_auroc: feature -> its own AUROC suspect vs validation (descriptive; ``None``
            when undefined).
        power: p against the number of texts per set (:func:`power_curve`); empty when
            withheld or not asked for.
        n_suspect, n_validation: texts per set.
        features: the features used; ``dropped``: left out (no finite value);
            ``n_missing``: feature -> texts it could not score (imputed inside each fit).
        assumptions: the model-free checks (:class:`ShiftCheck`), or ``None`` if none ran.
        scores: ``(n_suspect + n_validation,)`` held-out combiner scores, suspect rows
            first (empty when withheld); not in :meth:`to_dict`.
        folds: the fold of each of those rows.
        scoring: how the features were computed (model, attacks skipped, run warnings),
            filled by :func:`miakit.dataset_inference`; empty here.
    """

    verdict: Verdict
    p_value: float | None
    alpha: float
    reason: str
    method: dict[str, Any]
    effect: dict[str, Any]
    weights: dict[str, float]
    feature_auroc: dict[str, float | None]
    power: list[dict[str, Any]]
    n_suspect: int
    n_validation: int
    features: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    n_missing: dict[str, int] = field(default_factory=dict)
    assumptions: ShiftCheck | None = None
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    folds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    scoring: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """``dataset_inference.json``'s text (NaN written as null)."""
        import json

        return json.dumps(_nan_to_none(self.to_dict()), indent=2, allow_nan=False) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``dataset_inference.json``)."""
        return {
            "verdict": self.verdict,
            "p_value": self.p_value,
            "alpha": self.alpha,
            "reason": self.reason,
            "method": self.method,
            "assumption": (
                "suspect and validation texts are identically distributed (validation texts "
                "are non-members drawn from the suspect texts' distribution)"
            ),
            "assumption_checks": (
                self.assumptions.to_dict() if self.assumptions is not None else {"ran": False}
            ),
            "effect_size": self.effect,
            "weights": self.weights,
            "feature_auroc": self.feature_auroc,
            "p_value_by_n": self.power,
            "n_suspect": self.n_suspect,
            "n_validation": self.n_validation,
            "features": list(self.features),
            "features_dropped": list(self.dropped),
            "features_missing": self.n_missing,
            "scoring": self.scoring,
            "paper": f"arXiv {PAPER}",
        }


def method_record(*, n_permutations: int, n_folds: int, clip: float, seed: int) -> dict[str, Any]:
    """The ``method`` section: how the p-value is computed."""
    return {
        "name": "permutation",
        "statistic": "held-out AUROC (Mann-Whitney U), suspect > validation",
        "n_permutations": n_permutations,
        "n_folds": n_folds,
        "combiner": "clip (training quantiles) -> standardise (training rows) -> ridge",
        "clip_quantile": clip,
        "seed": seed,
        "note": METHOD_NOTE,
    }


def withheld_result(shift: ShiftCheck, **fields: Any) -> DatasetInferenceResult:
    """The ``"withheld"`` result for checks that say the sets differ; nothing is tested.

    Args:
        shift: checks whose :meth:`~ShiftCheck.withhold_reason` is not ``None``.
        **fields: ``alpha``, ``method``, ``n_suspect``, ``n_validation`` and optionally
            ``features``, ``dropped``, ``n_missing`` of :class:`DatasetInferenceResult`.
    """
    why = shift.withhold_reason()
    if why is None:
        raise InvalidParameterError("withheld_result needs checks that withhold the verdict")
    fields.pop("assumptions", None)
    fields.setdefault("features", ())
    return DatasetInferenceResult(
        verdict="withheld",
        p_value=None,
        reason=f"verdict withheld: {why}.",
        effect={},
        weights={},
        feature_auroc={},
        power=[],
        assumptions=shift,
        **fields,
    )


def reason_text(p: float, alpha: float, auroc: float, m: int, shift: ShiftCheck | None) -> str:
    stats = f"held-out AUROC {auroc:.3f}, permutation p = {p:.3g} ({m} permutations)"
    if p <= alpha:
        text = (
            f"suspect texts score higher than validation texts under the model ({stats} <= "
            f"alpha = {alpha:g}): evidence that the model was trained on suspect texts, "
            "provided the two sets are identically distributed"
        )
    else:
        text = (
            f"no evidence at alpha = {alpha:g} ({stats} > alpha). This is not evidence that "
            "the model was NOT trained on the suspect texts: with weak signals the test needs "
            "more texts (see p_value_by_n)"
        )
    if shift is None:
        text += (
            ". The model-free checks of that assumption did not run (miakit.dataset_inference "
            "runs them on the texts)"
        )
    elif not shift.ran:
        text += ". The blind-baseline check of that assumption could not run: " + "; ".join(
            shift.notes
        )
    else:
        text += (
            f". Model-free check: the blind baselines did not tell the sets apart "
            f"(family-wise p = {shift.blind_p:.3g} > {shift.blind_alpha:g}), which does not "
            "prove that they are identically distributed"
        )
    return text + "."


def _nan_to_none(value: Any) -> Any:
    """``value`` with every float NaN, also inside dicts and lists, as ``None``."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value
