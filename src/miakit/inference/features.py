"""The feature matrix of dataset inference: every attack score per text, checked.

A row is one text, a column one attack's score (higher = more likely member, miakit's
convention). Missing scores (NaN, an attack that could not score a text) are kept and
imputed inside each fit (:mod:`miakit.inference.combiner`); a feature with no finite value
at all is left out with a note; nothing else is dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miakit.errors import DataError, InvalidParameterError

#: Columns of a scores table that are not features (those of ``miakit run``'s and of
#: ``miakit dataset-inference``'s ``scores.parquet``).
NON_FEATURES = ("id", "label", "set", "fold", "combined_score")


@dataclass(frozen=True)
class Features:
    """Suspect and validation features with their ids.

    Attributes:
        suspect, validation: ``(n_s, f)`` and ``(n_v, f)`` float64, NaN = missing.
        names: the ``f`` feature names.
        suspect_ids, validation_ids: row ids, unique within each set.
        dropped: features left out because no text had a finite value.
        n_missing: feature -> texts without a finite value (over both sets).
    """

    suspect: np.ndarray
    validation: np.ndarray
    names: tuple[str, ...]
    suspect_ids: tuple[str, ...]
    validation_ids: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    n_missing: tuple[tuple[str, int], ...] = ()


def feature_matrix(
    data: Any, names: Sequence[str] | None, which: str
) -> tuple[np.ndarray, list[str]]:
    """A float matrix and its column names from an array or a DataFrame (``names``: the
    columns to take, or the names of an array's columns)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        cols = [c for c in data.columns if c not in NON_FEATURES]
        if names is not None:
            missing = [n for n in names if n not in data.columns]
            if missing:
                raise DataError(
                    f"the {which} scores lack the feature column(s) {missing}; columns found: "
                    f"{list(map(str, data.columns))}. Score both sets with the same attacks."
                )
            cols = list(names)
        bad = [c for c in cols if not pd.api.types.is_numeric_dtype(data[c])]
        if bad:
            raise DataError(
                f"the {which} scores have non-numeric column(s) {bad}: every column other than "
                f"{list(NON_FEATURES)} must be an attack score. Drop those columns."
            )
        return data[cols].to_numpy(dtype=np.float64), [str(c) for c in cols]
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidParameterError(
            f"the {which} features must be a 2-D array (texts, features) or a DataFrame; got "
            f"an array of shape {x.shape}."
        )
    if names is None:
        names = [f"feature_{j}" for j in range(x.shape[1])]
    if len(names) != x.shape[1]:
        raise InvalidParameterError(
            f"{len(names)} feature names for {x.shape[1]} {which} feature columns."
        )
    return x, list(map(str, names))


def _ids(data: Any, given: Sequence[str] | None, n: int, which: str) -> tuple[str, ...]:
    import pandas as pd

    if given is None and isinstance(data, pd.DataFrame) and "id" in data.columns:
        given = [str(v) for v in data["id"]]
    ids = tuple(str(v) for v in given) if given is not None else tuple(map(str, range(n)))
    if len(ids) != n:
        raise InvalidParameterError(f"{len(ids)} {which} ids for {n} {which} rows.")
    if len(set(ids)) != n:
        dup = sorted(i for i, k in Counter(ids).items() if k > 1)
        raise DataError(
            f"duplicate {which} ids: {dup[:10]}. Ids must be unique within each set; rename "
            "them or drop the id column to number the rows."
        )
    return ids


def check_counts(n_suspect: int, n_validation: int, *, min_texts: int = 10) -> None:
    """Raise :class:`DataError` naming the fix when a set has fewer than ``min_texts`` texts."""
    short = [
        f"{n} {w} text{'s' if n != 1 else ''}"
        for w, n in (("suspect", n_suspect), ("validation", n_validation))
        if n < min_texts
    ]
    if short:
        raise DataError(
            f"dataset inference needs at least {min_texts} suspect and {min_texts} validation "
            f"texts; got {' and '.join(short)}. Add texts to the smaller set (--suspect / "
            "--validation): with fewer, no p-value can be small enough to detect anything, "
            "and a few hundred texts per set are typical (see the power curve in "
            "docs/dataset-inference.md)."
        )


def build_features(
    suspect: Any,
    validation: Any,
    *,
    feature_names: Sequence[str] | None = None,
    suspect_ids: Sequence[str] | None = None,
    validation_ids: Sequence[str] | None = None,
    min_texts: int = 10,
) -> Features:
    """Check and align the two feature tables.

    Args:
        suspect, validation: ``(n, f)`` arrays, or DataFrames whose columns other than
            ``id``, ``label`` and ``set`` are features (the validation columns are matched
            to the suspect's by name).
        feature_names: names of the columns (arrays) or the columns to use (DataFrames).
        suspect_ids, validation_ids: row ids (default: a DataFrame's ``id`` column, else
            the row numbers).
        min_texts: fewest texts per set.

    Raises:
        DataError: too few texts, duplicate ids, missing or non-numeric columns, or no
            feature with a finite value; each message names the fix.
        InvalidParameterError: shapes or name counts that do not match.
    """
    import pandas as pd

    xs, names = feature_matrix(suspect, feature_names, "suspect")
    by_name = feature_names is not None or isinstance(suspect, pd.DataFrame)
    xv, vnames = feature_matrix(validation, names if by_name else None, "validation")
    if vnames != names or xv.shape[1] != xs.shape[1]:
        raise InvalidParameterError(
            f"suspect and validation features differ: {names} vs {vnames}. Score both sets "
            "with the same attacks."
        )
    check_counts(xs.shape[0], xv.shape[0], min_texts=min_texts)
    if not names:
        raise DataError("no features: the scores hold no attack column. Run at least one attack.")
    ids_s = _ids(suspect, suspect_ids, xs.shape[0], "suspect")
    ids_v = _ids(validation, validation_ids, xv.shape[0], "validation")
    finite = np.vstack([np.isfinite(xs), np.isfinite(xv)])  # (n_s + n_v, f)
    keep = np.asarray(finite.any(axis=0), dtype=bool)  # (f,)
    dropped = tuple(n for n, k in zip(names, keep.tolist(), strict=True) if not k)
    if not keep.any():
        raise DataError(
            f"no feature has a finite value on any text (all of {names} are NaN): the attacks "
            "could not score these texts. Check the run's NaN reasons (samples.nan)."
        )
    kept = [n for n, k in zip(names, keep.tolist(), strict=True) if k]
    missing = (~finite[:, keep]).sum(axis=0)
    return Features(
        suspect=xs[:, keep],
        validation=xv[:, keep],
        names=tuple(kept),
        suspect_ids=ids_s,
        validation_ids=ids_v,
        dropped=dropped,
        n_missing=tuple((n, int(m)) for n, m in zip(kept, missing, strict=True) if m),
    )
