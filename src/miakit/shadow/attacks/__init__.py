"""Classifier membership inference attacks on shadow-model signals (higher = member).

One module per attack family; each registers its variants (suffixed names) in the classifier
registry (:func:`default_registry`). :func:`miakit.shadow.evaluate.evaluate_attacks` runs them
with each model in turn as the target and the others as its shadows.
"""

from miakit.shadow.attacks._registry import (
    ClassifierAttack,
    ClassifierAttackRegistry,
    TargetView,
    default_registry,
    register_classifier_attack,
)

__all__ = [
    "ClassifierAttack",
    "ClassifierAttackRegistry",
    "TargetView",
    "default_registry",
    "register_classifier_attack",
]
