"""``torch.compile`` as an optimisation that can never fail a run.

:class:`CudaCompiled` wraps a pure tensor function: on CUDA inputs it runs the function compiled
by ``torch.compile(dynamic=True)`` (one fused kernel instead of one kernel per operation, so
each operand is read about once); on CPU, and for the rest of the process after any
compilation failure (no Triton, an unsupported GPU), it runs the function eagerly. Both give
the same numbers up to floating-point rounding.

Compiling costs seconds in every fresh process, even when torch's on-disk caches (Inductor's
FX-graph and Triton kernel caches, on by default) hold the kernels; it saves a few extra
passes over each logits chunk. A job too small to repay it runs eagerly: the forward loop
declares its size (:func:`job_tokens`), and a function not yet compiled in this process is
compiled only when the job's ``tokens x row width`` reaches :data:`MIN_COMPILE_WORK`
(``benchmarks/compile_cost.py`` measures the break-even). ``MIAKIT_COMPILE=always`` or
``never`` overrides the choice (for benchmarks and debugging).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from miakit._core.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


#: ``scored tokens x row width`` (the vocabulary, for logits) from which a job compiles the
#: statistics; below it they run eagerly (see the module docstring). Measured on one H200
#: (torch 2.11, 2026-12-01, ``benchmarks/results/compile_cost_h200.json``): the first call
#: costs 9.3 s with warm on-disk caches (14.7 s cold) and saves 2.0 ns per token at a 50,304
#: vocabulary (eager 2.35, compiled 0.35), 4.9 ns at 128,256: break-even at 4.6M and 1.8M
#: scored tokens, i.e. about 2.3e11 token x vocabulary entries either way. The 400-text job
#: of issue 15 (87k tokens) saves 9 s by running eagerly.
MIN_COMPILE_WORK = 4_600_000 * 50_304

_job_tokens: ContextVar[int | None] = ContextVar("miakit_job_tokens", default=None)
_MODES = ("auto", "always", "never")


@contextmanager
def job_tokens(n: int) -> Iterator[None]:
    """Declare that the work inside scores ``n`` tokens (the forward loop does, per pass)."""
    token = _job_tokens.set(int(n))
    try:
        yield
    finally:
        _job_tokens.reset(token)


def compile_mode() -> str:
    """``MIAKIT_COMPILE``: ``auto`` (default), ``always`` or ``never``."""
    mode = os.environ.get("MIAKIT_COMPILE", "auto").strip().lower() or "auto"
    if mode not in _MODES:
        raise ValueError(f"MIAKIT_COMPILE must be one of {', '.join(_MODES)}, got {mode!r}")
    return mode


def worth_compiling(tokens: int | None, width: int, mode: str = "auto") -> bool:
    """Whether a job of ``tokens`` scored tokens over rows of ``width`` values repays
    compiling (``tokens`` ``None``: the size is unknown, so compile)."""
    if mode != "auto":
        return mode == "always"
    return tokens is None or tokens * width >= MIN_COMPILE_WORK


class CudaCompiled:
    """``fn`` compiled on CUDA, eager elsewhere (see the module docstring)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self._compiled: Callable[..., Any] | None = None
        self.failed = False

    def __call__(self, first: torch.Tensor, *args: Any) -> Any:
        if not first.is_cuda or self.failed:
            return self.fn(first, *args)
        if self._compiled is None:
            width = int(first.shape[-1]) if first.dim() else 1
            if not worth_compiling(_job_tokens.get(), width, compile_mode()):
                return self.fn(first, *args)  # too small a job to repay compiling
            self._compiled = torch.compile(self.fn, dynamic=True)
        try:
            return self._compiled(first, *args)
        except Exception:  # compilation is an optimisation, never a failure of the run
            self.failed = True
            return self.fn(first, *args)
