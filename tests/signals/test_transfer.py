"""Deferred host copies and the one-unit-deep pipeline of the engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miakit.backends.transfer import to_device
from miakit.signals.prepare import ScoringInput
from miakit.signals.transfer import ScoredUnit, run_pipeline


def _inputs(lengths, first=1):
    return [ScoringInput(tuple(range(n)), first, n, False) for n in lengths]


def test_scored_unit_splits_per_input_in_order():
    inputs = _inputs([3, 1, 4])  # 2, 0 and 3 scored tokens
    values = torch.arange(5, dtype=torch.float32)
    unit = ScoredUnit({"a": [values[:2], values[2:]], "b": [values * 2]}, inputs)
    rows = unit.result()
    assert [r["a"].tolist() for r in rows] == [[0, 1], [], [2, 3, 4]]
    assert [r["b"].tolist() for r in rows] == [[0, 2], [], [4, 6, 8]]
    assert all(r["a"].dtype == np.float32 for r in rows)


def test_scored_unit_refuses_a_count_mismatch():
    with pytest.raises(RuntimeError, match="4 values of 'a' for 5 scored tokens"):
        ScoredUnit({"a": [torch.zeros(4)]}, _inputs([3, 1, 4]))


def test_scored_unit_without_chunks_is_empty_per_input():
    rows = ScoredUnit({"a": []}, _inputs([1, 1])).result()
    assert [len(r["a"]) for r in rows] == [0, 0]


def test_to_device_on_cpu_is_a_plain_copy():
    t = torch.arange(3)
    assert to_device(t, torch.device("cpu")) is t


def test_pipeline_launches_the_next_unit_before_reading_results():
    events: list[str] = []

    class Probe(ScoredUnit):
        def __init__(self, tag, parts, inputs):
            events.append(f"launch {tag}")
            self.tag = tag
            super().__init__(parts, inputs)

        def result(self):
            events.append(f"read {self.tag}")
            return super().result()

    inputs = _inputs([2, 3, 2])
    units = [[0], [1], [2]]

    def score(unit):
        return Probe(unit[0].n_text_tokens, {"x": [torch.zeros(len(unit[0].ids) - 1)]}, unit)

    (rows,) = run_pipeline(
        inputs, units, lambda u: [score(u)], n_tables=1, progress=False, desc="t"
    )
    assert events == ["launch 2", "launch 3", "read 2", "launch 2", "read 3", "read 2"]
    assert [len(r.stats["x"]) for r in rows] == [1, 2, 1]
