"""Label-only: augmentation agreement (Choquette-Choo et al., arXiv 2007.14321, Sec. 4).

score(x) = the fraction of queries (the example and its augmentations) that the target
classifies correctly; it needs only the predicted labels. A member's augmentations stay
correct more often. With the single ``identity`` query it is the "gap" attack (correct =>
member).
"""

from __future__ import annotations

import numpy as np

from miakit.shadow.attacks._registry import TargetView, register_classifier_attack


@register_classifier_attack(
    "label_only", needs=("correct",), paper="2007.14321", uses_shadows=False
)
def label_only(view: TargetView) -> np.ndarray:
    """Fraction of the queries the target classifies correctly."""
    target, _ = view.signal("correct")
    return target.mean(axis=1)
