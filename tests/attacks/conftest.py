"""Helpers for attack tests: build a :class:`SignalView` from small per-sample lists."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytest

from miakit.attacks import SignalView
from miakit.signals.table import TokenSignals, concat_rows

Rows = Sequence[Sequence[float]]


def table_from_rows(stats: Mapping[str, Rows]) -> TokenSignals:
    """A :class:`TokenSignals` whose sample ``i`` holds ``stats[name][i]`` (float32)."""
    offsets = None
    flat: dict[str, np.ndarray] = {}
    for name, rows in stats.items():
        values, offs = concat_rows([np.asarray(r, dtype=np.float32) for r in rows])
        if offsets is not None and not np.array_equal(offs, offsets):
            raise ValueError(f"stat {name!r} has other per-sample lengths than the first stat")
        offsets = offs
        flat[name] = values.astype(np.float32)
    assert offsets is not None
    n = len(offsets) - 1
    return TokenSignals(
        offsets=offsets,
        stats=flat,
        truncated=np.zeros(n, dtype=bool),
        n_text_tokens=np.diff(offsets) + 1,
    )


def view_from_rows(
    tables: Mapping[str, Mapping[str, Rows]], texts: Sequence[str] | None = None
) -> SignalView:
    """``tables`` maps ``"model/context"`` to ``{stat: per-sample rows}``."""
    built = {}
    for key, stats in tables.items():
        model, context = key.split("/")
        built[(model, context)] = table_from_rows(stats)
    return SignalView(built, texts)


@pytest.fixture(scope="session")
def make_view() -> Callable[..., SignalView]:
    """``make_view(token_log_prob=[[...], ...])`` for target/plain, or
    ``make_view(tables={"target/plain": {...}, "reference/plain": {...}}, texts=[...])``."""

    def make(
        tables: Mapping[str, Mapping[str, Rows]] | None = None,
        texts: Sequence[str] | None = None,
        **plain_stats: Rows,
    ) -> SignalView:
        all_tables = dict(tables or {})
        if plain_stats:
            all_tables["target/plain"] = plain_stats
        return view_from_rows(all_tables, texts)

    return make
