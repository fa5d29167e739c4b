"""The forward loop's pipeline: units launched one ahead of the reading of their results.

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

On the CPU both are plain synchronous copies. :func:`run_pipeline` is the loop itself, shared
by the plain and paired engines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
from tqdm.auto import tqdm

from miakit._core.lazy import lazy_module
from miakit.backends.compiled import job_tokens
from miakit.signals.cache import CachedRow
from miakit.signals.prepare import ScoringInput

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


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


def run_pipeline(
    inputs: Sequence[ScoringInput],
    units: Sequence[Sequence[int]],
    score_unit: Callable[[list[ScoringInput]], Sequence[ScoredUnit]],
    *,
    n_tables: int,
    progress: bool,
    desc: str,
) -> list[list[CachedRow]]:
    """``score_unit`` over each unit of ``inputs`` (with a progress bar when ``progress``);
    each unit feeds ``n_tables`` tables (``score_unit`` returns one :class:`ScoredUnit` per
    table). Returns one list of rows per table, one row per input, in input order.

    A one-unit-deep pipeline (see the module docstring): unit ``i + 1`` is launched before
    unit ``i``'s statistics are read back, so the GPU never waits for the host.
    """
    empty: list[dict[str, np.ndarray] | None] = [None] * len(inputs)
    tables = [list(empty) for _ in range(n_tables)]
    total = sum(len(x.ids) for x in inputs)

    def finish(unit: Sequence[int], scored: Sequence[ScoredUnit]) -> None:
        for table, part in zip(tables, scored, strict=True):
            for i, row in zip(unit, part.result(), strict=True):
                table[i] = row
        bar.update(sum(len(inputs[i].ids) for i in unit))

    scored = sum(len(x.ids) - x.first_scored for x in inputs)
    bar_ = tqdm(total=total, desc=desc, unit="tok", disable=not progress, leave=False)
    with job_tokens(scored), bar_ as bar:  # a small job runs the statistics eagerly
        pending: tuple[Sequence[int], Sequence[ScoredUnit]] | None = None
        for unit in units:
            launched = score_unit([inputs[i] for i in unit])
            if pending is not None:
                finish(*pending)
            pending = (unit, launched)
        if pending is not None:
            finish(*pending)
    out = []
    for table in tables:
        rows = []
        for x, r in zip(inputs, table, strict=True):
            assert r is not None
            rows.append(CachedRow(stats=r, n_text_tokens=x.n_text_tokens, truncated=x.truncated))
        out.append(rows)
    return out
