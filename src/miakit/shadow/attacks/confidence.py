"""Confidence threshold (Salem et al., ML-Leaks, arXiv 1806.01246): the top softmax
probability, label-free; a member is classified more confidently."""

from __future__ import annotations

import numpy as np

from miakit.shadow.attacks._registry import TargetView, register_classifier_attack


@register_classifier_attack(
    "confidence", needs=("log_max_prob",), paper="1806.01246", uses_shadows=False
)
def confidence(view: TargetView) -> np.ndarray:
    """Log of the target's highest softmax probability on the unaltered example."""
    target, _ = view.signal("log_max_prob")
    return target[:, 0]
