"""``torch`` imported on first use, not when a module that uses it is imported (issue 15).

``import torch`` cost 4.6 s on the issue-15 H200 host. A rerun whose signals are all cached
runs no model, so the modules on its path (the signal engine, the backends, the perturbers)
must not import torch when they are imported. Each of them binds ``torch`` to
:func:`lazy_module` ``("torch")`` at run time and to the real module for type checkers::

    if TYPE_CHECKING:
        import torch
    else:
        torch = lazy_module("torch")

The first attribute read (``torch.cat``, ``torch.float32``...) imports the module; after that a
read costs one ``getattr`` more. A decorator evaluated at import time cannot read such an
attribute, hence :func:`inference_mode`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class LazyModule:
    """Stands for module ``name``: each attribute read is the module's, imported on the
    first read."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


@functools.cache
def lazy_module(name: str) -> Any:
    """The :class:`LazyModule` of ``name`` (one per name)."""
    return LazyModule(name)


def inference_mode(fn: F) -> F:
    """``@torch.inference_mode()``, with torch imported when ``fn`` is first called."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.inference_mode():
            return fn(*args, **kwargs)

    return run  # type: ignore[return-value]


__all__ = ["LazyModule", "inference_mode", "lazy_module"]
