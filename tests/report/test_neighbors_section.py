"""The report's setup table names each neighborhood attack's generator, from ``metrics.json``
of either spelling (``auxiliary.neighbors``; ``auxiliary.neighbours`` before issue 11)."""

from __future__ import annotations

import pytest

from miakit.report._context import setup_rows


@pytest.mark.parametrize("key", ["neighbors", "neighbours"])
def test_the_generator_row_reads_both_spellings(key) -> None:
    metrics = {"auxiliary": {key: {"neighborhood": {"generator": "paper (arXiv 2305.18462)"}}}}
    rows = dict(setup_rows(metrics))
    assert rows["Neighbors of 'neighborhood'"] == "paper (arXiv 2305.18462)"
