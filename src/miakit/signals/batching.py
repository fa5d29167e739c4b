"""Forward units: which inputs share one forward pass (here: packed rows).

*Packed rows* (:func:`pack_rows`): padding-free rows of at most ``batch_tokens`` tokens, scored
with varlen attention where the backend offers the ``packed`` capability
(:class:`~miakit.backends.base.PackedScorer`).
"""

from __future__ import annotations

from collections.abc import Sequence


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
