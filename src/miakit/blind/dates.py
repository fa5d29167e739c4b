"""Years and dates in the text + ridge classifier: temporal shift.

Temporal shift is the commonest flaw of member/non-member benchmarks built from a model's
training cut-off (non-members "written after the cut-off" mention later years), so it gets a
baseline of its own that looks at nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from miakit.blind._registry import BlindPipeline, register_baseline

#: Years 1000–2099 as standalone 4-digit numbers (not inside longer digit runs).
_YEAR = re.compile(r"(?<!\d)(1\d{3}|20\d{2})(?!\d)")
#: Capitalised month names and their usual abbreviations ("May" is ambiguous; kept).
_MONTH = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\b"
)
#: Any number: a digit run with optional ``.``/``,`` groups (``3.14``, ``1,000``).
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
#: ISO dates ``YYYY-MM-DD``.
_ISO_DATE = re.compile(r"(?<!\d)(?:1\d{3}|20\d{2})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?!\d)")

FIRST_YEAR, LAST_YEAR = 1000, 2099
N_DECADES = (LAST_YEAR - FIRST_YEAR + 1) // 10  # 110 buckets: 1000–1009, ..., 2090–2099
FEATURE_NAMES = (
    *(f"decade_{FIRST_YEAR + 10 * i}" for i in range(N_DECADES)),
    "n_years",
    "max_year",
    "min_year",
    "mean_year",
    "n_months",
    "n_numbers",
    "n_iso_dates",
)


def date_features(texts: Iterable[str]) -> np.ndarray:
    """Date features of each text.

    Columns (see :data:`FEATURE_NAMES`): counts of years 1000–2099 per decade (110 columns),
    the number of years, their max, min and mean (NaN when the text has no year; the pipeline
    imputes them from the training folds and adds a missing-indicator; with no year in any
    training text at all they become 0), the number of month names, of numbers and of ISO
    dates.

    Args:
        texts: the texts.

    Returns:
        ``(n_texts, len(FEATURE_NAMES))`` float64.
    """
    text_list = list(texts)
    out = np.zeros((len(text_list), len(FEATURE_NAMES)), dtype=np.float64)
    if not text_list:
        return out
    # regexes per text (C), then one vectorised pass: no numpy call per text (issue 15)
    found = [_YEAR.findall(t) for t in text_list]
    per_text = np.array([len(f) for f in found], dtype=np.int64)  # (n_texts,)
    years = np.array([int(y) for f in found for y in f], dtype=np.int64)  # (n_years,)
    owner = np.repeat(np.arange(len(text_list)), per_text)
    decades = owner * N_DECADES + (years - FIRST_YEAR) // 10
    counts = np.bincount(decades, minlength=len(text_list) * N_DECADES)
    out[:, :N_DECADES] = counts.reshape(len(text_list), N_DECADES)
    has = per_text > 0
    out[:, N_DECADES] = per_text
    out[~has, N_DECADES + 1 : N_DECADES + 4] = np.nan
    if years.size:
        start = (np.cumsum(per_text) - per_text)[has]  # first year of each text with years
        out[has, N_DECADES + 1] = np.maximum.reduceat(years, start)
        out[has, N_DECADES + 2] = np.minimum.reduceat(years, start)
        out[has, N_DECADES + 3] = np.add.reduceat(years, start) / per_text[has]
    out[:, N_DECADES + 4] = [len(_MONTH.findall(t)) for t in text_list]
    out[:, N_DECADES + 5] = [len(_NUMBER.findall(t)) for t in text_list]
    out[:, N_DECADES + 6] = [len(_ISO_DATE.findall(t)) for t in text_list]
    return out


@register_baseline("dates", paper="2406.16201")
def dates(*, seed: int) -> BlindPipeline:
    """Years, month names and numbers in the text, and a ridge classifier: temporal shift.

    Features: :func:`date_features` (row-wise, computed once). Per fold: median imputation
    of the year statistics (with missing-indicator columns) and standardisation, then the
    shared ridge classifier (:mod:`miakit.blind._ridge`). Imputer, scaler and classifier are
    fitted on the training folds only. A linear model suffices here: "mentions later years"
    is monotone in the year statistics, and the decade counts let it weigh any decade
    separately.

    Paper: arXiv 2406.16201 (Das, Zhang, Tramèr), whose date attack thresholds the years found
    by a regular expression.

    Args:
        seed: unused (every step is deterministic); part of the factory interface.

    Returns:
        A :class:`~miakit.blind.BlindPipeline`.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    del seed
    transform = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
    )
    return BlindPipeline(featurize=date_features, transform=transform)
