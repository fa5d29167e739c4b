"""Membership inference attacks: pure functions of cached signals, higher = more likely member.

Each attack lives in its own module named after it and registers itself with
:func:`register_attack`. Use :func:`default_registry` to get all of them.
"""

from miakit.attacks._base import AttackOutput, PerSample, SignalView
from miakit.attacks._registry import AttackSpec, Registry, default_registry, register_attack

__all__ = [
    "AttackOutput",
    "AttackSpec",
    "PerSample",
    "Registry",
    "SignalView",
    "default_registry",
    "register_attack",
]
