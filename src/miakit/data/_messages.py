"""Small helpers that format error messages for the data package."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def listing(items: Sequence[str], *, limit: int = 10) -> str:
    """Join up to ``limit`` items with "; " and say how many more were left out."""
    shown = "; ".join(items[:limit])
    more = f"; and {len(items) - limit} more" if len(items) > limit else ""
    return shown + more


def quoted(names: Sequence[str]) -> str:
    """``['a', 'b']`` -> ``"'a', 'b'"``, or ``"none"`` for an empty sequence."""
    return ", ".join(repr(n) for n in names) if names else "none"


def json_type(value: Any) -> str:
    """The JSON name of a Python value's type, as a user who wrote the file would say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"
