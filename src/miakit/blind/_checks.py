"""Input checks of :func:`miakit.blind.run_blind_baselines`: names, labels, test options."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from miakit.blind._registry import BaselineRegistry
from miakit.data.schema import Label
from miakit.errors import InvalidParameterError

_CODES = {Label.MEMBER: 1, Label.NONMEMBER: 0, Label.UNKNOWN: -1}

#: Label permutations of the family-wise test by default: resolves alpha = 0.05 (smallest
#: p = 0.005); cost measured in benchmarks/README.md.
DEFAULT_PERMUTATIONS = 199
#: Level of the test by default.
DEFAULT_ALPHA = 0.05


def check_test_options(*, n_permutations: object, alpha: object) -> None:
    """Raise :class:`InvalidParameterError` unless the permutation test's options are usable.

    ``n_permutations`` must be an integer >= 0, ``alpha`` a number in (0, 1), and, when the
    test runs, ``alpha`` must be reachable: the smallest p-value is ``1 / (1 +
    n_permutations)``.
    """
    problems = []
    perm_ok = not isinstance(n_permutations, bool) and isinstance(n_permutations, int)
    if not perm_ok or cast(int, n_permutations) < 0:
        problems.append(
            f"blind_permutations must be an integer >= 0 (0: no permutation test; the default "
            f"{DEFAULT_PERMUTATIONS} resolves alpha = 0.05); got {n_permutations!r}."
        )
        perm_ok = False
    alpha_ok = not isinstance(alpha, bool) and isinstance(alpha, int | float)
    if not alpha_ok or not 0.0 < cast(float, alpha) < 1.0:
        problems.append(f"blind_alpha must be a number in (0, 1), e.g. 0.05; got {alpha!r}.")
        alpha_ok = False
    if perm_ok and alpha_ok and n_permutations:
        n_perm, level = cast(int, n_permutations), cast(float, alpha)
        if 1.0 / (1 + n_perm) > level:
            need = math.ceil(1.0 / level) - 1
            problems.append(
                f"blind_alpha = {level:g} cannot be reached with {n_perm} permutations (the "
                f"smallest p-value is 1 / {n_perm + 1} = {1.0 / (1 + n_perm):.3g}); use "
                f"blind_permutations >= {need} or a larger blind_alpha."
            )
    if problems:
        raise InvalidParameterError(" ".join(problems))


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
