"""The conformance checks: each takes an :class:`AttackSpec` and raises AssertionError.

Every check builds its own synthetic tables (:mod:`miakit.testing._synth`) for every table the
attack could read, so it needs nothing but the spec. ``extra_builders`` supplies synthetic
values for extras miakit does not know (see :data:`~miakit.testing.EXTRA_BUILDERS`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import numpy as np

from miakit.attacks import AttackOutput, AttackSpec, PerSample, SignalView
from miakit.errors import InvalidParameterError, MissingSignalError
from miakit.metrics import auroc
from miakit.signals.spec import role_problems
from miakit.testing._synth import (
    Builders,
    Synth,
    build_extras,
    builders_for,
    declared_keys,
    leaky_synth,
    random_synth,
    random_text,
    synthetic_keys,
    take_extras,
)

#: ``AttackOutput``'s reason for a NaN the attack gave no reason for.
FALLBACK_REASON = "the attack returned NaN without a reason"
#: The AUROC an attack must reach on :func:`~miakit.testing.leaky_synth`.
LEAKY_AUROC = 0.9

Check = Callable[..., None]


def _check(func: Check) -> Check:
    """Make ``func`` a check: an exception other than AssertionError (the attack crashed)
    becomes an AssertionError naming the attack and the check, chained to the original."""

    @functools.wraps(func)
    def check(spec: AttackSpec, *, extra_builders: Builders | None = None) -> None:
        try:
            func(spec, extra_builders=extra_builders)
        except AssertionError:
            raise
        except Exception as exc:
            raise AssertionError(
                f"attack {spec.name!r} crashed in {func.__name__}: {type(exc).__name__}: {exc}"
            ) from exc

    return check


def _fail(spec: AttackSpec, message: str) -> NoReturn:
    raise AssertionError(f"attack {spec.name!r}: {message}")


def _close(spec: AttackSpec, actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    """Equal up to float rounding (rtol 1e-12), NaN where NaN."""
    try:
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0, equal_nan=True)
    except AssertionError as exc:
        _fail(spec, f"{what}: {str(exc).strip()}")


def _same(spec: AttackSpec, a: AttackOutput, b: AttackOutput, what: str) -> None:
    _close(spec, a.scores, b.scores, what)
    if a.reasons != b.reasons:
        _fail(spec, f"{what}: the NaN reasons differ")


def _valid_reasons(spec: AttackSpec, out: AttackOutput, what: str) -> None:
    for i, (score, reason) in enumerate(zip(out.scores, out.reasons, strict=True)):
        if np.isnan(score) and (not reason or reason == FALLBACK_REASON):
            _fail(spec, f"{what}: sample {i} is NaN without a specific reason")
        if not np.isnan(score) and reason is not None:
            _fail(spec, f"{what}: sample {i} scored {score} but has a NaN reason {reason!r}")


@contextmanager
def _raises(spec: AttackSpec, exc: type[Exception], what: str, match: str = "") -> Iterator[None]:
    """Like ``pytest.raises``: the body must raise ``exc`` with a message matching ``match``."""
    try:
        yield
    except exc as err:
        if match and not re.search(match, str(err)):
            _fail(spec, f"{what}: the {exc.__name__} says {str(err)!r}, expected {match!r}")
        return
    _fail(spec, f"{what}: expected {exc.__name__}, nothing was raised")


def _synth(spec: AttackSpec, seed: int, builders: Builders | None, n: int = 40) -> Synth:
    return random_synth(seed, n, keys=synthetic_keys(spec), builders=builders_for(spec, builders))


@_check
def check_metadata_and_signature(
    spec: AttackSpec, *, extra_builders: Builders | None = None
) -> None:
    """A paper id (arXiv ``NNNN.NNNNN``) cited in the docstring, a summary line, declared
    signals whose roles a run can give a model (any role name: roles are data), and
    keyword-only, documented hyperparameters with defaults."""
    if not re.fullmatch(r"\d{4}\.\d{4,5}", spec.paper):
        _fail(spec, f"paper={spec.paper!r} is not an arXiv id such as '2310.16789'")
    doc = inspect.getdoc(spec.func) or ""
    if not spec.summary:
        _fail(spec, "the function has no docstring (its first line is the summary)")
    if spec.paper not in doc:
        _fail(spec, f"the docstring does not cite the paper {spec.paper}")
    if not spec.needs:
        _fail(spec, "needs= declares no signal")
    for ref in spec.needs:  # roles are data: any role a run can give a model is fine
        for problem in [] if ref.is_text else role_problems(ref.model):
            _fail(spec, f"signal {ref}: {problem}")
    params = list(inspect.signature(spec.func).parameters.values())
    if not params or params[0].kind not in (
        params[0].POSITIONAL_ONLY,
        params[0].POSITIONAL_OR_KEYWORD,
    ):
        _fail(spec, "the first parameter must be the positional SignalView")
    for p in params[1:]:
        if p.kind is not p.KEYWORD_ONLY or p.default is p.empty:
            _fail(spec, f"hyperparameter {p.name!r} must be keyword-only with a default")
        if p.name not in doc:
            _fail(spec, f"hyperparameter {p.name!r} is not documented in the docstring")


@_check
def check_module_named_after_attack(
    spec: AttackSpec, *, extra_builders: Builders | None = None
) -> None:
    """A built-in attack lives in ``miakit.attacks.<name>`` (one module per attack)."""
    expected = f"miakit.attacks.{spec.name}"
    if spec.func.__module__ != expected:
        _fail(
            spec,
            f"defined in {spec.func.__module__}, expected {expected} (module name = attack name)",
        )


@_check
def check_shape_dtype_determinism_purity(
    spec: AttackSpec, *, extra_builders: Builders | None = None
) -> None:
    """Shape ``(n_samples,)`` float64, one reason per NaN, at most the short samples NaN, no
    write into the signal tables, bit-identical on a second call, defaults explicit or not."""
    synth = _synth(spec, 1, extra_builders)
    view = synth.view()
    tables = {key: view.table(model=key[0], context=key[1]) for key in synth.rows}
    before = {key: {s: v.copy() for s, v in t.stats.items()} for key, t in tables.items()}
    out = spec(view)
    if out.scores.shape != (synth.n,) or out.scores.dtype != np.float64:
        _fail(
            spec,
            f"scores have shape {out.scores.shape} and dtype {out.scores.dtype}, "
            f"expected ({synth.n},) float64",
        )
    if len(out.reasons) != synth.n:
        _fail(spec, f"{len(out.reasons)} reasons for {synth.n} samples")
    _valid_reasons(spec, out, "random tables")
    if np.isfinite(out.scores).sum() < synth.n // 2:
        _fail(
            spec,
            f"only {np.isfinite(out.scores).sum()} of {synth.n} random samples scored "
            "(only the few short ones may be NaN)",
        )
    for key, stats in before.items():
        for s, v in stats.items():
            if not np.array_equal(tables[key].stats[s], v, equal_nan=True):
                _fail(spec, f"the attack wrote into the signal table {key} ({s})")
    again = spec(view)
    if not np.array_equal(out.scores, again.scores, equal_nan=True) or out.reasons != again.reasons:
        _fail(spec, "a second call on the same view gave other scores (not deterministic)")
    if not np.array_equal(spec(view, **spec.params).scores, out.scores, equal_nan=True):
        _fail(spec, "passing the default hyperparameters explicitly changed the scores")


@_check
def check_zero_samples(spec: AttackSpec, *, extra_builders: Builders | None = None) -> None:
    """No samples: an empty float64 array, no error."""
    builders = builders_for(spec, extra_builders)
    empty = Synth.empty(synthetic_keys(spec), build_extras(np.random.default_rng(0), 0, builders))
    out = spec(empty.view())
    if out.scores.shape != (0,) or out.scores.dtype != np.float64:
        _fail(
            spec,
            f"zero samples gave shape {out.scores.shape} {out.scores.dtype}, expected (0,) float64",
        )


@_check
def check_permutation_equivariance(
    spec: AttackSpec, *, extra_builders: Builders | None = None
) -> None:
    """Permuting the samples permutes the scores and reasons (no cross-sample state)."""
    synth = _synth(spec, 2, extra_builders)
    view = synth.view()
    perm = np.random.default_rng(0).permutation(synth.n)
    permuted = SignalView(
        {key: view.table(model=key[0], context=key[1]).take(perm) for key in synth.rows},
        [synth.texts[i] for i in perm],
        extras=take_extras(synth.extras, perm),
    )
    out, out_perm = spec(view), spec(permuted)
    _close(spec, out_perm.scores, out.scores[perm], "permuted samples gave other scores")
    if out_perm.reasons != tuple(out.reasons[i] for i in perm):
        _fail(spec, "permuted samples gave other NaN reasons")


@_check
def check_nan_policy_empty_and_one_token(
    spec: AttackSpec, *, extra_builders: Builders | None = None
) -> None:
    """An empty sample (0 tokens, empty text) is NaN with a reason; a one-token sample is a
    finite score or NaN with a reason; the other samples' scores do not change."""
    synth = _synth(spec, 3, extra_builders)
    keys = list(synth.rows)
    base = spec(synth.view())
    with_short = synth.insert(5, dict.fromkeys(keys, 0), "").insert(11, dict.fromkeys(keys, 1), "a")
    out = spec(with_short.view())
    _valid_reasons(spec, out, "with an empty and a one-token sample")
    if not (np.isnan(out.scores[5]) and out.reasons[5]):
        _fail(spec, f"an empty sample scored {out.scores[5]}, expected NaN with a reason")
    others = np.setdiff1d(np.arange(with_short.n), [5, 11])
    _close(spec, out.scores[others], base.scores, "adding short samples changed other scores")
    if tuple(out.reasons[i] for i in others) != base.reasons:
        _fail(spec, "adding short samples changed other samples' NaN reasons")


