"""Label-only attacks (Choquette-Choo et al., arXiv 2007.14321): augmentation agreement and
random-noise robustness.

score(x) = the fraction of queries that the target classifies correctly; it needs only the
predicted labels. ``queries=``:

- ``"all"`` (default): every query;
- ``"augmentations"``: the example and its augmentations (flips, shifts; Sec. 4): a
  member's augmentations stay correct more often. With the single ``identity`` query it is
  the "gap" attack (correct => member);
- ``"noise"``: only the noise queries (``noise:SIGMAxN``): the fraction of noisy copies
  still classified correctly, the paper's estimate of the distance to the decision boundary
  by robustness to random noise (members lie farther from it). For an input at distance
  ``d`` from a linear boundary the expected fraction is ``Φ(d / σ)``. ``SIGMA`` is chosen
  on shadow models, never on the target.
"""

from __future__ import annotations

import numpy as np

from miakit.errors import InvalidParameterError
from miakit.shadow.attacks._registry import TargetView, register_classifier_attack


@register_classifier_attack(
    "label_only", needs=("correct",), paper="2007.14321", uses_shadows=False
)
def label_only(view: TargetView, *, queries: str = "all") -> np.ndarray:
    """Fraction of the queries the target classifies correctly."""
    target, _ = view.signal("correct")
    noise = np.array([q.startswith("noise:") for q in view.queries])
    if queries == "all":
        use = np.ones_like(noise)
    elif queries in ("augmentations", "noise"):
        use = noise if queries == "noise" else ~noise
    else:
        raise InvalidParameterError(
            f"label_only: queries must be 'all', 'augmentations' or 'noise', got {queries!r}"
        )
    if not use.any():
        raise InvalidParameterError(
            "label_only: queries='noise' needs noise queries; train with e.g. "
            "--queries identity noise:0.1x32"
        )
    return target[:, use].mean(axis=1)
