"""``torch.compile`` as an optimisation that can never fail a run.

:class:`CudaCompiled` wraps a pure tensor function: on CUDA inputs it runs the function compiled
by ``torch.compile(dynamic=True)`` (one fused kernel instead of one kernel per operation, so
each operand is read about once); on CPU, and for the rest of the process after any
compilation failure (no Triton, an unsupported GPU), it runs the function eagerly. Both give
the same numbers up to floating-point rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


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
            self._compiled = torch.compile(self.fn, dynamic=True)
        try:
            return self._compiled(first, *args)
        except Exception:  # compilation is an optimisation, never a failure of the run
            self.failed = True
            return self.fn(first, *args)