@_check
def check_nan_when_any_declared_table_is_empty(
    spec: AttackSpec, *, extra_builders: Builders | None = None
) -> None:
    """A sample with 0 tokens in any one declared table is NaN with a reason."""
    synth = _synth(spec, 4, extra_builders)
    for key in declared_keys(spec):
        lengths = dict.fromkeys(synth.rows, 50)
        lengths[key] = 0
        out = spec(synth.insert(0, lengths, "some text").view())
        _valid_reasons(spec, out, f"with 0 tokens in {key}")
        if not np.isnan(out.scores[0]):
            _fail(spec, f"0 tokens in {key} must give NaN, got {out.scores[0]}")


@_check
def check_reads_only_declared_signals(
    spec: AttackSpec, *, extra_builders: Builders | None = None
) -> None:
    """Tables holding only the declared signals (and only the declared extras) give the same
    scores; leaving out any one declared signal or extra is a MissingSignalError."""
    synth = _synth(spec, 5, extra_builders)
    minimal = synth.view(allowed=spec.needs, extras=spec.extras)
    _same(spec, spec(minimal), spec(synth.view()), "a view of only the declared signals")
    for ref in spec.needs:  # and each declared signal is actually read
        fewer = synth.view().restrict([r for r in spec.needs if r != ref], extras=spec.extras)
        with _raises(spec, MissingSignalError, f"declared signal {ref} left out of the view"):
            spec.func(fewer, **spec.params)
    for extra in spec.extras:  # and so is each declared extra
        fewer = synth.view().restrict(spec.needs, extras=[e for e in spec.extras if e != extra])
        with _raises(
            spec, MissingSignalError, f"declared extra {extra!r} left out", "not declared"
        ):
            spec.func(fewer, **spec.params)


