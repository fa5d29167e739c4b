"""The deferred results of a forward unit, copied to the host without stalling the GPU.

The engine runs its forward units (packed rows or padded batches) as a one-unit-deep pipeline:
it launches unit ``i + 1`` before it reads unit ``i``'s statistics back, so the GPU has queued
work while the host builds the next unit's inputs and splits the previous results. Two things
would silently serialise that pipeline, and both are avoided:

- a host-to-device copy from pageable memory (``tensor.to("cuda")``) waits for every kernel
  already queued on the stream; :func:`~miakit.backends.transfer.to_device` copies from
  pinned memory, asynchronously;
- a device-to-host copy issued *after* the next unit's kernels (``.cpu()``) waits for them
  too; :class:`ScoredUnit` queues its copy into pinned memory right after the unit's own
  kernels and records an event, and :meth:`ScoredUnit.result` waits on that event only.

On the CPU both are plain synchronous copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import torch


class _Scored(Protocol):
    @property
    def ids(self) -> Sequence[int]: ...

    @property
    def first_scored(self) -> int: ...


class ScoredUnit:
    """Per-token statistics of one forward unit, on their way to the host.

    Args:
        parts: statistic -> chunks of shape ``(C_j,)`` that together cover every scored token
            of ``inputs`` in order (on any device).
        inputs: input ``x`` owns ``len(x.ids) - x.first_scored`` of those tokens.
    """

    def __init__(
        self, parts: Mapping[str, Sequence[torch.Tensor]], inputs: Sequence[_Scored]
    ) -> None:
        self._counts = [max(0, len(x.ids) - x.first_scored) for x in inputs]
        self._event: torch.cuda.Event | None = None
        self._host: dict[str, torch.Tensor] = {}
        for name, chunks in parts.items():
            flat = torch.cat(list(chunks)).float() if chunks else torch.zeros(0)
            if flat.is_cuda:
                host = torch.empty(flat.shape, dtype=torch.float32, pin_memory=True)
                host.copy_(flat, non_blocking=True)
                self._event = torch.cuda.Event()
                self._event.record(torch.cuda.current_stream(flat.device))
                flat = host
            self._host[name] = flat
        total = sum(self._counts)
        for name, flat in self._host.items():
            if flat.shape[0] != total:
                raise RuntimeError(
                    f"internal error: {flat.shape[0]} values of {name!r} for {total} scored tokens"
                )

    def result(self) -> list[dict[str, np.ndarray]]:
        """One dict (statistic -> float32 array of its scored tokens) per input, in order."""
        if self._event is not None:
            self._event.synchronize()
        flat = {name: t.numpy() for name, t in self._host.items()}
        out: list[dict[str, np.ndarray]] = []
        pos = 0
        for n in self._counts:
            out.append({name: v[pos : pos + n].copy() for name, v in flat.items()})
            pos += n
        return out
