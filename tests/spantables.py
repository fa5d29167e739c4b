"""Hand-built signal tables that record which text tokens and characters they scored."""

from __future__ import annotations

import numpy as np

from miakit.signals.table import TokenSignals, concat_rows


def spans_table(rows, *, n_text, text_start, truncated=None, kept_chars=None) -> TokenSignals:
    """A table whose sample ``i`` scores text tokens from ``text_start[i]`` on: ``rows[i]``."""
    values, offsets = concat_rows([np.asarray(r, dtype=np.float32) for r in rows])
    n = len(rows)
    return TokenSignals(
        offsets=offsets,
        stats={"token_log_prob": values.astype(np.float32)},
        truncated=np.array(truncated or [False] * n, dtype=bool),
        n_text_tokens=np.array(n_text, dtype=np.int64),
        text_start=np.array(text_start, dtype=np.int64),
        kept_chars=None if kept_chars is None else np.array(kept_chars, dtype=np.int64),
    )