@_check
def check_every_declared_signal_matters(
    spec: AttackSpec, *, extra_builders: Builders | None = None
) -> None:
    """Changing any one declared signal (NaN tokens, other texts) changes some score."""
    synth = _synth(spec, 6, extra_builders)
    base = spec(synth.view())
    for ref in spec.needs:
        if ref.is_text:
            rng = np.random.default_rng(7)
            changed = synth.with_texts(
                [random_text(rng, int(rng.integers(1, 2000))) for _ in synth.texts]
            )
        else:
            changed = synth.replace((ref.model, ref.context), ref.stat, np.nan)
        out = spec(changed.view())
        _valid_reasons(spec, out, f"with {ref} changed")
        if np.array_equal(out.scores, base.scores, equal_nan=True):
            _fail(spec, f"declared signal {ref} is unused: changing it changed no score")


@_check
def check_every_declared_extra_matters(
    spec: AttackSpec, *, extra_builders: Builders | None = None
) -> None:
    """Making any one declared extra NaN changes some score."""
    synth = _synth(spec, 6, extra_builders)
    base = spec(synth.view())
    for extra in spec.extras:
        value = synth.extras[extra]
        if isinstance(value, PerSample):
            # dataclasses.replace keeps a subclass's other fields (GradNorms' per-layer norms)
            corrupt: Any = dataclasses.replace(
                value, values=np.full(len(value), np.nan), reasons=("corrupt",) * len(value)
            )
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            # a fitted model (whitebox's classifier): every array field NaN
            arrays = {
                f.name: np.full_like(np.asarray(v, dtype=np.float64), np.nan)
                for f in dataclasses.fields(value)
                if isinstance(v := getattr(value, f.name), np.ndarray)
            }
            corrupt = dataclasses.replace(value, **arrays)
        else:
            corrupt = np.full_like(np.asarray(value, dtype=np.float64), np.nan)
        out = spec(synth.with_extra(extra, corrupt).view())
        _valid_reasons(spec, out, f"with extra {extra!r} NaN")
        if np.array_equal(out.scores, base.scores, equal_nan=True):
            _fail(spec, f"declared extra {extra!r} is unused: making it NaN changed no score")


