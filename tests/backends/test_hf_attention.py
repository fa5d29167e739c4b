"""Packed attention pieces: the exact merge of prefix reuse and grouped-query heads."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from miakit.backends.hf.attention import merge_partial_attention, prefix_merge_available


def _attention(q, k, v, mask=None):
    """Reference attention written out: output (T, H, D) and natural-log normaliser (T, H)."""
    scores = torch.einsum("thd,shd->ths", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, :], -math.inf)
    lse = torch.logsumexp(scores, dim=-1)
    out = torch.einsum("ths,shd->thd", torch.softmax(scores, dim=-1), v)
    return out, lse


@settings(max_examples=25, deadline=None)
@given(
    n_q=st.integers(1, 9),
    n_prefix=st.integers(1, 7),
    seed=st.integers(0, 2**16),
    spread=st.floats(0.1, 30.0),
)
def test_merge_equals_attention_over_the_union_of_keys(n_q, n_prefix, seed, spread):
    g = torch.Generator().manual_seed(seed)
    heads, dim = 3, 8
    q = torch.randn(n_q, heads, dim, generator=g, dtype=torch.float64) * spread
    kp = torch.randn(n_prefix, heads, dim, generator=g, dtype=torch.float64)
    vp = torch.randn(n_prefix, heads, dim, generator=g, dtype=torch.float64)
    ko = torch.randn(n_q, heads, dim, generator=g, dtype=torch.float64)
    vo = torch.randn(n_q, heads, dim, generator=g, dtype=torch.float64)
    causal = torch.ones(n_q, n_q, dtype=torch.bool).tril()
    o1, lse1 = _attention(q, kp, vp)
    o2, lse2 = _attention(q, ko, vo, causal)
    merged = merge_partial_attention(o1, lse1, o2, lse2)
    full_mask = torch.cat([torch.ones(n_q, n_prefix, dtype=torch.bool), causal], dim=1)
    expected, _ = _attention(q, torch.cat([kp, ko]), torch.cat([vp, vo]), full_mask)
    # the merge computes in fp32 and returns o1's dtype
    assert merged.dtype == torch.float64
    torch.testing.assert_close(merged, expected, rtol=1e-5, atol=1e-5)


def test_merge_keeps_half_precision_dtype():
    o = torch.randn(4, 2, 8, dtype=torch.bfloat16)
    lse = torch.zeros(4, 2)
    out = merge_partial_attention(o, lse, o, lse)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, o)  # equal parts, equal weights


def test_merge_path_only_on_cuda_half_precision():
    assert not prefix_merge_available(torch.device("cpu"), torch.bfloat16)
    assert not prefix_merge_available(torch.device("cuda"), torch.float32)


def test_grouped_heads_repeated_unless_the_kernel_takes_them(monkeypatch):
    import miakit.backends.hf.attention as packed

    k = torch.randn(5, 2, 8)
    v = torch.randn(5, 2, 8)
    monkeypatch.setattr(packed, "_varlen_params", lambda: frozenset({"window_size"}))
    monkeypatch.setattr(packed, "_NATIVE_GQA", False)
    kwargs, (rk, rv) = packed._gqa_args(6, k, v)
    assert kwargs == {} and rk.shape == (5, 6, 8)
    torch.testing.assert_close(rk[:, 0:3], k[:, :1].expand(5, 3, 8))  # query group of head 0
    torch.testing.assert_close(rv[:, 3:6], v[:, 1:].expand(5, 3, 8))
    monkeypatch.setattr(packed, "_NATIVE_GQA", True)
    kwargs, (nk, nv) = packed._gqa_args(6, k, v)
    assert kwargs == {} and nk is k and nv is v
    monkeypatch.setattr(packed, "_varlen_params", lambda: frozenset({"enable_gqa"}))
    monkeypatch.setattr(packed, "_NATIVE_GQA", False)
    kwargs, (nk, _) = packed._gqa_args(6, k, v)
    assert kwargs == {"enable_gqa": True} and nk is k
    assert packed._gqa_args(2, k, v) == ({}, (k, v))  # heads match: nothing to do


def test_native_gqa_probe_is_never_used_on_cpu():
    from miakit.backends.hf.attention import probe_native_gqa

    assert probe_native_gqa(torch.device("cpu")) is False
