"""Row-blocked statistics on the CPU equal the statistics of the whole chunk."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import miakit.signals.stats as stats_module
from miakit.signals.paired import LOGIT_PAIRED_STATS as PAIRED_STATS
from miakit.signals.paired import paired_token_stats, paired_token_stats_fast
from miakit.signals.spec import TOKEN_STATS
from miakit.signals.stats import in_row_blocks, token_stats, token_stats_fast


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 23), vocab=st.integers(2, 40), block=st.integers(1, 2000))
def test_blocks_equal_the_whole(n, vocab, block):
    g = torch.Generator().manual_seed(n * 100 + vocab)
    logits = torch.randn(n, vocab, generator=g) * 4
    logits[:, 0] = -torch.inf  # a masked entry: blocks must handle it like the whole
    targets = torch.randint(1, vocab, (n,), generator=g)
    names = [s for s in TOKEN_STATS if s != "token_id"]
    whole = token_stats(logits, targets, names)
    original = stats_module.CPU_BLOCK_BYTES
    stats_module.CPU_BLOCK_BYTES = block
    try:
        blocked = token_stats_fast(logits, targets, names)
        paired = paired_token_stats_fast(logits, logits.flip(0), PAIRED_STATS)
    finally:
        stats_module.CPU_BLOCK_BYTES = original
    for name in names:
        torch.testing.assert_close(blocked[name], whole[name], equal_nan=True)
    expected = paired_token_stats(logits, logits.flip(0), PAIRED_STATS)
    for name in PAIRED_STATS:
        torch.testing.assert_close(paired[name], expected[name], equal_nan=True)


def test_block_rows_follow_the_byte_budget(monkeypatch):
    monkeypatch.setattr(stats_module, "CPU_BLOCK_BYTES", 3 * 10 * 4)  # three rows of 10 floats
    seen = []

    def record(a, b):
        seen.append(a.shape[0])
        return {"x": a.sum(dim=1)}

    out = in_row_blocks(record, torch.ones(8, 10), torch.ones(8, dtype=torch.long))
    assert seen == [3, 3, 2]
    torch.testing.assert_close(out["x"], torch.full((8,), 10.0))


def test_blocks_refuse_nothing_on_empty_input():
    out = token_stats_fast(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long), ["token_log_prob"])
    assert out["token_log_prob"].shape == (0,)


@pytest.mark.parametrize("vocab", [49152, 128256])
def test_default_budget_keeps_a_few_rows(vocab):
    rows = stats_module.CPU_BLOCK_BYTES // (vocab * 4)
    assert 2 <= rows <= 16
