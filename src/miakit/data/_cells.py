"""Conversions of single input cells: ids, optional strings, texts and metadata values."""

from __future__ import annotations

import datetime
import math
from typing import Any

from miakit.data._messages import json_type

MISSING: Any = object()
"""Stands for a key absent from a row (JSON rows need not all have the same keys)."""


def text_problem(text: Any) -> str | None:
    """The problem kind of a text cell, or ``None`` if it is a usable text."""
    if not isinstance(text, str):
        return "type"
    if not text.strip():
        return "empty"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. from a "\ud800" escape in JSON
        return "unicode"
    return None


def describe(value: Any) -> str:
    """How a bad cell looks to the user who wrote it: "missing", "empty", "null", ..."""
    if value is MISSING:
        return "missing"
    if isinstance(value, str) and not value:
        return "empty"
    return json_type(value)


def is_null(value: Any) -> bool:
    """Whether a cell holds no value: null, or NaN (how pandas writes missing values)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def to_id(value: Any) -> str | None:
    """An id cell as ``str``, or ``None`` if it cannot serve as an id."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    return None


def to_opt_str(value: Any) -> str | None:
    """A group or doc_id cell as ``str``; empty, null and NaN cells are ``None``."""
    if is_null(value) or (isinstance(value, str) and not value):
        return None
    return str(value)


def jsonable(value: Any) -> Any:
    """A JSON-compatible copy of a cell (see :func:`miakit.data.loaders.load_samples`)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        return jsonable(tolist())
    return str(value)