@_check
def check_higher_score_is_member(
    spec: AttackSpec, *, extra_builders: Builders | None = None
) -> None:
    """On :func:`~miakit.testing.leaky_synth` (members more likely under the target) every
    sample scores and the AUROC exceeds :data:`LEAKY_AUROC`: higher = more likely member."""
    synth, labels = leaky_synth(
        8, keys=synthetic_keys(spec), builders=builders_for(spec, extra_builders)
    )
    out = spec(synth.view())
    if np.isnan(out.scores).any():
        _fail(
            spec,
            f"{int(np.isnan(out.scores).sum())} leaky samples are NaN, e.g. "
            f"{next(r for r in out.reasons if r)!r}",
        )
    area = auroc(out.scores, labels)
    if area <= LEAKY_AUROC:
        hint = " (is the sign inverted? higher must mean member)" if area < 0.5 else ""
        _fail(spec, f"AUROC {area:.3f} on the leaky fixture, expected > {LEAKY_AUROC}{hint}")


@_check
def check_unknown_hyperparameters_are_errors(
    spec: AttackSpec, *, extra_builders: Builders | None = None
) -> None:
    """An unknown hyperparameter is an InvalidParameterError; a typo suggests the name."""
    view = _synth(spec, 9, extra_builders, n=5).view()
    what = "an unknown hyperparameter"
    with _raises(spec, InvalidParameterError, what, "has no hyperparameter 'no_such_param'"):
        spec(view, no_such_param=1)
    for param, default in spec.params.items():
        typo = param + param[-1]
        with _raises(spec, InvalidParameterError, f"the typo {typo!r}", f"Did you mean '{param}'"):
            spec(view, **{typo: default})
        with _raises(spec, InvalidParameterError, f"check_params({typo!r})", "Did you mean"):
            spec.check_params({typo: default})


#: Every check, in the order :func:`~miakit.testing.check_attack` runs them.
CHECKS: tuple[Check, ...] = (
    check_metadata_and_signature,
    check_module_named_after_attack,
    check_shape_dtype_determinism_purity,
    check_zero_samples,
    check_permutation_equivariance,
    check_nan_policy_empty_and_one_token,
    check_nan_when_any_declared_table_is_empty,
    check_reads_only_declared_signals,
    check_every_declared_signal_matters,
    check_every_declared_extra_matters,
    check_higher_score_is_member,
    check_unknown_hyperparameters_are_errors,
)


def is_builtin(spec: AttackSpec) -> bool:
    """Whether the attack's function is defined inside the miakit package."""
    module = spec.func.__module__ or ""
    return module == "miakit" or module.startswith("miakit.")


def checks_for(spec: AttackSpec) -> tuple[Check, ...]:
    """The checks that apply to ``spec``: all of :data:`CHECKS`, except that the module name
    is checked only for attacks defined inside miakit (an outside attack lives where its
    author puts it)."""
    if is_builtin(spec):
        return CHECKS
    return tuple(c for c in CHECKS if c is not check_module_named_after_attack)
