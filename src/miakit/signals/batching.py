"""Step 2 of the forward loop, *batch*: which inputs share one forward pass, and its tensors.

Two layouts of forward units, chosen once per context (:func:`use_packing`):

- *padded batches* (:func:`padded_batches`): inputs sorted by length, longest first (ties by
  position, so the grouping is deterministic), right-padded (:func:`right_padded`), at most
  ``batch_tokens`` padded tokens per batch (an input longer than that gets its own);
- *packed rows* (:func:`pack_rows`): padding-free rows of at most ``batch_tokens`` tokens
  (:func:`packed_layout`), scored with varlen attention where the backend has the ``packed``
  capability (:class:`~miakit.backends.base.PackedScorer`). Both give the same numbers up to
  kernel rounding.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from miakit._core.lazy import lazy_module
from miakit.errors import InvalidParameterError
from miakit.signals.prepare import ScoringInput

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

PACKING_MODES = ("auto", "packed", "padded")


def use_packing(mode: str, *, packs: bool, on_cuda: bool, name: str) -> bool:
    """Whether units are packed rows: ``padded`` never; ``packed`` always (an error for a
    backend without the ``packed`` capability, ``packs``); ``auto`` on CUDA where it packs.

    Raises:
        InvalidParameterError: ``packed`` for a model that is not known to pack correctly.
    """
    if mode == "padded":
        return False
    if mode == "packed":
        if not packs:
            raise InvalidParameterError(
                f"packing='packed': model {name!r} is not known to pack "
                "correctly; use packing='padded' (or 'auto')"
            )
        return True
    return packs and on_cuda


def padded_batches(inputs: Sequence[ScoringInput], batch_tokens: int) -> Iterator[list[int]]:
    """Indices of inputs, longest first, grouped to at most ``batch_tokens`` padded tokens."""
    order = sorted(range(len(inputs)), key=lambda i: (-len(inputs[i].ids), i))
    batch: list[int] = []
    width = 0
    for i in order:
        n = len(inputs[i].ids)
        new_width = max(width, n)
        if batch and new_width * (len(batch) + 1) > batch_tokens:
            yield batch
            batch, new_width = [], n
        batch.append(i)
        width = new_width
    if batch:
        yield batch


def pack_rows(lengths: Sequence[int], row_tokens: int) -> list[list[int]]:
    """Deterministic first-fit-decreasing packing of sample indices into rows.

    Samples are taken longest first (ties by index); each goes into the first row with room.
    A sample longer than ``row_tokens`` gets a row of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    rows: list[list[int]] = []
    room: list[int] = []
    for i in order:
        n = lengths[i]
        for r, free in enumerate(room):
            if n <= free:
                rows[r].append(i)
                room[r] -= n
                break
        else:
            rows.append([i])
            room.append(max(0, row_tokens - n))
    return rows


def units(
    inputs: Sequence[ScoringInput], batch_tokens: int, *, packed: bool, skip: int = 0
) -> list[list[int]]:
    """Input indices grouped into forward units: packed rows or padded batches.

    ``skip``: leading tokens of every input that a reused prefix provides (they take no room
    in a packed row; padded batches are measured in full, as they always were).
    """
    if packed:
        return pack_rows([len(x.ids) - skip for x in inputs], batch_tokens)
    return list(padded_batches(inputs, batch_tokens))


def after_head(inputs: Sequence[ScoringInput], head_len: int) -> list[ScoringInput]:
    """The inputs seen from the last head token on: every remaining token is scored."""
    return [
        ScoringInput(
            ids=x.ids[head_len - 1 :],
            first_scored=1,
            n_text_tokens=x.n_text_tokens,
            truncated=x.truncated,
        )
        for x in inputs
    ]


def right_padded(seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded int64 ids ``(B, W)`` (pad 0) and their 0/1 mask."""
    lengths = np.array([len(s) for s in seqs])
    width = int(lengths.max())
    mask = np.arange(width)[None, :] < lengths[:, None]
    ids = np.zeros((len(seqs), width), dtype=np.int64)
    ids[mask] = np.fromiter(itertools.chain.from_iterable(seqs), np.int64, int(lengths.sum()))
    return torch.from_numpy(ids), torch.from_numpy(mask.astype(np.int64))


def packed_layout(
    seqs: Sequence[Sequence[int]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One packed row: flat int64 ids ``(T,)``, positions restarting at 0 per sequence
    ``(T,)`` and int32 boundaries ``cu_seqlens`` ``(n + 1,)``."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    cu = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=cu[1:])
    flat = np.fromiter(itertools.chain.from_iterable(seqs), np.int64, int(cu[-1]))
    positions = np.arange(int(cu[-1])) - np.repeat(cu[:-1], lengths)
    return (
        torch.from_numpy(flat),
        torch.from_numpy(positions),
        torch.from_numpy(cu.astype(np.int32)),
    )
