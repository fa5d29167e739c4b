"""Conformance checks for attacks, shipped so that attacks written outside miakit can use them.

Every miakit attack passes these checks, and so must any attack registered from outside the
package. One call checks one attack; a pytest decorator makes one test case per check::

    from miakit.testing import check_attack, parametrize_with_checks

    check_attack("my_attack")  # raises AssertionError listing every failed check

    @parametrize_with_checks(["my_attack"])
    def test_my_attack_conforms(attack, check):
        check(attack)

The checks (:data:`CHECKS`, each ``check(spec, *, extra_builders=None)`` raising
AssertionError with a message naming the attack and what failed):

- ``check_metadata_and_signature``: an arXiv id in ``paper=`` cited in the docstring, a summary
  line, known model roles, keyword-only documented hyperparameters with defaults;
- ``check_module_named_after_attack`` (attacks defined in miakit only): module name = attack name;
- ``check_shape_dtype_determinism_purity``: ``(n_samples,)`` float64, a reason for each NaN,
  bit-identical reruns, no write into the signal tables;
- ``check_zero_samples`` and ``check_permutation_equivariance``;
- ``check_nan_policy_empty_and_one_token`` and ``check_nan_when_any_declared_table_is_empty``:
  the declared NaN policy (NaN with a specific reason, other samples unchanged);
- ``check_reads_only_declared_signals``, ``check_every_declared_signal_matters`` and
  ``check_every_declared_extra_matters``: exactly what ``needs=`` and ``extras=`` declare;
- ``check_higher_score_is_member``: AUROC > 0.9 on :func:`leaky_synth`, where members' target
  log-likelihoods are higher;
- ``check_unknown_hyperparameters_are_errors``: typos raise with "Did you mean".

The synthetic tables (:func:`random_synth`, :func:`leaky_synth`) hold every statistic of every
table an attack could read (:data:`ALL_KEYS` and any other table it declares) and every known
extra (:data:`EXTRA_BUILDERS`); an attack reading an extra miakit does not build passes
``extra_builders=``. Tables outside :data:`ALL_KEYS` (a new context or role) are random and carry
no membership signal in :func:`leaky_synth`.

Importing this module does not import pytest (only :func:`parametrize_with_checks` does).
See ``docs/extending.md`` for a worked example.
"""

from miakit.testing._api import AttackLike, check_attack, parametrize_with_checks, resolve_attack
from miakit.testing._checks import (
    CHECKS,
    LEAKY_AUROC,
    check_every_declared_extra_matters,
    check_every_declared_signal_matters,
    check_higher_score_is_member,
    check_metadata_and_signature,
    check_module_named_after_attack,
    check_nan_policy_empty_and_one_token,
    check_nan_when_any_declared_table_is_empty,
    check_permutation_equivariance,
    check_reads_only_declared_signals,
    check_shape_dtype_determinism_purity,
    check_unknown_hyperparameters_are_errors,
    check_zero_samples,
    checks_for,
)
from miakit.testing._synth import (
    ALL_KEYS,
    EXTRA_BUILDERS,
    ExtraBuilder,
    Synth,
    leaky_synth,
    random_synth,
)

__all__ = [
    "ALL_KEYS",
    "CHECKS",
    "EXTRA_BUILDERS",
    "LEAKY_AUROC",
    "AttackLike",
    "ExtraBuilder",
    "Synth",
    "check_attack",
    "check_every_declared_extra_matters",
    "check_every_declared_signal_matters",
    "check_higher_score_is_member",
    "check_metadata_and_signature",
    "check_module_named_after_attack",
    "check_nan_policy_empty_and_one_token",
    "check_nan_when_any_declared_table_is_empty",
    "check_permutation_equivariance",
    "check_reads_only_declared_signals",
    "check_shape_dtype_determinism_purity",
    "check_unknown_hyperparameters_are_errors",
    "check_zero_samples",
    "checks_for",
    "leaky_synth",
    "parametrize_with_checks",
    "random_synth",
    "resolve_attack",
]
