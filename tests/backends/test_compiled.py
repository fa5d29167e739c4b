"""torch.compile as an optimisation that never fails a run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miakit.backends import compiled
from miakit.backends.compiled import MIN_COMPILE_WORK, CudaCompiled, job_tokens, worth_compiling


class _FakeCuda:
    """A CUDA tensor's stand-in: rows of ``width`` values."""

    is_cuda = True

    def __init__(self, width: int = 8) -> None:
        self.shape = (4, width)

    def dim(self) -> int:
        return 2


def _counting_compile(monkeypatch):
    calls = {"compile": 0}

    def fake_compile(fn, **kwargs):
        calls["compile"] += 1
        return lambda *args: ("compiled", *args[1:])

    monkeypatch.setattr(torch, "compile", fake_compile)
    return calls


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


def test_small_job_runs_eagerly_and_large_job_compiles(monkeypatch):
    monkeypatch.delenv("MIAKIT_COMPILE", raising=False)
    calls = _counting_compile(monkeypatch)
    wrapped = CudaCompiled(lambda x, y: ("eager", y))
    width = 1000
    small = MIN_COMPILE_WORK // width - 1
    with job_tokens(small):
        assert wrapped(_FakeCuda(width), 1) == ("eager", 1)
    assert calls["compile"] == 0
    with job_tokens(small + 1):
        assert wrapped(_FakeCuda(width), 2) == ("compiled", 2)
    assert calls["compile"] == 1
    with job_tokens(1):  # compiled once in this process: a small job reuses it for free
        assert wrapped(_FakeCuda(width), 3) == ("compiled", 3)
    assert calls["compile"] == 1


def test_unknown_job_size_compiles(monkeypatch):
    monkeypatch.delenv("MIAKIT_COMPILE", raising=False)
    calls = _counting_compile(monkeypatch)
    assert CudaCompiled(lambda x, y: ("eager", y))(_FakeCuda(), 1) == ("compiled", 1)
    assert calls["compile"] == 1


@pytest.mark.parametrize(("mode", "expected"), [("always", "compiled"), ("never", "eager")])
def test_env_overrides_the_size_rule(monkeypatch, mode, expected):
    monkeypatch.setenv("MIAKIT_COMPILE", mode)
    _counting_compile(monkeypatch)
    with job_tokens(1 if mode == "always" else 10**12):
        assert CudaCompiled(lambda x, y: ("eager", y))(_FakeCuda(), 0)[0] == expected


def test_invalid_env_value_is_an_error_naming_the_choices(monkeypatch):
    monkeypatch.setenv("MIAKIT_COMPILE", "sometimes")
    with pytest.raises(ValueError, match="auto, always, never"):
        compiled.compile_mode()


def test_worth_compiling_is_monotone_in_size():
    sizes = [0, 1, MIN_COMPILE_WORK // 7, MIN_COMPILE_WORK // 7 + 1, 10**12]
    answers = [worth_compiling(n, 7) for n in sizes]
    assert answers == sorted(answers)
    assert answers[0] is False and answers[-1] is True


def test_forward_loop_declares_its_scored_tokens(monkeypatch):
    from miakit.signals import transfer
    from miakit.signals.prepare import ScoringInput

    seen = []

    class Unit:
        def __init__(self, n):
            self.n = n

        def result(self):
            seen.append(compiled._job_tokens.get())
            return [{"x": np.zeros(self.n, dtype=np.float32)}]

    inputs = [ScoringInput(ids=(1, 2, 3, 4), first_scored=1, n_text_tokens=3, truncated=False)]
    inputs.append(ScoringInput(ids=(1, 2), first_scored=1, n_text_tokens=1, truncated=False))
    transfer.run_pipeline(
        inputs,
        [[0], [1]],
        lambda unit: [Unit(len(unit[0].ids) - 1)],
        n_tables=1,
        progress=False,
        desc="t",
    )
    assert seen == [4, 4]  # 3 + 1 scored tokens, the whole pass
    assert compiled._job_tokens.get() is None
