"""Deprecated aliases of renamed public names: they keep working and warn once per call site.

A module that renamed a public name keeps the old one through a module ``__getattr__``::

    _RENAMED = {"NeighbourCache": "NeighborCache"}

    def __getattr__(name: str) -> object:
        return renamed_attribute(__name__, name, _RENAMED, globals())

Values (a YAML key, a role name, a flag) use :func:`warn_renamed`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any


def warn_renamed(old: str, new: str, *, what: str = "name", stacklevel: int = 3) -> None:
    """Emit the :class:`DeprecationWarning` of a renamed ``what`` (``old`` -> ``new``)."""
    warnings.warn(
        f"the {what} {old!r} is deprecated; use {new!r} (renamed in miakit issue 11, one "
        "spelling per name); the old one will be removed in a later release",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def renamed_attribute(
    module: str, name: str, renames: Mapping[str, str], namespace: Mapping[str, Any]
) -> Any:
    """The body of a module ``__getattr__``: the new object for an old ``name`` of ``renames``
    (with a :class:`DeprecationWarning`); ``AttributeError`` for any other name."""
    if name in renames:
        new = renames[name]
        warn_renamed(f"{module}.{name}", f"{module}.{new}", stacklevel=4)
        return namespace[new]
    raise AttributeError(f"module {module!r} has no attribute {name!r}")


__all__ = ["renamed_attribute", "warn_renamed"]
