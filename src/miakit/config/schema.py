"""The machinery of a settings schema: one declaration per setting, everything else derived.

A setting is a dataclass field declared with :func:`setting`: its type annotation, its default
and a :class:`Setting` in the field's metadata (help text, flag, constraints, YAML group,
example). From that one declaration come the YAML key (the field name, also accepted inside
its group: ``engine: {batch_tokens: 8192}``), the command-line flag (``--batch-tokens``,
:mod:`miakit.cli.flags`), the default, the check of every value and its error message, and
the attribute documentation of the class.

A value is checked in two steps, both before anything runs: its *type* (normalised: a
comma-separated string becomes a tuple, an int a float), then its *constraint* (a range such
as ``ge=2`` or a set of choices). A problem is a message that names the key, what it takes,
what arrived and an example; nothing falls back to a default silently.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Metadata key under which a field's :class:`Setting` is stored.
META = "miakit"


@dataclass(frozen=True)
class Setting:
    """What the schema knows about one setting beyond its type and default.

    Attributes:
        help: one sentence or two: what the setting does (the flag's help and the docs).
        group: the YAML section it may also be written in (``engine``, ``inputs``...) and
            the ``--help`` section its flag is listed in; ``None``: top level only.
        flag: the command-line option; ``""`` derives it from the name (``--max-length``,
            ``--no-progress`` for a boolean that defaults to true); ``None``: YAML only.
        off_help: the help of a ``--no-...`` flag (a boolean that defaults to true).
        metavar: the flag's value placeholder in ``--help``.
        example: a YAML value for error messages (default: the default value).
        ge / gt / le / lt: bounds of a number.
        choices: the values a string may take.
        pattern: a regular expression a string must match in full, with ``pattern_what``
            saying in words what it means.
        items: what a list setting holds, in words (``attack names``).
        repeat: the flag of a list setting may be given several times, each adding to the list
            (``--plugin a --plugin b``; a comma-separated value adds each name).
    """

    help: str
    group: str | None = None
    flag: str | None = ""
    off_help: str | None = None
    metavar: str | None = None
    example: str | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    pattern_what: str | None = None
    items: str = "names"
    repeat: bool = False


def setting(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Callable[[], Any] | None = None,
    **meta: Any,
) -> Any:
    """A dataclass field carrying a :class:`Setting` (keyword arguments of :class:`Setting`)."""
    metadata = {META: Setting(**meta)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Key:
    """One key of a schema: its name, resolved type and :class:`Setting`."""

    name: str
    hint: Any
    setting: Setting
    default: Any

    @property
    def optional(self) -> bool:
        return type(None) in typing.get_args(self.hint)

    @property
    def base(self) -> Any:
        """The annotation without ``| None``."""
        args = typing.get_args(self.hint)
        if self.optional:
            return next(a for a in args if a is not type(None))
        return self.hint

    @property
    def flag(self) -> str | None:
        if self.setting.flag is None:
            return None
        if self.setting.flag:
            return self.setting.flag
        if self.base is bool and self.default is True:
            return "--no-" + self.name.replace("_", "-")
        return "--" + self.name.replace("_", "-")


def keys_of(cls: type) -> dict[str, Key]:
    """The :class:`Key` of each field of schema class ``cls`` declared with :func:`setting`."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if META not in f.metadata:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        out[f.name] = Key(f.name, hints[f.name], f.metadata[META], default)
    return out


def _is_mapping(base: Any) -> bool:
    return base is Mapping or typing.get_origin(base) in (Mapping, dict)


def normalise(key: Key, value: Any) -> tuple[bool, Any]:
    """``(type ok, normalised value)`` of ``value`` for ``key`` (mappings are left to the
    caller's own check; a comma-separated string becomes a tuple)."""
    if value is None:
        return key.optional, None
    base = key.base
    if typing.get_origin(base) is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            return False, value
        return True, tuple(value)
    if _is_mapping(base):
        return isinstance(value, Mapping), value
    if base is bool:
        return isinstance(value, bool), value
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if base is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if base is str:
        if isinstance(value, Path):
            value = str(value)
        return isinstance(value, str), value
    return True, value


def _bounds(s: Setting) -> str:
    """``>= 2``, ``in (0, 1)``, ``in [0, 1]``... or ``""`` without bounds."""
    low = (s.ge, "[") if s.ge is not None else (s.gt, "(") if s.gt is not None else None
    high = (s.le, "]") if s.le is not None else (s.lt, ")") if s.lt is not None else None
    if low and high:
        return f"in {low[1]}{low[0]:g}, {high[0]:g}{high[1]}"
    if low:
        return f"{'>=' if low[1] == '[' else '>'} {low[0]:g}"
    if high:
        return f"{'<=' if high[1] == ']' else '<'} {high[0]:g}"
    return ""


def describe(key: Key) -> str:
    """What ``key`` takes, in words: ``an integer >= 2``, ``one of 'auto', 'packed'``..."""
    base, s = key.base, key.setting
    if typing.get_origin(base) is tuple:
        what = f"a list of {s.items} (or one comma-separated string)"
    elif _is_mapping(base):
        what = "a mapping of attack name to {hyperparameter: value}"
    elif base is bool:
        what = "true or false"
    elif base is int:
        what = "an integer"
    elif base is float:
        what = "a number"
    elif s.choices:
        what = "one of " + ", ".join(repr(c) for c in s.choices)
    elif base is str:
        what = "a string (a path or name)" if key.optional else "a string"
    else:
        what = f"a {getattr(base, '__name__', base)}"
    bounds = _bounds(s)
    if bounds and base in (int, float):
        what += " " + bounds
    if s.pattern_what:
        what += f" ({s.pattern_what})"
    if key.optional:
        what += ", or null for the default"
    return what


def example(key: Key) -> str:
    """A YAML line that sets ``key`` well, for error messages."""
    if key.setting.example is not None:
        value = key.setting.example
    elif key.base is bool:
        value = "true"
    elif key.default is not None and not isinstance(key.default, Mapping):
        value = yaml.safe_dump(key.default, default_flow_style=True).strip()
        value = value.removesuffix("...").strip()
    else:
        value = "path/to/it" if key.base is str else "1"
    return f"{key.name}: {value}"


def type_problem(key: Key, value: Any) -> str:
    """``max_length: expected an integer >= 2, got 'lots' (str); e.g. max_length: 2048``."""
    return (
        f"{key.name}: expected {describe(key)}, got {value!r} ({type(value).__name__}); "
        f"e.g. {example(key)}"
    )


def constraint_problem(key: Key, value: Any) -> str | None:
    """The message when a well-typed ``value`` breaks ``key``'s constraint, else ``None``:
    ``batch_tokens must be an integer >= 1, got 0; e.g. batch_tokens: 16384``."""
    s = key.setting
    if value is None:
        return None
    bad = False
    if isinstance(value, int | float) and not isinstance(value, bool):
        bad = (
            (s.ge is not None and value < s.ge)
            or (s.gt is not None and value <= s.gt)
            or (s.le is not None and value > s.le)
            or (s.lt is not None and value >= s.lt)
        )
    if isinstance(value, str):
        bad = (s.choices is not None and value not in s.choices) or (
            s.pattern is not None and re.fullmatch(s.pattern, value) is None
        )
    if not bad:
        return None
    what = describe(key).removesuffix(", or null for the default")
    return f"{key.name} must be {what}, got {value!r}; e.g. {example(key)}"


def attributes_doc(keys: Mapping[str, Key]) -> str:
    """A Google-style ``Attributes:`` section from the keys' help (for ``__doc__``)."""
    lines = ["", "    Attributes:"]
    for key in keys.values():
        lines.append(f"        {key.name}: {key.setting.help}")
    return "\n".join(lines) + "\n"
