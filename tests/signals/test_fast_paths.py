"""The fast engine's building blocks: the exact attention merge of prefix reuse, the
deferred host copies and one-unit-deep pipeline, and compile-with-fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from miakit.backends.hf import HFTokenScorer
from miakit.signals._compiled import CudaCompiled
from miakit.signals.engine import ScoringInput, SignalEngine
from miakit.signals.packed import merge_partial_attention, prefix_merge_available
from miakit.signals.transfer import ScoredUnit, to_device
from tinymodels import build_llama, build_tokenizer


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
    tok = build_tokenizer()
    engine = SignalEngine(HFTokenScorer(build_llama(tok.vocab_size), tok), progress=False)
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

    rows = engine.run_units(inputs, units, score, desc="t")
    assert events == ["launch 2", "launch 3", "read 2", "launch 2", "read 3", "read 2"]
    assert [len(r.stats["x"]) for r in rows] == [1, 2, 1]


class _FakeCuda:
    is_cuda = True


def test_compile_failure_falls_back_to_eager_for_good(monkeypatch):
    calls = {"compile": 0}

    def broken_compile(fn, **kwargs):
        calls["compile"] += 1

        def run(*args):
            raise RuntimeError("no triton")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    wrapped = CudaCompiled(lambda x, y: ("eager", y))
    assert wrapped(_FakeCuda(), 1) == ("eager", 1)
    assert wrapped.failed
    assert wrapped(_FakeCuda(), 2) == ("eager", 2)
    assert calls["compile"] == 1


def test_compiled_wrapper_is_eager_on_cpu(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda *a, **k: pytest.fail("compiled on CPU"))
    wrapped = CudaCompiled(lambda x: x + 1)
    torch.testing.assert_close(wrapped(torch.ones(2)), torch.full((2,), 2.0))


def test_grouped_heads_repeated_unless_the_kernel_takes_them(monkeypatch):
    import miakit.signals.packed as packed

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
    from miakit.signals.packed import probe_native_gqa

    assert probe_native_gqa(torch.device("cpu")) is False
