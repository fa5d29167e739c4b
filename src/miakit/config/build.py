"""From YAML, flags and keyword arguments to a checked :class:`RunConfig`, and back.

Input keys come in three spellings, all read into one canonical form (flat settings plus
``models: {role: {path, gguf_file, adapter}}``):

- flat keys: ``max_length: 1024``;
- grouped keys: ``engine: {max_length: 1024}`` (a setting's group is in its declaration);
- role shorthands: ``model: X``, ``reference_gguf_file: F`` (see :mod:`miakit.config.models`).

The same value given twice in one source, under two spellings, is accepted when equal and
an error otherwise. Later sources override earlier ones key by key (:func:`merge`): per role
and spec key for models, per attack and hyperparameter for ``attack_params``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from miakit.config.models import (
    BUILTIN_ROLES,
    SHORTHAND_KEYS,
    SPEC_KEYS,
    build_models,
    raw_models,
    shorthand_key,
)
from miakit.config.provided import provided_keys
from miakit.config.schema import constraint_problem, normalise, type_problem
from miakit.errors import InvalidParameterError, did_you_mean

if TYPE_CHECKING:
    from miakit.config.settings import RunConfig

Roles = dict[str, dict[str, Any]]

#: The field of :class:`RunConfig` holding the values of the provided settings.
PROVIDED = "provided"


def all_keys() -> dict[str, Any]:
    """Every key of the schema: :class:`RunConfig`'s fields, then the settings providers
    declared (:mod:`miakit.config.provided`)."""
    from miakit.config.settings import KEYS

    return {**KEYS, **provided_keys()}


def groups() -> dict[str, list[str]]:
    """YAML group -> the keys it may hold, in declaration order."""
    out: dict[str, list[str]] = {}
    for key in all_keys().values():
        if key.setting.group is not None:
            out.setdefault(key.setting.group, []).append(key.name)
    return out


def canonical(values: Mapping[str, Any], problems: list[str]) -> tuple[dict[str, Any], Roles]:
    """``(flat settings, roles)`` from keys in any spelling; problems are appended."""
    keys, grouped = all_keys(), groups()
    flat: dict[str, Any] = {}
    spelled: dict[str, str] = {}  # flat key -> how it was written (for "given twice")
    short: Roles = {}
    listed: Roles = {}

    def put(name: str, value: Any, how: str) -> None:
        if name in flat and flat[name] != value:
            problems.append(
                f"{name} given twice: {spelled[name]}: {flat[name]!r} and {how}: {value!r}"
            )
            return
        flat[name], spelled[name] = value, how

    for key, value in values.items():
        if key == "models":
            for role, spec in raw_models(value, problems).items():
                listed.setdefault(role, {}).update(spec)
        elif key == PROVIDED:  # RunConfig.provided as it is (dataclasses.replace)
            if not isinstance(value, Mapping):
                problems.append(
                    f"{PROVIDED}: expected a mapping of setting -> value, got {value!r}"
                )
                continue
            for inner, v in value.items():
                if inner in provided_keys():
                    put(inner, v, f"{PROVIDED}.{inner}")
                else:
                    hint = did_you_mean(str(inner), provided_keys())
                    problems.append(f"unknown provided setting {inner!r}.{hint}")
        elif key in SHORTHAND_KEYS:
            role, spec_key = SHORTHAND_KEYS[key]
            short.setdefault(role, {})[spec_key] = value
        elif key in grouped:
            if not isinstance(value, Mapping):
                problems.append(
                    f"{key}: expected a mapping of its keys ({', '.join(grouped[key])}), got "
                    f"{value!r} ({type(value).__name__}); e.g. {key}: {{{grouped[key][0]}: ...}}"
                )
                continue
            for inner, v in value.items():
                if inner in grouped[key]:
                    put(inner, v, f"{key}.{inner}")
                elif inner in keys:
                    home = keys[inner].setting.group
                    where = f"under {home}:" if home else "at the top level"
                    problems.append(f"{key}.{inner}: {inner!r} belongs {where}")
                else:
                    hint = did_you_mean(str(inner), grouped[key])
                    problems.append(f"unknown key {key}.{inner!s}.{hint}")
        elif key in keys and key != "models":
            put(key, value, key)
        else:
            known = [*keys, *SHORTHAND_KEYS, *grouped]
            problems.append(f"unknown key {key!r}.{did_you_mean(str(key), known)}")
    roles: Roles = {role: dict(spec) for role, spec in listed.items()}
    for role, spec in short.items():
        entry = roles.setdefault(role, {})
        for spec_key, value in spec.items():
            if spec_key in entry and entry[spec_key] != value:
                problems.append(
                    f"model role {role!r} given twice: {shorthand_key(role, spec_key)}: "
                    f"{value!r} and models.{role}.{spec_key}: {entry[spec_key]!r}"
                )
            entry[spec_key] = value
    return flat, roles


def _problems_error(problems: list[str], source: str) -> InvalidParameterError:
    return InvalidParameterError(f"invalid configuration in {source}:\n  " + "\n  ".join(problems))


def _attack_params(value: Any) -> dict[str, dict[str, Any]] | None:
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        return None
    return {str(k): dict(v) for k, v in value.items()}


def check(values: Mapping[str, Any], *, source: str = "arguments") -> dict[str, Any]:
    """Every field of :class:`RunConfig`, checked and normalised (defaults for the unset
    ones). Raises one :class:`InvalidParameterError` listing every problem."""
    problems: list[str] = []
    flat, roles = canonical(values, problems)
    clean: dict[str, Any] = {}
    provided = provided_keys()
    for name, key in all_keys().items():
        if name in ("models", PROVIDED):
            continue
        if name not in flat:
            clean[name] = copy.deepcopy(key.default)
            continue
        value = flat[name]
        if name == "attack_params":
            params = _attack_params(value)
            if params is None:
                problems.append(type_problem(key, value))
            clean[name] = params
            continue
        ok, norm = normalise(key, value)
        if not ok:
            problems.append(type_problem(key, value))
            continue
        bad = constraint_problem(key, norm)
        if bad is not None:
            problems.append(bad)
        clean[name] = norm
    clean["models"] = build_models(roles, problems)
    clean[PROVIDED] = {name: clean.pop(name) for name in provided if name in clean}
    if problems:
        raise _problems_error(problems, source)
    return clean


def make_config(values: Mapping[str, Any], *, source: str = "arguments") -> RunConfig:
    """Build a :class:`RunConfig` from keys in any spelling, collecting every unknown key,
    type error and out-of-range value into one :class:`InvalidParameterError` that names
    ``source``."""
    from miakit.config.settings import RunConfig

    config = object.__new__(RunConfig)
    for name, value in check(values, source=source).items():
        object.__setattr__(config, name, value)
    return config


def merge(
    base: Mapping[str, Any], overrides: Mapping[str, Any], *, source: str = "the configuration"
) -> dict[str, Any]:
    """``base`` updated by ``overrides`` (e.g. a YAML file by the flags), key by key: model
    roles per role and spec key, ``attack_params`` per attack and hyperparameter. Returns the
    canonical form (flat keys plus ``models``) for :func:`make_config`, which checks the
    values; unknown keys and a value spelled twice are raised here, naming ``source``."""
    problems: list[str] = []
    flat, roles = canonical(base, problems)
    over_flat, over_roles = canonical(overrides, problems)
    if problems:
        raise _problems_error(problems, source)
    for k, v in over_flat.items():
        old = flat.get("attack_params")
        if k == "attack_params" and isinstance(v, Mapping) and isinstance(old, Mapping):
            params = {a: dict(p) for a, p in old.items() if isinstance(p, Mapping)}
            for attack, ps in v.items():
                params.setdefault(attack, {}).update(ps)
            flat[k] = params
        else:
            flat[k] = v
    for role, spec in over_roles.items():
        roles.setdefault(role, {}).update(spec)
    return {**flat, "models": roles}


def to_dict(config: RunConfig) -> dict[str, Any]:
    """The YAML form of ``config``: built-in roles as their flat shorthand keys (``model``,
    ``reference_gguf_file``, ``adapter`` when one is given...), other roles under ``models``,
    then every setting."""
    builtin = {s.role for s in BUILTIN_ROLES}
    out: dict[str, Any] = {}
    for s in BUILTIN_ROLES:
        ref = config.models.get(s.role)
        out[s.key] = None if ref is None else ref.path
    for s in BUILTIN_ROLES:
        ref = config.models.get(s.role)
        out[s.gguf_key] = None if ref is None else ref.gguf_file
    for s in BUILTIN_ROLES:  # written only when given: runs without adapters read as before
        ref = config.models.get(s.role)
        if ref is not None and ref.adapter is not None:
            out[s.adapter_key] = ref.adapter
    out["models"] = {
        role: {k: getattr(ref, k) for k in SPEC_KEYS if k != "adapter" or ref.adapter}
        for role, ref in config.models.items()
        if role not in builtin
    }
    for name in all_keys():
        if name in ("models", PROVIDED):
            continue
        value = config.value(name)  # provided settings are written flat, as they are read
        if name == "attacks":
            value = list(value) if value is not None else None
        elif name == "attack_params":
            value = {k: dict(v) for k, v in value.items()}
        out[name] = value
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file (``yaml.safe_load``) into a mapping."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidParameterError(f"cannot read config {p}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidParameterError(f"config {p} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidParameterError(f"config {p} must be a mapping of keys to values")
    return data


def dump_yaml(config: RunConfig) -> str:
    """``config`` as YAML (``config.resolved.yaml``); ``--config`` reads it back unchanged."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
