"""Offset, or difficulty calibration (Watson et al., arXiv 2111.08440).

score(x) = mean over queries of [φ_target(x) − mean of φ over the OUT shadows of x]: how much
better the target does on x than models that never saw it. Subtracting the OUT mean removes
the example's own difficulty (an easy example scores high on every model).
"""

from __future__ import annotations

import numpy as np

from miakit.shadow.attacks._registry import TargetView, register_classifier_attack
from miakit.shadow.attacks._stats import require_count


@register_classifier_attack("offset", needs=("phi",), paper="2111.08440")
def offset(view: TargetView) -> np.ndarray:
    """Target φ minus the mean φ of the OUT shadow models, averaged over queries."""
    target = view.target_signal("phi")
    require_count(view.shadow_out, 1, side="OUT", attack="offset", fix="")
    mean, _ = view.fit("phi", inn=False, how="mean", fixed=False)
    return (target - mean).mean(axis=1)
