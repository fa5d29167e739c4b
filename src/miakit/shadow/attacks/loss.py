"""LOSS (Yeom et al., arXiv 1709.01604): a member has a low loss; score ``-loss``."""

from __future__ import annotations

import numpy as np

from miakit.shadow.attacks._registry import TargetView, register_classifier_attack


@register_classifier_attack("loss", needs=("loss",), paper="1709.01604", uses_shadows=False)
def loss(view: TargetView) -> np.ndarray:
    """Negative cross-entropy of the target on the unaltered example (query 0)."""
    target, _ = view.signal("loss")
    return -target[:, 0]
