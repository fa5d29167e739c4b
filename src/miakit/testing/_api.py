"""One call to check an attack, and a pytest decorator for a suite of attacks."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from miakit.attacks import AttackSpec, Registry, default_registry
from miakit.testing._checks import checks_for
from miakit.testing._synth import Builders

if TYPE_CHECKING:
    import pytest

#: An attack to check: its registered name, its :class:`AttackSpec`, or the decorated function.
AttackLike = str | AttackSpec | Callable[..., Any]


def resolve_attack(attack: AttackLike, *, registry: Registry | None = None) -> AttackSpec:
    """The :class:`AttackSpec` of ``attack``.

    Args:
        attack: a spec (returned as is), a registered name, or a function decorated with
            ``register_attack`` (or ``registry.register``).
        registry: where names and functions are looked up; default: the default registry
            (:func:`~miakit.attacks.default_registry`, which imports miakit's attacks and
            freezes it: import your own attack modules *before* the first lookup).

    Raises:
        InvalidParameterError: an unknown name (with a "Did you mean" suggestion).
        LookupError: a function that is not registered in ``registry``.
        TypeError: anything else.
    """
    if isinstance(attack, AttackSpec):
        return attack
    reg = registry if registry is not None else default_registry()
    if isinstance(attack, str):
        return reg.get(attack)
    if callable(attack):
        for spec in reg:
            if spec.func is attack:
                return spec
        raise LookupError(
            f"{attack!r} is not a registered attack; decorate it with "
            "@register_attack(...) (or @registry.register(...) and pass registry=), and import "
            "its module before the registry is first used"
        )
    raise TypeError(f"expected an attack name, AttackSpec or function, got {type(attack).__name__}")


def check_attack(
    attack: AttackLike,
    *,
    registry: Registry | None = None,
    extra_builders: Builders | None = None,
) -> tuple[str, ...]:
    """Run every conformance check on one attack; raise once, listing every failure.

    The checks (:data:`~miakit.testing.CHECKS`) cover output shape and dtype, determinism and
    purity, zero samples, permutation equivariance, the NaN policy for empty and one-token
    samples and for a sample with no tokens in one declared table, reading exactly the
    declared signals and extras (and using each), higher = member on a leaky synthetic fixture,
    metadata (paper id, documented keyword-only hyperparameters) and unknown hyperparameters.
    The module-name rule (``miakit.attacks.<name>``) applies only to attacks defined in miakit.

    Args:
        attack: a registered name, an :class:`AttackSpec` or a registered function.
        registry: where ``attack`` is looked up when it is a name or a function (default:
            the default registry).
        extra_builders: synthetic values for extras that miakit does not know,
            ``{name: (random_builder, leaky_builder)}``, each ``(rng, n_samples) -> value``
            (see :data:`~miakit.testing.EXTRA_BUILDERS`).

    Returns:
        The names of the checks that ran (all passed).

    Raises:
        AssertionError: one or more checks failed; the message names each failed check and
            what it found. An attack that raises inside a check fails that check; the first
            such exception is chained as the cause.
    """
    spec = resolve_attack(attack, registry=registry)
    checks = checks_for(spec)
    failures: list[str] = []
    cause: BaseException | None = None
    for check in checks:
        try:
            check(spec, extra_builders=extra_builders)
        except AssertionError as exc:  # a crash of the attack arrives as one, chained
            failures.append(f"{check.__name__}: {exc}")
            cause = cause or exc.__cause__
    if failures:
        raise AssertionError(
            f"attack {spec.name!r} fails {len(failures)} of {len(checks)} conformance checks:\n- "
            + "\n- ".join(failures)
        ) from cause
    return tuple(c.__name__ for c in checks)


def parametrize_with_checks(
    attacks: Iterable[AttackLike],
    *,
    registry: Registry | None = None,
    extra_builders: Builders | None = None,
) -> pytest.MarkDecorator:
    """A ``pytest.mark.parametrize`` over every (attack, check) pair, one test case each.

    Use it as scikit-learn's ``parametrize_with_checks``::

        from miakit.testing import parametrize_with_checks

        @parametrize_with_checks(["my_attack"])
        def test_my_attack_conforms(attack, check):
            check(attack)

    Test ids are ``<attack>-<check>``, e.g. ``my_attack-check_higher_score_is_member``.
    pytest is imported here, not when :mod:`miakit.testing` is imported.

    Args:
        attacks: names, specs or registered functions (see :func:`check_attack`).
        registry: where names and functions are looked up (default: the default registry).
        extra_builders: as for :func:`check_attack`.

    Returns:
        A pytest mark decorator giving the test the arguments ``attack`` (an
        :class:`AttackSpec`) and ``check`` (call it as ``check(attack)``).
    """
    import pytest

    params = []
    for item in attacks:
        spec = resolve_attack(item, registry=registry)
        for check in checks_for(spec):
            bound = functools.partial(check, extra_builders=extra_builders)
            params.append(pytest.param(spec, bound, id=f"{spec.name}-{check.__name__}"))
    return pytest.mark.parametrize(("attack", "check"), params)
