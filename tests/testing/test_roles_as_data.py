"""The conformance checks take any model role a run can give a model (roles are data:
``models:``, ``--model-role``), not a fixed list: an attack outside miakit that needs
``reference_3`` or a paired ``shadow_0@target`` passes; a malformed or renamed role fails."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.attacks import AttackOutput, Registry, SignalView
from miakit.signals.spec import role_problems
from miakit.testing import check_attack, check_metadata_and_signature

REG = Registry()


def _mean(rows: list[np.ndarray]) -> np.ndarray:
    return np.array([r.mean() if len(r) else np.nan for r in rows])


def _scores(scores: np.ndarray) -> AttackOutput:
    return AttackOutput.from_scores(
        scores, [None if np.isfinite(s) else "no scored token" for s in scores]
    )


@REG.register(
    "third_reference",
    needs=("token_log_prob", "reference_3/plain:token_log_prob"),
    paper="2012.07805",
)
def third_reference(signals: SignalView) -> AttackOutput:
    """Target minus the third reference model's mean log-likelihood (arXiv 2012.07805)."""
    target = signals.tokens("token_log_prob")
    ref = signals.tokens("token_log_prob", model="reference_3")
    return _scores(_mean(target) - _mean(ref))


@REG.register(
    "shadow_pair", needs=("shadow_0@target/plain:cross_mean_log_prob",), paper="2310.05130"
)
def shadow_pair(signals: SignalView) -> AttackOutput:
    """Mean of a paired statistic with a shadow model's weights (arXiv 2310.05130)."""
    return _scores(_mean(signals.tokens("cross_mean_log_prob", model="shadow_0@target")))


@REG.register("old_role", needs=("target@sampling/plain:cross_mean_log_prob",), paper="2310.05130")
def old_role(signals: SignalView) -> AttackOutput:
    """Reads a role of the old name (arXiv 2310.05130)."""
    raise NotImplementedError


@pytest.mark.parametrize("name", ["third_reference", "shadow_pair"])
def test_an_attack_on_a_role_of_its_own_passes_the_metadata_check(name) -> None:
    check_metadata_and_signature(REG.get(name))  # before issue 11: "outside MODEL_ROLES"


def test_an_attack_on_a_numbered_reference_passes_every_check() -> None:
    assert "check_metadata_and_signature" in check_attack("third_reference", registry=REG)


def test_a_renamed_role_fails_and_names_the_new_one() -> None:
    with pytest.raises(AssertionError, match="'sampling' was renamed 'sampling_model'"):
        check_metadata_and_signature(REG.get("old_role"))


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ("target", None),
        ("reference_3", None),
        ("shadow_12@target", None),
        ("Reference", "is not a role name"),
        ("shadow-1", "is not a role name"),
        ("a@b@c", "invalid paired model role"),
        ("sampling", "renamed 'sampling_model'"),
    ],
)
def test_role_problems(model, problem) -> None:
    got = role_problems(model)
    if problem is None:
        assert got == []
    else:
        assert len(got) == 1 and problem in got[0]


def test_the_removed_constant_still_imports_with_a_warning() -> None:
    import miakit.signals.spec as spec

    with pytest.warns(DeprecationWarning, match="MODEL_ROLES"):
        roles = spec.MODEL_ROLES
    assert roles == ("target", "reference", "performer", "observer", "sampling_model")
