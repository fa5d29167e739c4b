"""One conformance suite for every registered attack, from :mod:`miakit.testing`.

A new attack module is picked up by :func:`default_registry` and must pass every check of
:data:`miakit.testing.CHECKS` (one test case per attack and check): shape and dtype,
determinism and purity, permutation equivariance, the NaN policy for empty and one-token
samples, reading exactly the signals it declared, higher = member on a leaky synthetic fixture,
keyword-only hyperparameters with defaults and typo suggestions, and module name = attack name.
An attack declaring an extra that :data:`miakit.testing.EXTRA_BUILDERS` cannot build fails
loudly until a builder is added there.
"""

from __future__ import annotations

import pytest

from miakit.attacks import AttackSpec, default_registry
from miakit.errors import MissingSignalError
from miakit.signals.spec import SignalRef
from miakit.testing import EXTRA_BUILDERS, parametrize_with_checks, random_synth

NAMES = default_registry().names()


def test_registry_discovers_the_attacks() -> None:
    expected = {
        "loss",
        "zlib",
        "lowercase",
        "min_k",
        "win_k",
        "min_k_plus_plus",
        "reference",
        "reference_ratio",
        "entropy",
        "rank",
        "log_rank",
        "binoculars",
        "fast_detectgpt",
        "fast_detectgpt_ref",
    }
    assert expected <= set(NAMES)


@parametrize_with_checks(NAMES)
def test_attack_conformance(attack: AttackSpec, check) -> None:
    check(attack)


def test_undeclared_extras_cannot_be_read() -> None:
    view = random_synth(9, n=5).view()
    assert set(view.extras) == set(EXTRA_BUILDERS)  # an unrestricted view offers all
    narrow = view.restrict([SignalRef.parse("token_log_prob")])
    assert not list(narrow.extras)
    for name in EXTRA_BUILDERS:
        with pytest.raises(MissingSignalError, match="not declared"):
            narrow.extras[name]
    with pytest.raises(MissingSignalError, match="not provided"):
        view.extras["no_such_extra"]
