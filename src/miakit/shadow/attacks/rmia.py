"""RMIA, the relative membership inference attack (Zarifzadeh et al., arXiv 2312.03262).

With ``p(x|θ)`` the probability model θ gives the true label of ``x`` (``exp(−loss)``):

- likelihood ratio of x against the population: ``LR(x) = p(x|θ_target) / p(x)``, where
  ``p(x)`` averages ``p(x|θ')`` over reference (shadow) models trained on random halves, i.e.
  ``½ (mean over IN shadows + mean over OUT shadows)`` (the balanced mean, so that the
  number of IN shadows, which leave-one-out ties to the target's membership, plays no part);
- pairwise test against population samples ``z``: ``LR(x, z) = LR(x) / LR(z)``, with
  ``LR(z)`` computed the same way for ``z`` (the z-terms: z's own target probability and
  its own reference average);
- ``score(x) = Pr_z[LR(x, z) ≥ γ]``, the fraction of the population that x dominates by a
  factor ``γ``.

Population: the other examples of the pool (every z ≠ x, or ``n_population`` of them drawn
with ``population_seed``). The attacker knows the pool but not the target's half of it.

Offline (``rmia_offline``): only OUT reference models. The paper approximates
``p_IN(x) ≈ a·p_OUT(x) + (1 − a)``, so ``p(x) = ½ (p_IN + p_OUT) ≈ ½ ((1 + a)·p_OUT(x) +
(1 − a))``; ``a`` is fixed (default 0.3, the paper's CIFAR-10 setting, not tuned on the
evaluation data). ``a = 1`` means ``p_IN = p_OUT``.

γ defaults to 1, as in Privacy Meter's library (``ratios > 1.0``); the paper's research
configuration uses γ = 2 with temperature-scaled signals. With the plain probability of the
true label, which saturates near 1 on training examples, γ = 2 leaves most pairs below the
threshold and the score loses resolution.

Queries: the test runs per query and the fractions are averaged over queries (the paper takes
a majority vote over augmentations per pair; the average avoids the quadratic pair table).
Everything is computed with log-probabilities, so vanishing probabilities stay exact.
"""

from __future__ import annotations

import numpy as np

from miakit.errors import InvalidParameterError
from miakit.shadow.attacks._registry import TargetView, register_classifier_attack
from miakit.shadow.attacks._stats import require_count

PAPER = "2312.03262"


def log_population_prob(view: TargetView, *, offline: bool, a: float) -> np.ndarray:
    """``(n, q)``: log p(x), the reference models' average (see the module docstring)."""
    out = view.shadow_out
    require_count(out, 1, side="OUT", attack="rmia", fix="")
    log_out = view.log_mean_prob("loss", inn=False)
    if offline:
        if a == 1.0:
            return log_out
        # log(½((1+a)·p_out + (1−a)))
        return np.log(0.5) + np.logaddexp(np.log1p(a) + log_out, np.log1p(-a))
    require_count(view.shadow_in, 1, side="IN", attack="rmia", fix=", or use rmia_offline")
    return np.log(0.5) + np.logaddexp(view.log_mean_prob("loss", inn=True), log_out)


def rmia_scores(
    view: TargetView,
    *,
    gamma: float,
    offline: bool,
    a: float,
    n_population: int,
    population_seed: int,
) -> np.ndarray:
    if not gamma > 0:
        raise InvalidParameterError(f"rmia: gamma must be > 0, got {gamma}")
    if not 0.0 <= a <= 1.0:
        raise InvalidParameterError(f"rmia: a must be in [0, 1], got {a}")
    target = view.target_signal("loss")
    log_lr = -target - log_population_prob(view, offline=offline, a=a)  # (n, q)
    n = view.n_samples
    if n_population < 0 or n_population >= n:
        raise InvalidParameterError(
            f"rmia: n_population must be in 0..{n - 1} (0 = every other example), "
            f"got {n_population}"
        )
    if n_population:
        z = np.random.default_rng(population_seed).choice(n, size=n_population, replace=False)
    else:
        z = np.arange(n)
    in_z = np.zeros(n, dtype=bool)
    in_z[z] = True
    log_gamma = np.log(gamma)
    scores = np.zeros(n)
    for q in range(log_lr.shape[1]):
        ranked = np.sort(log_lr[z, q])
        # LR(x)/LR(z) >= γ  <=>  log LR(z) <= log LR(x) − log γ
        count = np.searchsorted(ranked, log_lr[:, q] - log_gamma, side="right").astype(float)
        count -= in_z & (log_gamma <= 0.0)  # x never counts as its own population sample
        scores += count / (len(z) - in_z)
    return scores / log_lr.shape[1]


@register_classifier_attack("rmia", needs=("loss",), paper=PAPER)
def rmia(
    view: TargetView, *, gamma: float = 1.0, n_population: int = 0, population_seed: int = 0
) -> np.ndarray:
    """RMIA online: Pr_z[LR(x)/LR(z) >= gamma], p(x) from IN and OUT reference models."""
    return rmia_scores(
        view,
        gamma=gamma,
        offline=False,
        a=1.0,
        n_population=n_population,
        population_seed=population_seed,
    )


@register_classifier_attack("rmia_offline", needs=("loss",), paper=PAPER)
def rmia_offline(
    view: TargetView,
    *,
    gamma: float = 1.0,
    a: float = 0.3,
    n_population: int = 0,
    population_seed: int = 0,
) -> np.ndarray:
    """RMIA offline: OUT reference models only, p(x) = ((1+a) p_OUT(x) + (1-a)) / 2."""
    return rmia_scores(
        view,
        gamma=gamma,
        offline=True,
        a=a,
        n_population=n_population,
        population_seed=population_seed,
    )
