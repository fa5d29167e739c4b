"""Leave-one-out evaluation of classifier attacks over a shadow experiment.

Each model in turn is the target; the other ``n_models − 1`` are its shadows, with their
known membership. The target's membership column gives the labels (1 = member). As in the
LiRA paper's evaluation (arXiv 2112.03570, Sec. V: one model as target, the others as
shadows, repeated), the scores of all targets are pooled into one ROC and the metrics of
:func:`miakit.metrics.evaluate` (AUROC, TPR at low FPR, bootstrap intervals) are computed on
the pool; the mean and spread of the per-target AUROC are reported beside them.

The bootstrap resamples pooled (target, example) pairs as if independent; the same example
appears once per target, so the intervals are somewhat too narrow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from miakit.errors import InvalidParameterError
from miakit.metrics import auroc, evaluate
from miakit.shadow.attacks import ClassifierAttack, TargetView, default_registry
from miakit.shadow.signals import ShadowSignals


def equal_sides(
    shadow_in: np.ndarray, *, seed: int | Sequence[int], per_side: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(in_mask, out_mask)`` with the same number of IN and OUT shadows per example.

    On each row both sides keep a random subset (seeded) as large as the smaller side (and at
    most ``per_side``). With leave-one-out on an exactly balanced design, the target's side
    has one shadow fewer than the other, so the counts would reveal the target's membership,
    and the side estimated from fewer models is systematically the noisier one: with 8
    models, LiRA online on digits scored AUROC 0.31 before this equalisation.
    """
    inn = np.asarray(shadow_in, dtype=bool)
    out = ~inn
    keys = np.random.default_rng(seed).random(inn.shape)
    k = np.minimum(inn.sum(axis=1), out.sum(axis=1))
    if per_side is not None:
        k = np.minimum(k, per_side)

    def keep(side: np.ndarray) -> np.ndarray:
        masked_keys = np.where(side, keys, np.inf)
        kept = np.zeros_like(side)
        for kk in np.unique(k):  # rows with the same k share one partition
            rows = np.flatnonzero(k == kk)
            if kk == 0:
                continue
            sub = masked_keys[rows]
            threshold = np.partition(sub, kk - 1, axis=1)[:, kk - 1 : kk]
            kept[rows] = sub <= threshold
        return kept

    return keep(inn), keep(out)


def signal_arrays(signals: ShadowSignals, needs: Sequence[str]) -> dict[str, np.ndarray]:
    """``{signal: (n_samples, n_models, n_queries) float64}`` for the signals in ``needs``."""
    arrays = signals.float_signals()
    return {k: signals.correct.astype(np.float64) if k == "correct" else arrays[k] for k in needs}


def target_view(
    signals: ShadowSignals,
    target: int,
    needs: Sequence[str],
    *,
    seed: int = 0,
    per_side: int | None = None,
    arrays: Mapping[str, np.ndarray] | None = None,
    with_shadows: bool = True,
) -> TargetView:
    """The view of ``signals`` with model ``target`` as the target and the others as shadows,
    their IN and OUT counts equalised per example (:func:`equal_sides`, seeded with
    ``[seed, target]``; at most ``per_side`` each). ``arrays``: :func:`signal_arrays`, when
    the caller has them already. ``with_shadows=False``: a view with no shadow models."""
    keep = np.array([m for m in range(signals.n_models) if m != target])
    if arrays is None:
        arrays = signal_arrays(signals, needs)
    if not with_shadows:  # a threshold attack: no shadow is read, none is copied
        keep = keep[:0]
    inn, out = equal_sides(signals.membership[:, keep], seed=[seed, target], per_side=per_side)
    return TargetView(
        target={k: arrays[k][:, target] for k in needs},
        shadows={k: arrays[k][:, keep] for k in needs},
        shadow_in=inn,
        shadow_out=out,
        labels=signals.labels,
        queries=signals.queries,
    )


