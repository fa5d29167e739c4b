"""Leave-one-out evaluation of classifier attacks over a shadow experiment.

Each model in turn is the target; the other ``n_models − 1`` are its shadows, with their
known membership. The target's membership column gives the labels (1 = member). As in the
LiRA paper's evaluation (arXiv 2112.03570, Sec. V: one model as target, the others as
shadows, repeated), the scores of all targets are pooled into one ROC and the metrics of
:func:`miakit.metrics.evaluate` (AUROC, TPR at low FPR, bootstrap intervals) are computed on
the pool; the mean and spread of the per-target AUROC are reported beside them.

The intervals treat both the targets and the examples as random
(:func:`miakit.metrics.crossed.evaluate_crossed`, ``bootstrap_unit="two-way"``): every
example appears once per target and every target once per example, so the pooled pairs are
not independent. ``"example"`` and ``"target"`` give one-way bootstraps of that unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from miakit.errors import InvalidParameterError
from miakit.metrics import auroc_columns
from miakit.metrics.crossed import evaluate_crossed
from miakit.shadow.attacks import ClassifierAttack, TargetView, default_registry
from miakit.shadow.attacks._registry import LazySignals
from miakit.shadow.attacks._sides import LeaveOneOutSides, ViewSides
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
        extra = side.sum(axis=1) - k  # (n,) how many this side has beyond k
        if np.all((extra == 0) | (extra == 1)):  # leave-one-out: drop its largest key
            kept = side.copy()
            rows = np.flatnonzero(extra == 1)
            if rows.size:
                top = np.argmax(np.where(side[rows], keys[rows], -np.inf), axis=1)
                kept[rows, top] = False
            return kept
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
    sides: LeaveOneOutSides | None = None,
) -> TargetView:
    """The view of ``signals`` with model ``target`` as the target and the others as shadows,
    their IN and OUT counts equalised per example (:func:`equal_sides`, seeded with
    ``[seed, target]``; at most ``per_side`` each). ``arrays``: :func:`signal_arrays`, when
    the caller has them already. ``with_shadows=False``: a view with no shadow models.
    ``sides``: the sorted full sides of a balanced design (:func:`loo_sides`), which the
    view's :meth:`~miakit.shadow.attacks.TargetView.fit` then reads."""
    keep = np.array([m for m in range(signals.n_models) if m != target])
    if arrays is None:
        arrays = signal_arrays(signals, needs)
    if not with_shadows:  # a threshold attack: no shadow is read, none is copied
        keep = keep[:0]
    inn, out = equal_sides(signals.membership[:, keep], seed=[seed, target], per_side=per_side)
    return TargetView(
        target={k: arrays[k][:, target] for k in needs},
        shadows=LazySignals(lambda k: arrays[k][:, keep], needs),
        shadow_in=inn,
        shadow_out=out,
        labels=signals.labels,
        queries=signals.queries,
        sides=None if sides is None or not len(keep) else _view_sides(sides, keep, inn, out),
    )


def loo_sides(signals: ShadowSignals, arrays: Mapping[str, np.ndarray]) -> LeaveOneOutSides | None:
    """The shared sorted sides of a balanced design (every example IN for exactly half the
    models), or ``None`` when the design is not balanced."""
    half, rows = signals.n_models // 2, signals.membership.sum(axis=1)
    if signals.n_models % 2 or half < 2 or np.any(rows != half):
        return None
    return LeaveOneOutSides(arrays=dict(arrays), membership=signals.membership)


