"""Plugins: modules outside miakit that register attacks (or input providers) when imported.

Two ways to load them, both before miakit first builds a registry (the registries freeze once
built, so a module imported later could not register):

- **entry points** of the group ``miakit.attacks`` (:data:`ENTRY_POINT_GROUP`), declared by an
  installed package (``[project.entry-points."miakit.attacks"] my_attacks = "my_pkg.attacks"``
  in its ``pyproject.toml``); :func:`load_entry_points` imports them, and the attack and
  provider registries call it when they are built, so every entry point loads in every run,
  listing and check without a flag;
- **modules by name**: ``--plugin MODULE`` (repeatable), the YAML key ``plugins: [MODULE]`` or
  ``miakit.run(plugins=[...])``; :func:`import_plugins` imports them before the run resolves
  its attacks (and ``miakit list attacks --plugin MODULE`` before it lists them). A module is
  found on ``sys.path`` as any import: a file ``my_attacks.py`` in the current folder (or on
  ``PYTHONPATH``) is ``my_attacks``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterable

from miakit._core.errors import InvalidParameterError

#: The entry-point group whose entries miakit imports when it builds its registries.
ENTRY_POINT_GROUP = "miakit.attacks"

_HINT = (
    "plugins must be imported before miakit first builds its registries: pass them to this "
    "run (--plugin MODULE, plugins: [MODULE], miakit.run(plugins=[...])) or import them at "
    "the top of your script"
)


def _import(module: str, *, what: str) -> None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.split(".")[0] == exc.name.split(".")[0]:
            raise InvalidParameterError(
                f"{what} {module!r} was not found: give a module importable from sys.path (a "
                f"file {module.split('.')[-1]}.py in the current folder or on PYTHONPATH is "
                f"{module.split('.')[-1]!r}), or install its package"
            ) from exc
        raise
    except RuntimeError as exc:  # a registry refused a late registration
        message = f"{what} {module!r} could not register: {exc}; {_HINT}"
        raise InvalidParameterError(message) from exc


def import_plugins(modules: Iterable[str]) -> list[str]:
    """Import each module of ``modules`` (dotted names) once; returns them in order.

    Raises:
        InvalidParameterError: a module is not found, or registers into a registry that is
            frozen already (the message says how to load it in time).
    """
    done = []
    for module in modules:
        _import(module, what="plugin module")
        done.append(module)
    return done


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Import the module of every installed entry point of ``group``; returns their values.

    An entry point's value is a module (``my_pkg.attacks``) or an object in one
    (``my_pkg.attacks:register``, which is imported, not called): importing registers.
    """
    values = []
    for entry in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
        _import(entry.module, what=f"entry point {entry.name!r} ({group}): module")
        values.append(entry.value)
    return values


__all__ = ["ENTRY_POINT_GROUP", "import_plugins", "load_entry_points"]