def leave_one_out(
    signals: ShadowSignals,
    attack: ClassifierAttack,
    *,
    params: Mapping[str, Any] | None = None,
    targets: Sequence[int] | None = None,
    per_side: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, labels)``, each ``(n_targets, n_samples)``: ``attack`` against each target.

    ``per_side``: at most this many IN and this many OUT shadows per example (``None``: all,
    equalised); ``seed`` picks them (:func:`equal_sides`).

    Raises:
        InvalidParameterError: a target index out of range.
    """
    chosen = list(range(signals.n_models)) if targets is None else [int(t) for t in targets]
    bad = [t for t in chosen if not 0 <= t < signals.n_models]
    if bad or not chosen:
        raise InvalidParameterError(
            f"targets must be model indices in 0..{signals.n_models - 1}, got {bad or chosen}"
        )
    if per_side is not None and per_side < 1:
        raise InvalidParameterError(f"shadows per side must be >= 1, got {per_side}")
    arrays = signal_arrays(signals, attack.needs)
    views = (
        target_view(
            signals,
            t,
            attack.needs,
            seed=seed,
            per_side=per_side,
            arrays=arrays,
            with_shadows=attack.uses_shadows,
        )
        for t in chosen
    )
    scores = np.stack([attack(view, **(params or {})) for view in views])
    labels = signals.membership[:, chosen].T.astype(np.int64)
    return scores, labels


def evaluate_attacks(
    signals: ShadowSignals,
    *,
    attacks: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    targets: Sequence[int] | None = None,
    fpr_targets: Sequence[float] = (0.001, 0.01, 0.05),
    n_bootstrap: int = 1000,
    seed: int = 0,
    per_side: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Metrics of each attack (all registered when ``attacks`` is ``None``), pooled over the
    targets, as JSON types. ``per_side`` caps the IN and the OUT shadows used per example
    (e.g. 1, 2, 4 for "RMIA with few reference models"; ``None``: all, equalised).

    Returns:
        ``{name: metrics}``: the keys of :func:`miakit.metrics.evaluate` plus ``"paper"``
        (arXiv id), ``"params"``, ``"n_targets"``, ``"shadows_per_side"`` (IN and OUT
        shadows per example, each) and ``"auroc_per_target"``
        (``{"mean", "std", "min", "max"}``).

    Raises:
        InvalidParameterError: an unknown attack or hyperparameter, too few shadows.
    """
    registry = default_registry()
    names = registry.names() if attacks is None else list(attacks)
    specs = [registry.get(n) for n in names]  # unknown names fail before any work
    params = dict(params or {})
    for extra in set(params) - set(names):
        raise InvalidParameterError(f"hyperparameters given for {extra!r}, which is not run")
    results: dict[str, dict[str, Any]] = {}
    for spec in specs:
        p = spec.check_params(params.get(spec.name, {}))
        scores, labels = leave_one_out(
            signals, spec, params=p, targets=targets, per_side=per_side, seed=seed
        )
        per_target = np.array([auroc(s, y) for s, y in zip(scores, labels)])
        metrics = evaluate(
            scores.ravel(),
            labels.ravel(),
            fpr_targets=fpr_targets,
            n_resamples=n_bootstrap,
            seed=seed,
        )
        metrics.update(
            {
                "paper": spec.paper,
                "params": p,
                "n_targets": int(scores.shape[0]),
                "shadows_per_side": _per_side(signals, per_side),
                "auroc_per_target": {
                    "mean": float(per_target.mean()),
                    "std": float(per_target.std()),
                    "min": float(per_target.min()),
                    "max": float(per_target.max()),
                },
            }
        )
        results[spec.name] = metrics
    return results


def _per_side(signals: ShadowSignals, per_side: int | None) -> int:
    half = signals.n_models // 2 - 1  # leave-one-out, equalised
    return half if per_side is None else min(half, per_side)


__all__ = ["equal_sides", "evaluate_attacks", "leave_one_out", "signal_arrays", "target_view"]
