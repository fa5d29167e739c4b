"""How forward units become tensors: packed rows, right-padded batches, and the predicting
positions of scored tokens (never a cross-sample or padding position)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from miakit.backends.transfer import to_device


@dataclass(frozen=True)
class ScoringInput:
    """One tokenized input: ``ids`` are fed to the model; tokens ``ids[first_scored:]`` are
    scored (each predicted from the position before it)."""

    ids: tuple[int, ...]
    first_scored: int
    n_text_tokens: int
    truncated: bool


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


def select(
    hidden: torch.Tensor, ids: torch.Tensor, rows: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states at flat positions ``rows`` of ``hidden`` (shape ``(T_all, d)``) and their
    targets (the target of position ``r`` is ``ids[r + 1]``): shapes ``(N, d)`` and ``(N,)``."""
    device = hidden.device
    index = to_device(torch.from_numpy(np.asarray(rows, dtype=np.int64)), device)
    return hidden.index_select(0, index), to_device(ids, device).index_select(0, index + 1)


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
