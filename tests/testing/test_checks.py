"""Each check of :mod:`miakit.testing` passes a correct attack and fails a broken one loudly.

The attacks here are registered in a fresh :class:`Registry` (never the default one) and are
defined outside miakit, as a user's attack would be.
"""

from __future__ import annotations

import numpy as np
import pytest

from miakit.attacks import AttackOutput, PerSample, Registry, SignalView
from miakit.testing import (
    CHECKS,
    check_attack,
    check_every_declared_extra_matters,
    check_every_declared_signal_matters,
    check_higher_score_is_member,
    check_metadata_and_signature,
    check_module_named_after_attack,
    check_nan_policy_empty_and_one_token,
    check_permutation_equivariance,
    check_reads_only_declared_signals,
    check_shape_dtype_determinism_purity,
    check_unknown_hyperparameters_are_errors,
    check_zero_samples,
    checks_for,
)

REG = Registry()


def _mean_ll(signals: SignalView, context: str = "plain") -> AttackOutput:
    values = signals.tokens("token_log_prob", context=context)
    scores = np.array([v.mean() if len(v) else np.nan for v in values])
    reasons = ["no scored tokens" if len(v) == 0 else None for v in values]
    bad = ~np.isfinite(scores)
    return AttackOutput.from_scores(
        np.where(bad, np.nan, scores),
        [r or ("NaN log-prob" if b else None) for r, b in zip(reasons, bad)],
    )


@REG.register("good", needs=("token_log_prob",), paper="1709.01604")
def good(signals: SignalView, *, scale: float = 1.0) -> AttackOutput:
    """Mean token log-likelihood times ``scale`` (arXiv 1709.01604).

    Args:
        signals: the view.
        scale: a positive factor.
    """
    out = _mean_ll(signals)
    return AttackOutput.from_scores(out.scores * scale, out.reasons)


@REG.register("inverted", needs=("token_log_prob",), paper="1709.01604")
def inverted(signals: SignalView) -> AttackOutput:
    """The NLL: lower = member, the wrong sign (arXiv 1709.01604)."""
    out = _mean_ll(signals)
    return AttackOutput.from_scores(-out.scores, out.reasons)


@REG.register("noisy", needs=("token_log_prob",), paper="1709.01604")
def noisy(signals: SignalView) -> AttackOutput:
    """Mean log-likelihood plus unseeded noise (arXiv 1709.01604)."""
    out = _mean_ll(signals)
    noise = np.random.default_rng().normal(0.0, 1e-6, len(out.scores))
    return AttackOutput.from_scores(out.scores + noise, out.reasons)


@REG.register("positional", needs=("token_log_prob",), paper="1709.01604")
def positional(signals: SignalView) -> AttackOutput:
    """Depends on the sample's position (arXiv 1709.01604)."""
    out = _mean_ll(signals)
    return AttackOutput.from_scores(out.scores + 1e-3 * np.arange(len(out.scores)), out.reasons)


@REG.register("writer", needs=("token_log_prob",), paper="1709.01604")
def writer(signals: SignalView) -> AttackOutput:
    """Overwrites the signal table (arXiv 1709.01604)."""
    out = _mean_ll(signals)
    signals.table().stats["token_log_prob"][:] = 0.0
    return out


@REG.register("unused", needs=("token_log_prob", "mean_log_prob"), paper="1709.01604")
def unused(signals: SignalView) -> AttackOutput:
    """Declares mean_log_prob and never reads it (arXiv 1709.01604)."""
    return _mean_ll(signals)


@REG.register("undeclared", needs=("token_log_prob",), paper="1709.01604")
def undeclared(signals: SignalView) -> AttackOutput:
    """Reads mean_log_prob without declaring it (arXiv 1709.01604)."""
    signals.flat("mean_log_prob")
    return _mean_ll(signals)


@REG.register("no_reason", needs=("token_log_prob",), paper="1709.01604")
def no_reason(signals: SignalView) -> np.ndarray:
    """Returns bare scores: NaN without a reason (arXiv 1709.01604)."""
    return _mean_ll(signals).scores


@REG.register("wrong_shape", needs=("token_log_prob",), paper="1709.01604")
def wrong_shape(signals: SignalView) -> np.ndarray:
    """One score too many (arXiv 1709.01604)."""
    return np.zeros(signals.n_samples + 1)


@REG.register("undocumented", needs=("token_log_prob",), paper="1709.01604")
def undocumented(signals: SignalView, *, gamma: float = 1.0) -> AttackOutput:
    """Mean log-likelihood (arXiv 1709.01604); its hyperparameter goes unexplained."""
    return _mean_ll(signals)


