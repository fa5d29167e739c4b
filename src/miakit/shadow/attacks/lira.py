"""LiRA, the likelihood ratio attack (Carlini et al., arXiv 2112.03570).

For each example ``x`` and query ``q``, the shadow models' logit-scaled confidences ``φ`` are
modelled as Gaussians: ``N(μ_in, σ_in²)`` over the shadows trained on ``x`` (IN) and
``N(μ_out, σ_out²)`` over the others (OUT). ``μ`` is the median over the shadows (``center=``,
as the reference code ``plot.py``), ``σ`` the standard deviation (``ddof=0``).

- ``lira_online``: the log likelihood ratio, averaged over queries::

      score = mean_q [ log N(φ_q; μ_in,q, σ_in,q²) − log N(φ_q; μ_out,q, σ_out,q²) ]

  computed from log-densities (``logpdf``), never from CDFs.
- ``lira_offline``: no IN models; the paper's one-sided test (Sec. VI-C) ``Λ = 1 − Pr[Z > φ]``
  with ``Z ~ N(μ_out, σ_out²)``, i.e. the Gaussian CDF at φ, taken as
  ``mean_q log Φ((φ_q − μ_out,q) / σ_out,q)`` (``log Φ`` keeps resolution where Φ rounds to 1).
  It increases with φ: an example the target fits *better* than OUT models is flagged, one
  it fits worse is not (the reference code ranks by ``logpdf`` of the OUT Gaussian instead,
  which flags both tails).
- ``*_fixed_var``: one variance per side and query for all examples, the mean of the
  per-example variances (each example around its own centre). The paper recommends it with
  few shadow models; with many (≥ 64) per-example variances are stronger. (The reference
  code's fixed variance takes ``np.std`` over all examples' raw values, and uses the IN one
  for OUT too; neither is copied here.)
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from miakit.shadow.attacks._registry import TargetView, register_classifier_attack
from miakit.shadow.attacks._stats import norm_logpdf, require_count

PAPER = "2112.03570"


def _need(mask: np.ndarray, side: str, fixed: bool, name: str) -> None:
    # two per side even for the fixed variance: it pools each example's own spread, which
    # one shadow cannot show (with one, every variance would be 0)
    if fixed:
        require_count(mask, 2, side=side, attack=f"{name}_fixed_var", fix="")
    else:
        fix = f"; with few models {name}_fixed_var is the better choice"
        require_count(mask, 2, side=side, attack=name, fix=fix)


def online_scores(view: TargetView, *, fixed_variance: bool, center: str) -> np.ndarray:
    target = view.target_signal("phi")
    _need(view.shadow_in, "IN", fixed_variance, "lira_online")
    _need(view.shadow_out, "OUT", fixed_variance, "lira_online")
    log_in = norm_logpdf(target, *view.fit("phi", inn=True, how=center, fixed=fixed_variance))
    log_out = norm_logpdf(target, *view.fit("phi", inn=False, how=center, fixed=fixed_variance))
    return (log_in - log_out).mean(axis=1)


def offline_scores(view: TargetView, *, fixed_variance: bool, center: str) -> np.ndarray:
    target = view.target_signal("phi")
    _need(view.shadow_out, "OUT", fixed_variance, "lira_offline")
    mu, sigma = view.fit("phi", inn=False, how=center, fixed=fixed_variance)
    return log_ndtr((target - mu) / sigma).mean(axis=1)


@register_classifier_attack("lira_online", needs=("phi",), paper=PAPER)
def lira_online(view: TargetView, *, center: str = "median") -> np.ndarray:
    """LiRA online: IN vs OUT Gaussian log likelihood ratio of φ, per-example variances."""
    return online_scores(view, fixed_variance=False, center=center)


@register_classifier_attack("lira_online_fixed_var", needs=("phi",), paper=PAPER)
def lira_online_fixed_var(view: TargetView, *, center: str = "median") -> np.ndarray:
    """LiRA online with one global variance per side (for few shadow models)."""
    return online_scores(view, fixed_variance=True, center=center)


@register_classifier_attack("lira_offline", needs=("phi",), paper=PAPER)
def lira_offline(view: TargetView, *, center: str = "median") -> np.ndarray:
    """LiRA offline: one-sided test of φ against the OUT Gaussian, per-example variance."""
    return offline_scores(view, fixed_variance=False, center=center)


@register_classifier_attack("lira_offline_fixed_var", needs=("phi",), paper=PAPER)
def lira_offline_fixed_var(view: TargetView, *, center: str = "median") -> np.ndarray:
    """LiRA offline with one global OUT variance."""
    return offline_scores(view, fixed_variance=True, center=center)
