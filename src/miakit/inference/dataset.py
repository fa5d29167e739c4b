"""Dataset inference on attack scores: was this set of texts used to train the model?

Maini et al., "LLM Dataset Inference: Did you train on my dataset?" (arXiv 2406.06443). An
auditor holds suspect texts S and validation texts V, known non-members drawn from the same
distribution as S. Each text's attack scores are its features; a linear combiner, fitted on
part of the texts, scores the others; if the model was trained on S, suspect texts score
higher. This module is the statistics, on feature matrices: the combiner
(:mod:`~miakit.inference.combiner`), the permutation-calibrated test
(:mod:`~miakit.inference.permutation`), the effect size (:mod:`~miakit.inference.effect`), the
power curve (:mod:`~miakit.inference.power`) and the decision with the model-free checks of
the assumption (:mod:`~miakit.inference.assumptions`). :func:`miakit.dataset_inference` runs
the model, the checks and this, from files.

Departures from the paper's code, each for validity: the p-value comes from refitting the
whole procedure on label permutations instead of a t-test on one split (valid at every
sample size, for any feature distribution); clipping and standardisation are fitted on the
training rows, pooled, never per set; every text is scored out of fold (cross-fitting), so
no text is both trained on and tested.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from miakit.errors import InvalidParameterError
from miakit.inference.assumptions import ShiftCheck
from miakit.inference.combiner import CLIP_QUANTILE, Preprocessor
from miakit.inference.effect import DEFAULT_RESAMPLES, bootstrap_auroc_ci
from miakit.inference.features import build_features
from miakit.inference.permutation import DEFAULT_FOLDS, DEFAULT_PERMUTATIONS, permutation_test
from miakit.inference.power import DEFAULT_REPEATS, default_sizes, power_curve
from miakit.inference.verdict import (
    PAPER,
    DatasetInferenceResult,
    method_record,
    reason_text,
    withheld_result,
)
from miakit.metrics.ranks import auroc_columns
from miakit.metrics.ridge import ridge_fit

#: Fewest texts per set.
MIN_TEXTS = 10
#: Level of the verdict by default.
DEFAULT_ALPHA = 0.01

__all__ = ["PAPER", "DatasetInferenceResult", "dataset_inference_from_features"]


def check_options(*, alpha: object, n_permutations: object, n_folds: object, clip: object) -> None:
    """Raise :class:`InvalidParameterError` listing every option out of range."""
    problems = []
    a_ok = not isinstance(alpha, bool) and isinstance(alpha, int | float) and 0 < alpha < 1
    if not a_ok:
        problems.append(f"alpha must be a number in (0, 1), e.g. 0.01; got {alpha!r}.")
    m_ok = not isinstance(n_permutations, bool) and isinstance(n_permutations, int)
    if not m_ok or n_permutations < 1:  # type: ignore[operator]
        problems.append(f"permutations must be an integer >= 1, e.g. 999; got {n_permutations!r}.")
    elif a_ok and 1.0 / (1 + n_permutations) > alpha:  # type: ignore[operator]
        need = math.ceil(1.0 / alpha) - 1  # type: ignore[operator]
        problems.append(
            f"alpha = {alpha:g} cannot be reached with {n_permutations} permutations (the "
            f"smallest p-value is 1 / {n_permutations + 1}); use at least {need} permutations."  # type: ignore[operator]
        )
    k_ok = not isinstance(n_folds, bool) and isinstance(n_folds, int)
    if not k_ok or not 2 <= n_folds <= MIN_TEXTS:  # type: ignore[operator]
        problems.append(f"folds must be an integer in [2, {MIN_TEXTS}], e.g. 5; got {n_folds!r}.")
    c_ok = not isinstance(clip, bool) and isinstance(clip, int | float) and 0 <= clip < 0.5
    if not c_ok:
        problems.append(f"clip must be a share in [0, 0.5), e.g. 0.025; got {clip!r}.")
    if problems:
        raise InvalidParameterError(" ".join(problems))


def dataset_inference_from_features(
    suspect: Any,
    validation: Any,
    *,
    feature_names: Sequence[str] | None = None,
    suspect_ids: Sequence[str] | None = None,
    validation_ids: Sequence[str] | None = None,
    alpha: float = DEFAULT_ALPHA,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    n_folds: int = DEFAULT_FOLDS,
    clip: float = CLIP_QUANTILE,
    seed: int = 0,
    shift: ShiftCheck | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    power_sizes: Sequence[int] | None = None,
    power_repeats: int = DEFAULT_REPEATS,
) -> DatasetInferenceResult:
    """Test whether suspect texts score higher than validation texts; decide at ``alpha``.

    Args:
        suspect, validation: ``(n, f)`` feature arrays or DataFrames (one row per text, one
            column per attack score; see :func:`~miakit.inference.features.build_features`).
        feature_names, suspect_ids, validation_ids: names and ids (optional).
        alpha: level of the verdict.
        n_permutations: label permutations of the test (at least ``1 / alpha - 1``).
        n_folds: folds of the cross-fit.
        clip: share of each tail clipped per feature, fitted on training rows.
        seed: seed of the folds, permutations, bootstrap and power-curve draws.
        shift: the model-free checks of the assumption (:class:`ShiftCheck`); when they say
            the sets differ, the verdict is ``"withheld"`` and nothing is tested. ``None``:
            unchecked, and the reason says so.
        n_resamples: bootstrap resamples of the effect-size interval (0: none).
        power_sizes: texts per set of the power curve (default: 10, 20, 50, ... up to the
            smaller set); ``power_repeats=0`` skips it.
        power_repeats: independent draws per size.

    Returns:
        A :class:`DatasetInferenceResult`.

    Raises:
        InvalidParameterError: options out of range, shapes that do not match.
        DataError: fewer than :data:`MIN_TEXTS` texts in a set, duplicate ids, no usable
            feature.
    """
    from threadpoolctl import threadpool_limits

    check_options(alpha=alpha, n_permutations=n_permutations, n_folds=n_folds, clip=clip)
    # small (f, f) solves with many right-hand sides: one BLAS thread is faster on the busy
    # 2-core machines this runs on (more threads only add hand-offs; measured 5x)
    with threadpool_limits(limits=1, user_api="blas"):
        return _dataset_inference(
            suspect,
            validation,
            feature_names=feature_names,
            suspect_ids=suspect_ids,
            validation_ids=validation_ids,
            alpha=alpha,
            n_permutations=n_permutations,
            n_folds=n_folds,
            clip=clip,
            seed=seed,
            shift=shift,
            n_resamples=n_resamples,
            power_sizes=power_sizes,
            power_repeats=power_repeats,
        )


def _dataset_inference(
    suspect: Any,
    validation: Any,
    *,
    feature_names: Sequence[str] | None,
    suspect_ids: Sequence[str] | None,
    validation_ids: Sequence[str] | None,
    alpha: float,
    n_permutations: int,
    n_folds: int,
    clip: float,
    seed: int,
    shift: ShiftCheck | None,
    n_resamples: int,
    power_sizes: Sequence[int] | None,
    power_repeats: int,
) -> DatasetInferenceResult:
    f = build_features(
        suspect,
        validation,
        feature_names=feature_names,
        suspect_ids=suspect_ids,
        validation_ids=validation_ids,
        min_texts=MIN_TEXTS,
    )
    n_s, n_v = f.suspect.shape[0], f.validation.shape[0]
    method = method_record(n_permutations=n_permutations, n_folds=n_folds, clip=clip, seed=seed)
    common: dict[str, Any] = {
        "alpha": alpha,
        "method": method,
        "n_suspect": n_s,
        "n_validation": n_v,
        "features": f.names,
        "dropped": f.dropped,
        "n_missing": dict(f.n_missing),
        "assumptions": shift,
    }
    withhold = shift.withhold_reason() if shift is not None else None
    if withhold is not None:
        return withheld_result(shift, **common)  # type: ignore[arg-type]
    x = np.vstack([f.suspect, f.validation])
    y = np.r_[np.ones(n_s, dtype=np.int64), np.zeros(n_v, dtype=np.int64)]
    ids = [f"s\x00{i}" for i in f.suspect_ids] + [f"v\x00{i}" for i in f.validation_ids]
    test = permutation_test(
        x, y, ids, n_permutations=n_permutations, n_folds=n_folds, seed=seed, clip=clip
    )
    low, high = bootstrap_auroc_ci(x, y, test.folds, n_resamples=n_resamples, seed=seed, clip=clip)
    effect = {
        "auroc": test.auroc,
        "auroc_ci": [low, high] if n_resamples else None,
        "confidence": 0.95,
        "ci_method": (
            f"stratified bootstrap of the texts, {n_resamples} resamples, the combiner "
            "refitted on each (percentile interval); descriptive: the test is the p-value"
        ),
        "null_auroc_mean": test.null_mean,
        "null_auroc_sd": test.null_sd,
    }
    if power_repeats and min(n_s, n_v) >= MIN_TEXTS:
        sizes = (
            list(power_sizes)
            if power_sizes is not None
            else default_sizes(min(n_s, n_v), MIN_TEXTS)
        )
        bad = [n for n in sizes if not MIN_TEXTS <= n <= min(n_s, n_v)]
        if bad:
            raise InvalidParameterError(
                f"power_sizes must lie in [{MIN_TEXTS}, {min(n_s, n_v)}] (the smaller set); "
                f"got {bad}."
            )
        power = power_curve(
            f.suspect,
            f.validation,
            f.suspect_ids,
            f.validation_ids,
            sizes=sizes,
            repeats=power_repeats,
            alpha=alpha,
            n_permutations=n_permutations,
            n_folds=n_folds,
            seed=seed,
            clip=clip,
        )
    else:
        power = []
    p = test.p_value
    return DatasetInferenceResult(
        verdict="member" if p <= alpha else "not_detected",
        p_value=p,
        reason=reason_text(p, alpha, test.auroc, n_permutations, shift),
        effect=effect,
        weights=_weights(x, y, f.names, clip),
        feature_auroc=_feature_auroc(x, y, f.names),
        power=power,
        scores=test.scores,
        folds=test.folds,
        **common,
    )


def _weights(x: np.ndarray, y: np.ndarray, names: Sequence[str], clip: float) -> dict[str, float]:
    pre = Preprocessor.fit(x, clip=clip)
    w, _ = ridge_fit(pre.transform(x), y)
    return {n: float(v) for n, v in zip(names, w, strict=True)}


def _feature_auroc(x: np.ndarray, y: np.ndarray, names: Sequence[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for j, name in enumerate(names):
        ok = np.isfinite(x[:, j])
        yj = y[ok]
        if yj.size and 0 < yj.sum() < yj.size:
            out[name] = float(auroc_columns(x[ok, j], yj[:, None])[0])
        else:
            out[name] = None
    return out
