"""The signal engine: texts in, per-token statistics out, one forward pass per (model, context).

Pipeline for one model and one context:

1. *Tokenize* each text under the context (``Context.apply``), without special tokens; the
   input is ``lead + prefix + text`` where ``lead`` is the BOS policy's ids (recorded in the
   table's ``meta``) and ``prefix`` the context's prefix tokens.
2. *Truncate* the text part so the input has at most ``max_length`` tokens (flag per sample).
3. *Score* every text token that has at least one input token before it: the first text token
   is predicted from the prefix or BOS when there is one, and is not scored otherwise. Prefix
   tokens are never scored.
4. *Batch*: sort by input length (longest first, ties by position, so the packing is
   deterministic) and fill right-padded batches up to ``batch_tokens`` padded tokens.
5. *Forward* through the decoder only (``use_cache=False``), gather the hidden states of the
   predicting positions, and compute fp32 statistics in chunks of ``chunk_tokens`` positions
   (:func:`miakit.signals.stats.token_stats`); full ``[batch, time, vocab]`` logits never exist.
6. *Cache* results in Parquet (:class:`~miakit.signals.cache.SignalCache`): a rerun with the
   same model, tokenizer, context, ``max_length``, BOS policy and texts does no forward pass.

The fast path (packed varlen rows, :mod:`miakit.backends.hf.attention`) replaces step 4's batching
with padding-free rows; everything around it stays the same.

Forward units run as a one-unit-deep pipeline (:mod:`miakit.signals.transfer`): the next unit
is launched before the previous unit's statistics are read back, with asynchronous copies
both ways, so a GPU never idles while the host builds inputs or splits results.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
import torch
from tqdm.auto import tqdm

from miakit.backends.base import (
    CharOffsetScorer,
    PackedScorer,
    PrefixKVScorer,
    TokenScorer,
    check_capabilities,
)
from miakit.backends.transfer import to_device
from miakit.errors import InvalidParameterError
from miakit.signals.batching import pack_rows
from miakit.signals.cache import CachedRow, SignalCache, text_key
from miakit.signals.layout import ScoringInput, after_head, packed_layout, right_padded, select
from miakit.signals.spec import PLAIN, TOKEN_STATS, Context, ordered_stats
from miakit.signals.stats import token_stats_fast
from miakit.signals.table import TokenSignals
from miakit.signals.transfer import ScoredUnit


@dataclass(frozen=True)
class RowSpec:
    """One table of :meth:`SignalEngine.compute_rows_multi`: its cache namespace, the
    statistics it holds and the metadata cached with it."""

    namespace: str
    stats: Sequence[str]
    meta: Mapping[str, object]


class SignalEngine:
    """Computes :class:`TokenSignals` for one :class:`TokenScorer`.

    Args:
        scorer: the model backend.
        max_length: the most input tokens per text (prefix and BOS included).
        batch_tokens: the most padded tokens per forward batch (an input longer than this
            gets a batch of its own). Default: 4096 on CPU, 16384 on CUDA.
        chunk_tokens: positions per fp32 statistics chunk. Default: about 2**26 logits.
        bos: ``auto`` (tokenizer default), ``always`` or ``never``.
        cache: a :class:`SignalCache`, or ``None`` for no caching.
        progress: show a progress bar (on stderr).
        packing: ``padded`` (length-sorted right-padded batches), ``packed`` (padding-free
            rows of ``batch_tokens`` tokens with varlen attention, for a backend with the
            ``packed`` capability) or ``auto`` (packed on CUDA for architectures known to pack
            correctly, padded otherwise). Both give the same numbers up to kernel rounding.
        prefix_reuse: when every input of a context starts with the same prefix (ReCaLL
            shots), run the prefix once and let every batch attend to its cached keys/values
            instead of re-running it per text. Equal to prepend-and-score up to rounding.
    """

    def __init__(
        self,
        scorer: TokenScorer,
        *,
        max_length: int = 2048,
        batch_tokens: int | None = None,
        chunk_tokens: int | None = None,
        bos: str = "auto",
        cache: SignalCache | None = None,
        progress: bool = True,
        packing: str = "auto",
        prefix_reuse: bool = True,
    ) -> None:
        if max_length < 2:
            raise InvalidParameterError(f"max_length must be >= 2, got {max_length}")
        self.scorer = scorer
        #: what the model can do, checked once here; the engine branches on this record
        self.capabilities = check_capabilities(scorer)
        self._packed = cast(PackedScorer, scorer) if self.capabilities.packed else None
        self._prefix = cast(PrefixKVScorer, scorer) if self.capabilities.prefix_kv else None
        self.max_length = int(max_length)
        default_budget = 16384 if scorer.device.type == "cuda" else 4096
        self.batch_tokens = int(batch_tokens or default_budget)
        if self.batch_tokens < 1:
            raise InvalidParameterError(f"batch_tokens must be >= 1, got {batch_tokens}")
        self.chunk_tokens = int(chunk_tokens or max(1, (1 << 26) // max(1, scorer.vocab_size)))
        self.bos = bos
        self.lead = tuple(scorer.lead_ids(bos))
        self.cache = cache
        self.progress = progress
        if packing not in ("auto", "packed", "padded"):
            raise InvalidParameterError(
                f"packing must be 'auto', 'packed' or 'padded', got {packing!r}"
            )
        self.packing = packing
        self.prefix_reuse = prefix_reuse
        #: number of forward batches run by this engine (tests use it to prove cache hits)
        self.n_forward_batches = 0

    # -- public ------------------------------------------------------------------------
    def namespace(self, context: Context) -> str:
        return SignalCache.namespace(
            {
                "model": self.scorer.fingerprint,
                "tokenizer": self.scorer.tokenizer_fingerprint,
                "context": context.key,
                "max_length": self.max_length,
                "lead": list(self.lead),
                "dtype": str(self.scorer.dtype),
            }
        )

    def compute(
        self,
        texts: Sequence[str],
        *,
        stats: Collection[str],
        context: Context = PLAIN,
        desc: str | None = None,
    ) -> TokenSignals:
        """Per-token statistics of ``texts`` under ``context``.

        Returns:
            A :class:`TokenSignals` with one row per text, in the order given.
        """
        stats = ordered_stats(stats, TOKEN_STATS, what="stats")
        all_rows = self.compute_rows(
            texts,
            context,
            stats,
            namespace=self.namespace(context),
            score=lambda inputs: self._score(
                inputs, stats, desc=desc or f"{self.scorer.name} [{context.name}]"
            ),
            meta={"model": self.scorer.name, "context": context.name},
        )
        return self._assemble(all_rows, stats, context, texts)

    def compute_rows(
        self,
        texts: Sequence[str],
        context: Context,
        stats: Sequence[str],
        *,
        namespace: str,
        score: Callable[[list[ScoringInput]], list[CachedRow]],
        meta: Mapping[str, object],
    ) -> list[CachedRow]:
        """One row per text: read from the cache under ``namespace`` where it holds every
        statistic in ``stats``; otherwise tokenized by this engine (:meth:`prepare`), computed
        by ``score`` (each distinct text once) and cached. The paired engine
        (:mod:`miakit.signals.paired`) shares this with its own namespace and ``score``."""
        (rows,) = self.compute_rows_multi(
            texts,
            context,
            [RowSpec(namespace, stats, meta)],
            lambda inputs: [score(inputs)],
        )
        return rows

    def compute_rows_multi(
        self,
        texts: Sequence[str],
        context: Context,
        specs: Sequence[RowSpec],
        score: Callable[[list[ScoringInput]], list[list[CachedRow]]],
    ) -> list[list[CachedRow]]:
        """:meth:`compute_rows` for several tables computed by one pass: ``score`` returns one
        list of rows per spec. Texts every table has cached are not scored; the others are
        scored once, and each table caches the rows it lacked."""
        keys = [text_key(t) for t in texts]
        cached = [
            self.cache.lookup(spec.namespace, keys, spec.stats) if self.cache is not None else {}
            for spec in specs
        ]
        missing = {k for k in keys if any(k not in c for c in cached)}
        todo = sorted({k: i for i, k in reversed(list(enumerate(keys))) if k in missing}.values())
        fresh: list[dict[str, CachedRow]] = [{} for _ in specs]
        if todo:
            tables = score(self.prepare([texts[i] for i in todo], context))
            new_keys = [keys[i] for i in todo]
            for j, (spec, rows) in enumerate(zip(specs, tables, strict=True)):
                fresh[j] = dict(zip(new_keys, rows, strict=True))
                if self.cache is not None:
                    lacking = [(k, r) for k, r in fresh[j].items() if k not in cached[j]]
                    if lacking:
                        self.cache.append(
                            spec.namespace,
                            [k for k, _ in lacking],
                            [r for _, r in lacking],
                            meta=spec.meta,
                        )
        return [[c.get(k) or f[k] for k in keys] for c, f in zip(cached, fresh, strict=True)]

    def prepare(self, texts: Sequence[str], context: Context) -> list[ScoringInput]:
        """Tokenize and truncate ``texts`` under ``context``."""
        head = self.head_ids(context)
        room = self.max_length - len(head)
        if room < 1:
            raise InvalidParameterError(
                f"context {context.name!r}: the prefix has {len(head)} tokens, which leaves no "
                f"room for the text within max_length={self.max_length}; raise --max-length "
                "or use a shorter prefix"
            )
        encoded = self.scorer.encode([context.apply(t) for t in texts])
        out = []
        for ids in encoded:
            kept = ids[:room]
            full = tuple(head + kept)
            out.append(
                ScoringInput(
                    ids=full,
                    first_scored=max(1, len(head)),
                    n_text_tokens=len(ids),
                    truncated=len(ids) > room,
                )
            )
        return out

    def head_ids(self, context: Context) -> list[int]:
        """The ids before every text under ``context``: the BOS policy's, then the prefix's."""
        prefix_ids: list[int] = []
        if context.prefix:
            prefix_ids = self.scorer.encode([context.prefix])[0]
        return list(self.lead) + prefix_ids

    def text_coverage(
        self, rows: Sequence[CachedRow], context: Context, texts: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(text_start, kept_chars)`` of :class:`TokenSignals` for ``rows`` (one per text).

        Derived from the tokenizer after the cache lookup (so the cache format stays as it
        is): the character end of the last kept token, asked of the tokenizer for truncated
        texts only. ``kept_chars`` is -1 where the tokenizer cannot tell (a backend without
        the ``char_offsets`` capability), or where the context's transform changes the
        text's length (characters of the scored text then do not map onto the raw text's).
        """
        head = self.head_ids(context)
        start = 0 if head else 1
        room = self.max_length - len(head)
        kept = np.array([len(t) for t in texts], dtype=np.int64)
        cut = [i for i, r in enumerate(rows) if r.truncated]
        if cut:
            kept[cut] = -1
            scored = [context.apply(texts[i]) for i in cut]
            if self.capabilities.char_offsets:
                char_ends = cast(CharOffsetScorer, self.scorer).char_ends
                for i, text, end in zip(cut, scored, char_ends(scored, room), strict=True):
                    if end is not None and len(text) == len(texts[i]):
                        kept[i] = end
        return np.full(len(rows), start, dtype=np.int64), kept

    # -- internals ---------------------------------------------------------------------
    def _batches(self, inputs: Sequence[ScoringInput]) -> Iterator[list[int]]:
        """Indices of inputs, longest first, grouped to at most ``batch_tokens`` padded tokens."""
        order = sorted(range(len(inputs)), key=lambda i: (-len(inputs[i].ids), i))
        batch: list[int] = []
        width = 0
        for i in order:
            n = len(inputs[i].ids)
            new_width = max(width, n)
            if batch and new_width * (len(batch) + 1) > self.batch_tokens:
                yield batch
                batch, new_width = [], n
            batch.append(i)
            width = new_width
        if batch:
            yield batch

    def _use_packing(self) -> bool:
        if self.packing == "padded":
            return False
        supported = self._packed is not None
        if self.packing == "packed":
            if not supported:
                raise InvalidParameterError(
                    f"packing='packed': model {self.scorer.name!r} is not known to pack "
                    "correctly; use packing='padded' (or 'auto')"
                )
            return True
        return supported and self.scorer.device.type == "cuda"

    def _score(
        self, inputs: Sequence[ScoringInput], stats: Sequence[str], *, desc: str
    ) -> list[CachedRow]:
        head = self._shared_head(inputs)
        if head:
            assert self._prefix is not None  # _shared_head is empty otherwise
            kv, last_hidden = self._prefix.prefix_state(list(head))
            packed = self._use_packing()
            if packed:  # rows hold suffixes only: the prefix is not repeated per sample
                units = pack_rows([len(x.ids) - len(head) for x in inputs], self.batch_tokens)
            else:
                units = self.units(inputs, packed=False)
            score_prefixed = self._score_row_after_prefix if packed else self._score_after_prefix

            def after_prefix(batch: Sequence[ScoringInput], stats: Sequence[str]) -> Any:
                return score_prefixed(batch, stats, len(head), kv, last_hidden)

            score_unit: Any = after_prefix
        else:
            packed = self._use_packing()
            units = self.units(inputs, packed=packed)
            score_unit = self._score_row if packed else self._score_batch
        return self.run_units(inputs, units, lambda unit: score_unit(unit, stats), desc=desc)

    def units(self, inputs: Sequence[ScoringInput], *, packed: bool) -> list[list[int]]:
        """Input indices grouped into forward units: packed rows or padded batches."""
        if packed:
            return pack_rows([len(x.ids) for x in inputs], self.batch_tokens)
        return list(self._batches(inputs))

    def run_units(
        self,
        inputs: Sequence[ScoringInput],
        units: Sequence[Sequence[int]],
        score_unit: Callable[[list[ScoringInput]], ScoredUnit],
        *,
        desc: str,
    ) -> list[CachedRow]:
        """``score_unit`` over each unit of ``inputs`` (with a progress bar); one row per
        input, in input order.

        A one-unit-deep pipeline (:mod:`miakit.signals.transfer`): unit ``i + 1`` is launched
        before unit ``i``'s statistics are read back, so the GPU never waits for the host.
        """
        (rows,) = self.run_units_multi(
            inputs, units, lambda unit: [score_unit(unit)], n_tables=1, desc=desc
        )
        return rows

    def run_units_multi(
        self,
        inputs: Sequence[ScoringInput],
        units: Sequence[Sequence[int]],
        score_unit: Callable[[list[ScoringInput]], Sequence[ScoredUnit]],
        *,
        n_tables: int,
        desc: str,
    ) -> list[list[CachedRow]]:
        """:meth:`run_units` where each forward unit feeds ``n_tables`` tables (``score_unit``
        returns one :class:`ScoredUnit` per table): one list of rows per table."""
        empty: list[dict[str, np.ndarray] | None] = [None] * len(inputs)
        tables = [list(empty) for _ in range(n_tables)]
        total = sum(len(x.ids) for x in inputs)

        def finish(unit: Sequence[int], scored: Sequence[ScoredUnit]) -> None:
            for table, part in zip(tables, scored, strict=True):
                for i, row in zip(unit, part.result(), strict=True):
                    table[i] = row
            bar.update(sum(len(inputs[i].ids) for i in unit))

        with tqdm(
            total=total, desc=desc, unit="tok", disable=not self.progress, leave=False
        ) as bar:
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
                rows.append(
                    CachedRow(stats=r, n_text_tokens=x.n_text_tokens, truncated=x.truncated)
                )
            out.append(rows)
        return out

    def _shared_head(self, inputs: Sequence[ScoringInput]) -> tuple[int, ...]:
        """The prefix (with BOS) that every input starts with, when reuse applies: it is then
        run once and its keys/values serve every batch (``prefix_reuse``)."""
        if not self.prefix_reuse or not inputs or self._prefix is None:
            return ()
        n = inputs[0].first_scored
        if n < 2 or any(x.first_scored != n or x.ids[:n] != inputs[0].ids[:n] for x in inputs):
            return ()
        return inputs[0].ids[:n]

    def _score_after_prefix(
        self,
        batch: Sequence[ScoringInput],
        stats: Sequence[str],
        head_len: int,
        kv: Any,
        last_hidden: torch.Tensor,
    ) -> ScoredUnit:
        """Suffixes attending to the cached prefix. Position ``-1`` of each suffix (the prefix's
        last hidden state) predicts its first token."""
        self.n_forward_batches += 1
        input_ids, mask = right_padded([x.ids[head_len:] for x in batch])
        assert self._prefix is not None
        hidden = self._prefix.hidden_states_after_prefix(kv, input_ids, mask)
        # a column 0 holding the prefix's last state shifts every prediction by one
        lead = last_hidden.to(hidden.dtype).expand(len(batch), 1, -1)
        full = torch.cat([lead, hidden], dim=1)  # (B, W + 1, d)
        ids = torch.cat([torch.zeros((len(batch), 1), dtype=torch.long), input_ids], dim=1)
        # every suffix token is scored: position t of column-shifted row b predicts token t
        width = input_ids.shape[1] + 1
        lengths = mask.sum(dim=1).numpy()
        rows = np.flatnonzero(np.arange(width)[None, :] < lengths[:, None])
        shifted = after_head(batch, head_len)
        return self._stats(full.reshape(-1, full.shape[-1]), ids.reshape(-1), rows, shifted, stats)

    def _score_row_after_prefix(
        self,
        row: Sequence[ScoringInput],
        stats: Sequence[str],
        head_len: int,
        kv: Any,
        last_hidden: torch.Tensor,
    ) -> ScoredUnit:
        """A packed row of suffixes, each attending to the cached prefix (varlen attention with
        ``cu_seq_k != cu_seq_q``); positions start at the prefix length."""
        self.n_forward_batches += 1
        flat_ids, positions, cu = packed_layout([x.ids[head_len:] for x in row])
        lengths = np.diff(cu.numpy())
        assert self._packed is not None  # packed units only where the scorer packs
        hidden = self._packed.hidden_states_packed(
            flat_ids[None, :], (positions + head_len)[None, :], cu, int(lengths.max()), prefix_kv=kv
        )[0]  # (T, d)
        # every suffix token is scored: token j is predicted by state j - 1, or by the
        # prefix's last state (row 0 of ``states``) when j starts a sample
        states = torch.cat([last_hidden.to(hidden.dtype)[None, :], hidden])  # (T + 1, d)
        predictor = np.arange(len(flat_ids))
        predictor[cu.numpy()[:-1]] = 0
        index = to_device(torch.from_numpy(predictor), states.device)
        chosen = states.index_select(0, index)
        targets = to_device(flat_ids, states.device)
        return self._stats_at(chosen, targets, after_head(row, head_len), stats)

    def _score_batch(self, batch: Sequence[ScoringInput], stats: Sequence[str]) -> ScoredUnit:
        """Right-padded forward of one batch; fp32 stats over the scored positions only."""
        forward = self._forward_batch(batch)
        if forward is None:
            return ScoredUnit({s: [] for s in stats}, batch)
        return self._stats(*forward, batch, stats)

    def _score_row(self, row: Sequence[ScoringInput], stats: Sequence[str]) -> ScoredUnit:
        """One packed row (batch 1, positions restarting per sample, varlen attention)."""
        forward = self._forward_row(row)
        if forward is None:
            return ScoredUnit({s: [] for s in stats}, row)
        return self._stats(*forward, row, stats)

    def gather(
        self, unit: Sequence[ScoringInput], *, packed: bool
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """One forward pass over ``unit`` (a packed row or a padded batch, see :meth:`units`).

        Returns ``(hidden, targets)``: the final hidden states ``(N, d)`` of the positions
        that predict the unit's ``N`` scored tokens (inputs in order, tokens in order) and
        those tokens' ids ``(N,)``, on the model's device; ``None`` (and no forward pass)
        when nothing is scored.
        """
        forward = self._forward_row(unit) if packed else self._forward_batch(unit)
        return None if forward is None else select(*forward)

    def _forward_batch(
        self, batch: Sequence[ScoringInput]
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray] | None:
        """Hidden states ``(B*W, d)``, ids ``(B*W,)`` and the flat predicting positions of one
        right-padded batch; ``None`` when it has no scored token."""
        self.n_forward_batches += 1
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

    def _forward_row(
        self, row: Sequence[ScoringInput]
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray] | None:
        """Like :meth:`_forward_batch` for one packed row (positions restart per sample)."""
        self.n_forward_batches += 1
        flat_ids, positions, cu = packed_layout([x.ids for x in row])
        lengths = np.diff(cu.numpy())
        sample = np.repeat(np.arange(len(row)), lengths)
        first = np.array([x.first_scored for x in row])[sample]
        local = positions.numpy()
        # never the cross-boundary prediction: only positions inside the sample
        rows = np.flatnonzero((local >= first - 1) & (local < lengths[sample] - 1))
        if not len(rows):
            return None
        assert self._packed is not None  # packed units only where the scorer packs
        hidden = self._packed.hidden_states_packed(
            flat_ids[None, :], positions[None, :], cu, int(lengths.max())
        )  # (1, T, d)
        return hidden[0], flat_ids, rows

    def _stats(
        self,
        hidden: torch.Tensor,
        ids: torch.Tensor,
        rows: np.ndarray,
        inputs: Sequence[ScoringInput],
        stats: Sequence[str],
    ) -> ScoredUnit:
        """fp32 statistics at flat positions ``rows`` of ``hidden`` (shape ``(T_all, d)``);
        the target of position ``r`` is ``ids[r + 1]``. Split back per input, in order."""
        return self._stats_at(*select(hidden, ids, rows), inputs, stats)

    def _stats_at(
        self,
        chosen: torch.Tensor,
        targets: torch.Tensor,
        inputs: Sequence[ScoringInput],
        stats: Sequence[str],
    ) -> ScoredUnit:
        """fp32 statistics of the predicting states ``chosen`` ``(N, d)`` for ``targets``
        ``(N,)``, which cover every scored token of ``inputs`` in order."""
        parts: dict[str, list[torch.Tensor]] = {s: [] for s in stats}
        for start in range(0, chosen.shape[0], self.chunk_tokens):
            stop = start + self.chunk_tokens
            logits = self.scorer.logits(chosen[start:stop])  # (C, V) fp32
            for name, value in token_stats_fast(logits, targets[start:stop], stats).items():
                parts[name].append(value)
        return ScoredUnit(parts, inputs)

    def _assemble(
        self,
        rows: Sequence[CachedRow],
        stats: Sequence[str],
        context: Context,
        texts: Sequence[str] | None = None,
    ) -> TokenSignals:
        table = assemble(
            rows,
            stats,
            meta={
                "model": self.scorer.name,
                "context": context.name,
                "lead_ids": list(self.lead),
                "max_length": self.max_length,
            },
        )
        if texts is None:
            return table
        text_start, kept_chars = self.text_coverage(rows, context, texts)
        return replace(table, text_start=text_start, kept_chars=kept_chars)


def assemble(
    rows: Sequence[CachedRow], stats: Sequence[str], *, meta: Mapping[str, object]
) -> TokenSignals:
    """A :class:`TokenSignals` holding ``rows`` (one per text, in order) and ``meta``."""
    lengths = [len(r.stats[stats[0]]) for r in rows]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = {
        s: (
            np.concatenate([r.stats[s] for r in rows]).astype(np.float32)
            if rows
            else np.zeros(0, dtype=np.float32)
        )
        for s in stats
    }
    return TokenSignals(
        offsets=offsets,
        stats=flat,
        truncated=np.array([r.truncated for r in rows], dtype=bool),
        n_text_tokens=np.array([r.n_text_tokens for r in rows], dtype=np.int64),
        meta=dict(meta),
    )