@REG.register("bad_paper", needs=("token_log_prob",), paper="Yeom et al. 2018")
def bad_paper(signals: SignalView) -> AttackOutput:
    """Mean log-likelihood, citing no arXiv id."""
    return _mean_ll(signals)


@REG.register(
    "new_context", needs=("token_log_prob", "my_context:token_log_prob"), paper="2406.15968"
)
def new_context(signals: SignalView) -> AttackOutput:
    """Plain LL minus the LL under a context miakit does not know (cf. arXiv 2406.15968)."""
    a, b = _mean_ll(signals), _mean_ll(signals, "my_context")
    return AttackOutput.from_scores(
        a.scores - b.scores, [r or s for r, s in zip(a.reasons, b.reasons)]
    )


@REG.register("with_extra", needs=("token_log_prob",), extras=("my_offset",), paper="1709.01604")
def with_extra(signals: SignalView) -> AttackOutput:
    """Mean log-likelihood minus a per-sample offset extra (arXiv 1709.01604)."""
    out = _mean_ll(signals)
    offset: PerSample = signals.extras["my_offset"]
    scores = out.scores - offset.values
    reasons = [r or o for r, o in zip(out.reasons, offset.reasons)]
    return AttackOutput.from_scores(scores, reasons)


REG.freeze()
MY_OFFSET = {
    "my_offset": (
        lambda rng, n: PerSample.of(rng.normal(0.0, 1.0, n)),
        lambda rng, n: PerSample.of(rng.normal(0.0, 0.01, n)),
    )
}


def test_a_correct_outside_attack_passes_every_check() -> None:
    ran = check_attack("good", registry=REG)
    assert "check_module_named_after_attack" not in ran  # defined outside miakit
    assert len(ran) == len(CHECKS) - 1
    assert check_attack(good, registry=REG) == ran  # the decorated function works too
    assert check_attack(REG.get("good")) == ran


@pytest.mark.parametrize(
    ("name", "check", "message"),
    [
        ("inverted", check_higher_score_is_member, r"AUROC 0\.0\d+ .*sign inverted"),
        ("noisy", check_shape_dtype_determinism_purity, "not deterministic"),
        ("positional", check_permutation_equivariance, "permuted samples gave other scores"),
        ("writer", check_shape_dtype_determinism_purity, "wrote into the signal table"),
        ("unused", check_reads_only_declared_signals, "expected MissingSignalError"),
        ("unused", check_every_declared_signal_matters, "mean_log_prob is unused"),
        ("undeclared", check_reads_only_declared_signals, "crashed.*read but not declared"),
        ("no_reason", check_nan_policy_empty_and_one_token, "NaN without a specific reason"),
        ("wrong_shape", check_zero_samples, "crashed.*returned shape"),
        ("undocumented", check_metadata_and_signature, "'gamma' is not documented"),
        ("bad_paper", check_metadata_and_signature, "not an arXiv id"),
        ("good", check_module_named_after_attack, "expected miakit.attacks.good"),
    ],
)
def test_a_broken_attack_fails_its_check_clearly(name: str, check, message: str) -> None:
    spec = REG.get(name)
    with pytest.raises(AssertionError, match=message) as info:
        check(spec)
    assert str(info.value).startswith(f"attack {name!r}")


def test_check_attack_lists_every_failure() -> None:
    with pytest.raises(AssertionError, match="fails 2 of 11 conformance checks") as info:
        check_attack("unused", registry=REG)
    text = str(info.value)
    assert "check_reads_only_declared_signals" in text
    assert "check_every_declared_signal_matters" in text


def test_a_crash_is_chained_as_the_cause() -> None:
    with pytest.raises(AssertionError) as info:
        check_attack("wrong_shape", registry=REG)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_new_context_gets_its_own_synthetic_table() -> None:
    check_attack("new_context", registry=REG)


def test_an_unknown_extra_needs_a_builder() -> None:
    with pytest.raises(AssertionError, match="extra_builders="):
        check_unknown_hyperparameters_are_errors(REG.get("with_extra"))
    check_attack("with_extra", registry=REG, extra_builders=MY_OFFSET)
    check_every_declared_extra_matters(REG.get("with_extra"), extra_builders=MY_OFFSET)


def test_checks_for_leaves_the_module_rule_to_builtins() -> None:
    from miakit.attacks import default_registry

    assert checks_for(default_registry().get("loss")) == CHECKS
    assert check_module_named_after_attack not in checks_for(REG.get("good"))


def test_unknown_names_and_functions() -> None:
    from miakit.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="Did you mean 'good'"):
        check_attack("goood", registry=REG)
    with pytest.raises(LookupError, match="not a registered attack"):
        check_attack(_mean_ll, registry=REG)
    with pytest.raises(TypeError, match="expected an attack name"):
        check_attack(3, registry=REG)  # type: ignore[arg-type]
