"""Step 3 of the forward loop, *forward*: one unit in, the predicting hidden states out.

A unit (:mod:`~miakit.signals.batching`) is a right-padded batch or a packed row. Its forward
pass runs through the decoder only (``use_cache=False``); of its final hidden states only the
positions that predict a scored token are kept, with those tokens' ids, so that full
``[batch, time, vocab]`` logits never exist (the statistics step,
:func:`~miakit.signals.stats.chunked_token_stats`, makes fp32 logits a chunk at a time).

Four variants, one per layout and prefix mode, chosen from the backend's
:class:`~miakit.backends.base.Capabilities` (checked once, by the engine):

- a padded batch (every backend);
- a packed row (``packed``: :class:`~miakit.backends.base.PackedScorer`);
- a padded batch of suffixes attending to a shared prefix's cached keys and values
  (``prefix_kv``: :class:`~miakit.backends.base.PrefixKVScorer`);
- a packed row of such suffixes (both).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np

from miakit._core.lazy import lazy_module
from miakit.backends.base import PackedScorer, PrefixKVScorer, TokenScorer
from miakit.backends.transfer import to_device
from miakit.signals.batching import after_head, packed_layout, right_padded
from miakit.signals.prepare import ScoringInput

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


class Predicting(NamedTuple):
    """The result of one forward unit.

    Attributes:
        hidden: final hidden states ``(N, d)`` of the positions that predict the unit's ``N``
            scored tokens (inputs in order, tokens in order), on the model's device.
        targets: those tokens' ids ``(N,)``, on the same device.
        inputs: the unit's inputs as the tokens were counted (after the shared prefix when
            one was reused): input ``x`` owns ``len(x.ids) - x.first_scored`` of the ``N``.
    """

    hidden: torch.Tensor
    targets: torch.Tensor
    inputs: Sequence[ScoringInput]


class PrefixState(NamedTuple):
    """A shared prefix run once: its length, per-layer ``(key, value)`` and last hidden
    state ``(d,)`` (:meth:`~miakit.backends.base.PrefixKVScorer.prefix_state`)."""

    length: int
    kv: list[Any]
    last_hidden: torch.Tensor


def select(
    hidden: torch.Tensor, ids: torch.Tensor, rows: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states at flat positions ``rows`` of ``hidden`` (shape ``(T_all, d)``) and their
    targets (the target of position ``r`` is ``ids[r + 1]``): shapes ``(N, d)`` and ``(N,)``."""
    device = hidden.device
    index = to_device(torch.from_numpy(np.asarray(rows, dtype=np.int64)), device)
    return hidden.index_select(0, index), to_device(ids, device).index_select(0, index + 1)


