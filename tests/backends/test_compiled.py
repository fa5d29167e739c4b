"""torch.compile as an optimisation that never fails a run."""

from __future__ import annotations

import pytest
import torch

from miakit.backends.compiled import CudaCompiled


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
