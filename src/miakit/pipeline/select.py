"""Which attacks a run runs: by the model roles and inputs it has, and the user's request.

An attack's requirements are its own declarations (:class:`~miakit.attacks.AttackSpec`): the
model roles of its signals and its inputs, each input's option coming from its provider
(:mod:`miakit.pipeline.inputs`). Nothing here names an attack or an input.
"""

from __future__ import annotations

from collections.abc import Iterable

from miakit.attacks import AttackSpec, default_registry
from miakit.config import RunConfig, role_flag
from miakit.errors import InvalidParameterError
from miakit.pipeline.inputs import missing_flags, required_flags
from miakit.pipeline.roles import DEFAULT_ALIASES


def attack_requirements(spec: AttackSpec) -> list[str]:
    """What an attack needs beyond the target model, as the flags that provide it.

    Model roles come from the attack's declared signals (a paired role ``"p@q"`` counts as
    both); a role with a default stand-in (:data:`~miakit.pipeline.roles.DEFAULT_ALIASES`) is
    shown in brackets as optional. Contexts that are not built in and extras come from their
    providers (:attr:`AttackSpec.inputs`, :mod:`miakit.pipeline.inputs`); an attack that runs
    only when named is marked ``[--attacks]``.
    """
    out = []
    for role in spec.models:
        if role == "target":
            continue
        flag = role_flag(role)
        out.append(f"[{flag}]" if role in DEFAULT_ALIASES else flag)
    out += required_flags(spec.inputs)
    if not spec.default:
        out.append("[--attacks]")
    return out


def missing(
    spec: AttackSpec, config: RunConfig, available_roles: set[str], stand_ins: Iterable[str] = ()
) -> list[str]:
    """The flags ``spec`` needs that this run lacks: model roles, then inputs
    (``stand_ins``: the names of the in-memory stand-ins given to :func:`miakit.run`)."""
    roles = [role_flag(r) for r in spec.models if r not in available_roles]
    return roles + missing_flags(spec.inputs, config, stand_ins)


def select_attacks(
    config: RunConfig, available_roles: set[str], stand_ins: Iterable[str] = ()
) -> tuple[list[AttackSpec], dict[str, str]]:
    """The attacks to run, and those skipped by default with the reason.

    Explicitly requested attacks whose model roles or inputs are missing are an error naming
    the flag (e.g. "attack 'recall' needs --aux-nonmembers"); by default they are skipped with
    that reason, as are attacks registered with ``default=False``.
    """
    registry = default_registry()
    given = frozenset(stand_ins)
    skipped: dict[str, str] = {}
    if config.attacks is not None:
        if not config.attacks:
            raise InvalidParameterError("--attacks is empty; name at least one attack")
        specs = [registry.get(name) for name in config.attacks]
        problems = []
        for spec in specs:
            lacking = missing(spec, config, available_roles, given)
            if lacking:
                problems.append(f"attack {spec.name!r} needs {', '.join(lacking)}")
        if problems:
            raise InvalidParameterError("; ".join(problems) + ".")
        return specs, skipped
    specs = []
    for spec in registry:
        lacking = missing(spec, config, available_roles, given)
        if lacking:
            skipped[spec.name] = "needs " + ", ".join(lacking)
        elif not spec.default:
            skipped[spec.name] = (
                "not run by default (costly: see miakit list attacks); "
                f"ask for it with --attacks {spec.name}"
            )
        else:
            specs.append(spec)
    return specs, skipped


def check_params(config: RunConfig, specs: list[AttackSpec]) -> None:
    """Refuse hyperparameters of unknown attacks, of attacks not run, and unknown names."""
    names = {s.name for s in specs}
    registry = default_registry()
    problems = []
    for attack, params in config.attack_params.items():
        if attack not in registry:
            problems.append(str(InvalidParameterError(f"attack_params: unknown attack {attack!r}")))
            continue
        if attack not in names:
            problems.append(f"attack_params given for {attack!r}, which is not run")
            continue
        try:
            registry.get(attack).check_params(params)
        except InvalidParameterError as exc:
            problems.append(str(exc))
    if problems:
        raise InvalidParameterError("; ".join(problems))