class Forward:
    """The forward variants of one backend (see the module docstring).

    Args:
        scorer: the backend.
        packed: it has the ``packed`` capability (a :class:`PackedScorer`).
        prefix_kv: it has the ``prefix_kv`` capability (a :class:`PrefixKVScorer`).
    """

    def __init__(self, scorer: TokenScorer, *, packed: bool, prefix_kv: bool) -> None:
        self.scorer = scorer
        # typed handles, from the capability record checked once (never probed here)
        self.packed = cast(PackedScorer, scorer) if packed else None
        self.prefix_kv = cast(PrefixKVScorer, scorer) if prefix_kv else None
        #: forward passes run (tests use it to prove cache hits)
        self.n_batches = 0

    def unit(self, unit: Sequence[ScoringInput], *, packed: bool) -> Predicting | None:
        """One packed row or padded batch; ``None`` (and no forward pass) when nothing of it
        is scored."""
        flat = self._packed_row(unit) if packed else self._padded_batch(unit)
        if flat is None:
            return None
        return Predicting(*select(*flat), unit)

    def prefix_state(self, head: Sequence[int]) -> PrefixState:
        """Run the shared ``head`` once (``prefix_kv`` capability)."""
        if self.prefix_kv is None:
            raise RuntimeError("internal error: prefix reuse on a backend without prefix_kv")
        kv, last_hidden = self.prefix_kv.prefix_state(list(head))
        return PrefixState(len(head), kv, last_hidden)

    def after_prefix(
        self, unit: Sequence[ScoringInput], prefix: PrefixState, *, packed: bool
    ) -> Predicting:
        """A unit of suffixes attending to ``prefix``: every suffix token is scored."""
        if packed:
            return self._packed_row_after_prefix(unit, prefix)
        return self._padded_batch_after_prefix(unit, prefix)

    # -- the variants ------------------------------------------------------------------
    def _padded_batch(
        self, batch: Sequence[ScoringInput]
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray] | None:
        """Hidden states ``(B*W, d)``, ids ``(B*W,)`` and the flat predicting positions of one
        right-padded batch; ``None`` when it has no scored token."""
        self.n_batches += 1
        input_ids, mask = right_padded([x.ids for x in batch])
        # flat index of position t-1 (which predicts token t), for every scored token t
        t = np.arange(input_ids.shape[1])[None, :]
        first = np.array([x.first_scored for x in batch])[:, None]
        lengths = mask.sum(dim=1).numpy()[:, None]
        rows = np.flatnonzero((t >= first - 1) & (t < lengths - 1))
        if not len(rows):
            return None
        hidden = self.scorer.hidden_states(input_ids, mask)  # (B, T, d)
        return hidden.reshape(-1, hidden.shape[-1]), input_ids.reshape(-1), rows

    def _packed_row(
        self, row: Sequence[ScoringInput]
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray] | None:
        """Like :meth:`_padded_batch` for one packed row (positions restart per sample)."""
        self.n_batches += 1
        flat_ids, positions, cu = packed_layout([x.ids for x in row])
        lengths = np.diff(cu.numpy())
        sample = np.repeat(np.arange(len(row)), lengths)
        first = np.array([x.first_scored for x in row])[sample]
        local = positions.numpy()
        # never the cross-boundary prediction: only positions inside the sample
        rows = np.flatnonzero((local >= first - 1) & (local < lengths[sample] - 1))
        if not len(rows):
            return None
        if self.packed is None:
            raise RuntimeError("internal error: a packed row on a backend without packing")
        hidden = self.packed.hidden_states_packed(
            flat_ids[None, :], positions[None, :], cu, int(lengths.max())
        )  # (1, T, d)
        return hidden[0], flat_ids, rows

    def _padded_batch_after_prefix(
        self, batch: Sequence[ScoringInput], prefix: PrefixState
    ) -> Predicting:
        """Suffixes attending to the cached prefix. Position ``-1`` of each suffix (the prefix's
        last hidden state) predicts its first token."""
        if self.prefix_kv is None:
            raise RuntimeError("internal error: prefix reuse on a backend without prefix_kv")
        self.n_batches += 1
        head_len = prefix.length
        input_ids, mask = right_padded([x.ids[head_len:] for x in batch])
        hidden = self.prefix_kv.hidden_states_after_prefix(prefix.kv, input_ids, mask)
        # a column 0 holding the prefix's last state shifts every prediction by one
        lead = prefix.last_hidden.to(hidden.dtype).expand(len(batch), 1, -1)
        full = torch.cat([lead, hidden], dim=1)  # (B, W + 1, d)
        ids = torch.cat([torch.zeros((len(batch), 1), dtype=torch.long), input_ids], dim=1)
        # every suffix token is scored: position t of column-shifted row b predicts token t
        width = input_ids.shape[1] + 1
        lengths = mask.sum(dim=1).numpy()
        rows = np.flatnonzero(np.arange(width)[None, :] < lengths[:, None])
        chosen, targets = select(full.reshape(-1, full.shape[-1]), ids.reshape(-1), rows)
        return Predicting(chosen, targets, after_head(batch, head_len))

    def _packed_row_after_prefix(
        self, row: Sequence[ScoringInput], prefix: PrefixState
    ) -> Predicting:
        """A packed row of suffixes, each attending to the cached prefix (varlen attention with
        ``cu_seq_k != cu_seq_q``); positions start at the prefix length."""
        if self.packed is None:
            raise RuntimeError("internal error: a packed row on a backend without packing")
        self.n_batches += 1
        head_len = prefix.length
        flat_ids, positions, cu = packed_layout([x.ids[head_len:] for x in row])
        lengths = np.diff(cu.numpy())
        hidden = self.packed.hidden_states_packed(
            flat_ids[None, :],
            (positions + head_len)[None, :],
            cu,
            int(lengths.max()),
            prefix_kv=prefix.kv,
        )[0]  # (T, d)
        # every suffix token is scored: token j is predicted by state j - 1, or by the
        # prefix's last state (row 0 of ``states``) when j starts a sample
        states = torch.cat([prefix.last_hidden.to(hidden.dtype)[None, :], hidden])  # (T + 1, d)
        predictor = np.arange(len(flat_ids))
        predictor[cu.numpy()[:-1]] = 0
        index = to_device(torch.from_numpy(predictor), states.device)
        chosen = states.index_select(0, index)
        targets = to_device(flat_ids, states.device)
        return Predicting(chosen, targets, after_head(row, head_len))