def _view_sides(
    sides: LeaveOneOutSides, keep: np.ndarray, inn: np.ndarray, out: np.ndarray
) -> ViewSides | None:
    """The model each full side lacks in this view, or ``None`` if a side lacks more."""
    removed = []
    for full, view in ((sides.membership, inn), (~sides.membership, out)):
        in_view = np.zeros_like(full)
        in_view[:, keep] = view
        gone = full & ~in_view
        if not np.all(gone.sum(axis=1) == 1) or np.any(in_view & ~full):
            return None
        removed.append(np.argmax(gone, axis=1))
    return ViewSides(sides, removed_in=removed[0], removed_out=removed[1])


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
    # sorted once for all targets (equalised, uncapped views of a balanced design)
    sides = loo_sides(signals, arrays) if per_side is None and attack.uses_shadows else None
    views = (
        target_view(
            signals,
            t,
            attack.needs,
            seed=seed,
            per_side=per_side,
            arrays=arrays,
            with_shadows=attack.uses_shadows,
            sides=sides,
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
    bootstrap_unit: str = "two-way",
) -> dict[str, dict[str, Any]]:
    """Metrics of each attack (all registered when ``attacks`` is ``None``), pooled over the
    targets, as JSON types. ``per_side`` caps the IN and the OUT shadows used per example
    (e.g. 1, 2, 4 for "RMIA with few reference models"; ``None``: all, equalised).
    ``n_bootstrap`` resamples per resampled unit and ``bootstrap_unit`` give the intervals
    (:func:`miakit.metrics.crossed.evaluate_crossed`).

    Returns:
        ``{name: metrics}``: the keys of :func:`miakit.metrics.evaluate` plus ``"paper"``
        (arXiv id), ``"params"``, ``"n_targets"``, ``"shadows_per_side"`` (IN and OUT
        shadows per example, each), ``"bootstrap_unit"`` and ``"auroc_per_target"``
        (``{"mean", "std", "min", "max"}``).

    Raises:
        InvalidParameterError: an unknown attack or hyperparameter, too few shadows.
    """
    names = default_registry().names() if attacks is None else list(attacks)
    runs = [(name, name, per_side) for name in names]
    results, _, _ = score_attacks(
        signals,
        runs,
        params=params,
        targets=targets,
        fpr_targets=fpr_targets,
        n_bootstrap=n_bootstrap,
        seed=seed,
        bootstrap_unit=bootstrap_unit,
    )
    return results


def score_attacks(
    signals: ShadowSignals,
    runs: Sequence[tuple[str, str, int | None]],
    *,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    targets: Sequence[int] | None = None,
    fpr_targets: Sequence[float] = (0.001, 0.01, 0.05),
    n_bootstrap: int = 1000,
    seed: int = 0,
    bootstrap_unit: str = "two-way",
    skip_unrunnable: bool = False,
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray], dict[str, str]]:
    """Like :func:`evaluate_attacks` for ``runs`` of ``(result name, attack, per_side)``
    (e.g. ``("rmia_offline_ref1", "rmia_offline", 1)``), keeping the scores.

    Returns:
        ``(metrics by result name, scores by result name (n_targets, n_samples),
        skipped: result name -> why)``. An attack that cannot run on these signals (too few
        shadows) raises, or with ``skip_unrunnable`` is listed in ``skipped``.
    """
    registry = default_registry()
    specs = {attack: registry.get(attack) for _, attack, _ in runs}  # unknown names first
    params = dict(params or {})
    for extra in set(params) - set(specs):
        raise InvalidParameterError(f"hyperparameters given for {extra!r}, which is not run")
    checked = {a: spec.check_params(params.get(a, {})) for a, spec in specs.items()}
    results: dict[str, dict[str, Any]] = {}
    kept: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for name, attack_name, per_side in runs:
        spec, p = specs[attack_name], checked[attack_name]
        try:
            scores, labels = leave_one_out(
                signals, spec, params=p, targets=targets, per_side=per_side, seed=seed
            )
        except InvalidParameterError as exc:
            if not skip_unrunnable or "shadow model(s) per example" not in str(exc):
                raise
            skipped[name] = str(exc)
            continue
        per_target = _per_target_auroc(scores, labels)
        metrics = evaluate_crossed(
            scores,
            labels,
            fpr_targets=fpr_targets,
            n_resamples=n_bootstrap,
            seed=seed,
            unit=bootstrap_unit,
        )
        metrics.update(
            {
                "paper": spec.paper,
                "params": p,
                "n_targets": int(scores.shape[0]),
                "shadows_per_side": _per_side(signals, per_side) if spec.uses_shadows else 0,
                "auroc_per_target": {
                    "mean": float(np.nanmean(per_target)),
                    "std": float(np.nanstd(per_target)),
                    "min": float(np.nanmin(per_target)),
                    "max": float(np.nanmax(per_target)),
                },
            }
        )
        results[name] = metrics
        kept[name] = scores
    return results, kept, skipped


def _per_target_auroc(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(n_targets,)`` AUROC of each target's row (NaN scores left out; NaN where a row
    lacks a class)."""
    out = np.full(scores.shape[0], np.nan)
    if not np.isnan(scores).any():
        ok = (labels.min(axis=1) == 0) & (labels.max(axis=1) == 1)
        out[ok] = auroc_columns(scores[ok].T, labels[ok].T)
        return out
    for t, (s, y) in enumerate(zip(scores, labels)):
        keep = ~np.isnan(s)
        if len(set(y[keep].tolist())) == 2:
            out[t] = auroc_columns(s[keep][:, None], y[keep][:, None])[0]
    return out


def _per_side(signals: ShadowSignals, per_side: int | None) -> int:
    half = signals.n_models // 2 - 1  # leave-one-out, equalised
    return half if per_side is None else min(half, per_side)


__all__ = [
    "equal_sides",
    "evaluate_attacks",
    "leave_one_out",
    "loo_sides",
    "score_attacks",
    "signal_arrays",
    "target_view",
]
