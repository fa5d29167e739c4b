"""Input checks of :func:`miakit.blind.run_blind_baselines`: baseline names and labels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from miakit.blind._registry import BaselineRegistry
from miakit.data.schema import Label
from miakit.errors import InvalidParameterError

_CODES = {Label.MEMBER: 1, Label.NONMEMBER: 0, Label.UNKNOWN: -1}


def check_names(registry: BaselineRegistry, names: Sequence[str] | None) -> list[str]:
    if names is None:
        chosen = registry.names()
    else:
        if isinstance(names, str):
            raise InvalidParameterError(
                f"names must be a list of baseline names, not the string {names!r}."
            )
        chosen = [registry.get(name).name for name in names]
        repeated = sorted({n for n in chosen if chosen.count(n) > 1})
        if repeated:
            raise InvalidParameterError(f"blind baselines named more than once: {repeated}.")
    if not chosen:
        raise InvalidParameterError("no blind baselines to run: names is empty.")
    return chosen


def label_codes(labels: ArrayLike) -> np.ndarray:
    """``(n_samples,)`` int64 labels 1 / 0 / -1 from ints or :class:`Label` values."""
    seq: list[Any] = (
        labels.tolist() if isinstance(labels, np.ndarray) else list(cast(Iterable[Any], labels))
    )
    if any(isinstance(v, Label) for v in seq):
        try:
            return np.array([_CODES[Label.parse(v)] for v in seq], dtype=np.int64)
        except Exception as exc:
            raise InvalidParameterError(f"invalid labels: {exc}") from exc
    arr = np.asarray(seq)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.number)):
        raise InvalidParameterError(
            "labels must be a 1-D sequence of 1 (member), 0 (non-member) and -1 (unknown)."
        )
    if arr.size and not np.all(np.isin(arr, (-1, 0, 1))):
        found = sorted({float(v) for v in np.unique(arr)} - {-1.0, 0.0, 1.0})[:5]
        raise InvalidParameterError(
            f"labels must be 1 (member), 0 (non-member) or -1 (unknown); found {found}."
        )
    return arr.astype(np.int64)
