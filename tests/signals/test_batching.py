"""The batch step: padded batches, packed rows and the packing choice."""

from __future__ import annotations

import pytest
import torch

from miakit.errors import InvalidParameterError
from miakit.signals.batching import (
    packed_layout,
    padded_batches,
    right_padded,
    units,
    use_packing,
)
from miakit.signals.prepare import ScoringInput


def _inputs(lengths):
    return [ScoringInput(tuple(range(n)), 1, n, False) for n in lengths]


def test_padded_batches_longest_first_within_the_budget():
    inputs = _inputs([3, 8, 3, 5, 20])
    batches = list(padded_batches(inputs, batch_tokens=16))
    assert batches == [[4], [1, 3], [0, 2]]  # ties by position; 20 alone over the budget
    for batch in batches[1:]:
        assert max(len(inputs[i].ids) for i in batch) * len(batch) <= 16


def test_units_skip_the_reused_prefix_only_in_packed_rows():
    inputs = _inputs([6, 6, 6])
    assert units(inputs, 12, packed=True) == [[0, 1], [2]]
    assert units(inputs, 12, packed=True, skip=2) == [[0, 1, 2]]
    assert units(inputs, 12, packed=False, skip=2) == [[0, 1], [2]]


def test_packing_choice():
    assert use_packing("padded", packs=True, on_cuda=True, name="m") is False
    assert use_packing("auto", packs=True, on_cuda=False, name="m") is False
    assert use_packing("auto", packs=True, on_cuda=True, name="m") is True
    assert use_packing("auto", packs=False, on_cuda=True, name="m") is False
    assert use_packing("packed", packs=True, on_cuda=False, name="m") is True
    with pytest.raises(InvalidParameterError, match="'m' is not known to pack"):
        use_packing("packed", packs=False, on_cuda=False, name="m")


def test_unit_tensors():
    ids, mask = right_padded([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    flat, positions, cu = packed_layout([[5, 6, 7], [8, 9]])
    assert flat.tolist() == [5, 6, 7, 8, 9] and positions.tolist() == [0, 1, 2, 0, 1]
    assert cu.dtype == torch.int32 and cu.tolist() == [0, 3, 5]
