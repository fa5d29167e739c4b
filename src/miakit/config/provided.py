"""Settings declared by input providers: a provider of your own adds its settings to the schema
when it registers, with no edit to :mod:`miakit.config.settings` or the CLI.

A provided setting is declared like a built-in one (:func:`declare`: name, type, default, help
and the constraints of :class:`~miakit.config.schema.Setting`) and passed to
``register_provider(..., settings=[...])``. From then on it is a key of the schema like any
other: a YAML key (flat, or inside its group), a flag of ``miakit run`` (``--shuffle-seed``), a
keyword of :class:`~miakit.config.RunConfig` and :func:`miakit.run`, checked with the same
messages before any model loads, and written to ``config.resolved.yaml``. A config keeps the
values under :attr:`RunConfig.provided <miakit.config.RunConfig>`; a provider reads its own with
``config.value(name)``.

A provided setting exists once its provider's module is imported. The command line imports the
built-in providers, the installed plugins (entry points) and the ``--plugin`` modules before it
builds its flags; :func:`miakit.run` imports the built-in providers and the installed plugins
before it checks its keywords; a module of your own is imported by your script (or given as
``--plugin``) first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from miakit.config.schema import Key, Setting, constraint_problem, normalise, type_problem
from miakit.errors import InvalidParameterError


@dataclass(frozen=True)
class ProvidedSetting:
    """A setting some provider declared: its owner (the provider's name) and its key."""

    owner: str
    key: Key


#: name -> the provided setting, in registration order (tests swap in a copy: monkeypatch)
_SETTINGS: dict[str, ProvidedSetting] = {}


def declare(name: str, hint: Any, default: Any, **meta: Any) -> Key:
    """A setting of a provider: ``name`` (the YAML key; the flag is ``--name-with-dashes``),
    its type (``int``, ``float``, ``str``, ``bool``, ``X | None``...), its default and the
    keyword arguments of :class:`~miakit.config.schema.Setting` (``help`` is required;
    ``group``, ``ge``/``gt``/``le``/``lt``, ``choices``, ``metavar``, ``example``...).

    Raises:
        InvalidParameterError: the default itself breaks the declaration.
    """
    key = Key(name, hint, Setting(**meta), default)
    ok, normal = normalise(key, default)
    problem = type_problem(key, default) if not ok else constraint_problem(key, normal)
    if problem is not None:
        raise InvalidParameterError(f"the default of provided setting {name!r}: {problem}")
    return key


def add(owner: str, keys: tuple[Key, ...], builtin: set[str]) -> None:
    """Add ``owner``'s settings (called by the provider registry when ``owner`` registers).

    Raises:
        InvalidParameterError: a name is a built-in setting (``builtin``) or another
            provider's setting.
    """
    for key in keys:
        if key.name in builtin:
            raise InvalidParameterError(
                f"provider {owner!r} declares setting {key.name!r}, which is a built-in "
                "setting of RunConfig; choose another name"
            )
        old = _SETTINGS.get(key.name)
        if old is not None and old.owner != owner:
            raise InvalidParameterError(
                f"provider {owner!r} declares setting {key.name!r}, which provider "
                f"{old.owner!r} declared already; choose another name"
            )
    for key in keys:
        _SETTINGS[key.name] = ProvidedSetting(owner, key)


def provided_keys() -> dict[str, Key]:
    """name -> :class:`Key` of every provided setting, in registration order."""
    return {name: s.key for name, s in _SETTINGS.items()}


__all__ = ["ProvidedSetting", "add", "declare", "provided_keys"]
