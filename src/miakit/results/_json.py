"""``metrics.json``'s text, and the plain JSON values a run record holds (private).

A record keeps its metrics as exactly what ``metrics.json`` holds: ``str``, ``int``, ``float``
(NaN and infinities included), ``bool``, ``None``, lists and string-keyed dicts. Numpy
scalars, :class:`~miakit.data.Label` members, tuples and non-string keys of the pipeline's
dicts are turned into those by one pass through the JSON encoder, so the report rendered from
the record in memory and the report rendered later from the written files see the same values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from miakit.data import Label


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Label):
        return obj.value
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def metrics_text(metrics: Mapping[str, Any]) -> str:
    """The text of ``metrics.json``: indented by 2, NaN written as ``NaN``, a final newline."""
    return json.dumps(metrics, indent=2, default=_default, allow_nan=True) + "\n"


def plain(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics`` as the plain values ``json.loads`` gives back for :func:`metrics_text`."""
    out = json.loads(json.dumps(metrics, default=_default, allow_nan=True))
    if not isinstance(out, dict):  # pragma: no cover - a Mapping always encodes as an object
        raise TypeError("metrics must be a mapping")
    return out
