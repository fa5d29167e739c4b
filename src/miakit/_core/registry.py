"""One generic name -> item registry: attacks, blind baselines and input providers use it.

A :class:`Registry` maps names to items of one type (an ``AttackSpec``, a ``BlindBaseline``,
...). Its rules are those of every miakit registry:

- an item is added by name, usually through a decorator (:meth:`Registry.decorator`) on the
  function that the item wraps;
- an unknown name is an :class:`~miakit.errors.InvalidParameterError` that lists what is
  available and suggests the closest name ("Did you mean ...?");
- iteration and :meth:`Registry.names` are in sorted name order, whatever order modules were
  imported in, so listings and runs never depend on import order;
- adding the same name twice is an error, unless it is the same item again (``identity``
  tells; a module imported twice re-registers its own function);
- :meth:`Registry.freeze` ends registration once discovery (:meth:`Registry.discover`) has
  imported the modules of a package. The package's default registry is built and frozen once;
  tests build a fresh ``Registry`` (or an unfrozen :meth:`Registry.copy` of the default) and
  never mutate a global one.

A registry with its own registration signature (the attack decorator takes ``needs=`` and
``paper=``) subclasses this one and builds its item in its ``register`` method.
"""

from __future__ import annotations

import copy as _copy
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from miakit._core.errors import InvalidParameterError, did_you_mean

T = TypeVar("T")
F = TypeVar("F")
R = TypeVar("R", bound="Registry[Any]")


def _same(item: object) -> object:
    return item


class Registry(Generic[T]):
    """Name -> item of type ``T``, sorted by name, frozen after discovery.

    Args:
        kind: what an item is, in messages: ``"attack"`` gives "unknown attack 'x'; available:
            ..." and "attack 'x' registered twice".
        registry_name: the registry in the frozen message, "the <registry_name> registry is
            frozen" (default: ``kind``).
        identity: ``item -> object`` compared with ``is`` when a name is added again: the
            same object means the same item re-registered (allowed, it replaces the entry),
            another object is an error. For decorator registries, the decorated object the
            item was made from (an attack's function). Default: the item itself.
    """

    def __init__(
        self,
        kind: str,
        *,
        registry_name: str | None = None,
        identity: Callable[[T], object] = _same,
    ) -> None:
        self.kind = kind
        self.registry_name = registry_name or kind
        self._identity = identity
        self._items: dict[str, T] = {}
        self._frozen = False

    # -- registration ---------------------------------------------------------------------
    def check_open(self) -> None:
        """Raise ``RuntimeError`` once the registry is frozen."""
        if self._frozen:
            raise RuntimeError(f"the {self.registry_name} registry is frozen")

    def _check_new(self, name: str, identity: object) -> None:
        self.check_open()
        old = self._items.get(name)
        if old is not None and self._identity(old) is not identity:
            raise RuntimeError(f"{self.kind} {name!r} registered twice")

    def add(self, name: str, item: T) -> T:
        """Register ``item`` as ``name``; returns it.

        Raises:
            RuntimeError: the registry is frozen, or ``name`` holds another item.
        """
        self._check_new(name, self._identity(item))
        self._items[name] = item
        return item

    def decorator(self, name: str, make: Callable[[F], T]) -> Callable[[F], F]:
        """A decorator that registers ``make(obj)`` as ``name`` and returns ``obj`` unchanged.

        ``make`` builds the item from the decorated object (and validates it); it runs only
        while the registry is open and ``name`` is free or holds an item whose ``identity`` is
        ``obj`` (so ``identity`` should map an item to the object it was made from).
        """

        def deco(obj: F) -> F:
            self._check_new(name, obj)
            self.add(name, make(obj))
            return obj

        return deco

    def discover(self: R, package: str) -> R:
        """Import every public module (name not starting with ``_``) of ``package`` (a dotted
        name), whose decorators register into this registry. Returns ``self``."""
        pkg = importlib.import_module(package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{package}.{mod.name}")
        return self

    def freeze(self: R) -> R:
        """End registration (adding raises afterwards). Returns ``self``."""
        self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def copy(self: R) -> R:
        """An unfrozen copy with the same items: a test can add to it without touching
        ``self``."""
        new = _copy.copy(self)
        new._items = dict(self._items)
        new._frozen = False
        return new

    # -- lookup ---------------------------------------------------------------------------
    def get(self, name: str) -> T:
        """The item registered as ``name``.

        Raises:
            InvalidParameterError: no such name; the message lists the names and suggests the
                closest one.
        """
        if name not in self._items:
            raise InvalidParameterError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}."
                + did_you_mean(name, self._items)
            )
        return self._items[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def as_dict(self) -> dict[str, T]:
        """``{name: item}`` in sorted name order (a copy)."""
        return {n: self._items[n] for n in self.names()}

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        """The items (not the names), in sorted name order."""
        return iter([self._items[n] for n in self.names()])

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        state = "frozen" if self._frozen else "open"
        return f"<{type(self).__name__} of {len(self)} {self.kind}(s), {state}>"


__all__ = ["Registry"]
