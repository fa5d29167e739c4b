"""The signal engine: texts in, per-token statistics out, one forward pass per (model, context).

One forward loop, each step in its own module, shared by the plain engine (here), the paired
engine (:mod:`miakit.signals.paired`) and the causal neighbor generator
(:mod:`miakit.perturb.causal`):

1. *prepare* (:mod:`~miakit.signals.prepare`): tokenize each text under the context, put the
   BOS policy's lead ids and the context's prefix before it, truncate to ``max_length``, and
   mark which tokens are scored;
2. *batch* (:mod:`~miakit.signals.batching`): group inputs into forward units, length-sorted
   right-padded batches of at most ``batch_tokens`` padded tokens, or padding-free packed rows
   where the backend has the ``packed`` capability;
3. *forward* (:mod:`~miakit.signals.forward`): run each unit through the decoder and keep the
   hidden states of the predicting positions only; with prefix reuse (backend capability
   ``prefix_kv``) a prefix shared by every input runs once and the units attend to its keys
   and values;
4. *statistics* (:mod:`~miakit.signals.stats`): fp32 statistics in chunks of ``chunk_tokens``
   positions; full ``[batch, time, vocab]`` logits never exist.

This module orchestrates them: the cache (:class:`~miakit.signals.cache.SignalCache`: a rerun
with the same model, tokenizer, context, ``max_length``, BOS policy and texts does no forward
pass), the choice of layout and prefix mode from the backend's
:class:`~miakit.backends.base.Capabilities` (checked once, at construction), the one-unit-deep
pipeline (:func:`~miakit.signals.transfer.run_pipeline`: the next unit is launched before the
previous unit's statistics are read back) and the assembly of the table.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from miakit.backends.base import TokenScorer, check_capabilities
from miakit.config.options import check_options
from miakit.signals import batching
from miakit.signals.cache import CachedRow, SignalCache, text_key
from miakit.signals.forward import Forward, Predicting
from miakit.signals.prepare import Preparer, ScoringInput, shared_head
from miakit.signals.spec import PLAIN, TOKEN_STATS, Context, ordered_stats
from miakit.signals.stats import chunked_token_stats
from miakit.signals.table import TokenSignals
from miakit.signals.transfer import ScoredUnit, run_pipeline

__all__ = ["RowSpec", "ScoringInput", "SignalEngine", "assemble"]


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
            instead of re-running it per text (backends with the ``prefix_kv`` capability).
            Equal to prepend-and-score up to rounding.

    Raises:
        BackendCapabilityError: ``scorer`` is not a :class:`TokenScorer` or claims a
            capability it lacks (:func:`~miakit.backends.base.check_capabilities`).
        InvalidParameterError: an option is invalid (each is checked as its setting of
            :class:`~miakit.config.RunConfig`; all problems in one message). ``None`` gives a
            default; ``0`` or a float is an error, never a silent default.
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
        # each option is checked as its setting is declared (miakit.config), all at once: an
        # invalid one is an error naming the fix, never a silent default (None is the default)
        check_options(
            "SignalEngine",
            {
                "max_length": max_length,
                "batch_tokens": batch_tokens,
                "chunk_tokens": chunk_tokens,
                "bos": bos,
                "packing": packing,
                "prefix_reuse": prefix_reuse,
                "progress": progress,
            },
            []
            if cache is None or isinstance(cache, SignalCache)
            else [f"cache: expected a SignalCache or None, got {cache!r} ({type(cache).__name__})"],
        )
        self.scorer = scorer
        #: what the model can do, checked once here; the engine branches on this record
        self.capabilities = check_capabilities(scorer)
        self.max_length = int(max_length)
        default_budget = 16384 if scorer.device.type == "cuda" else 4096
        self.batch_tokens = default_budget if batch_tokens is None else batch_tokens
        default_chunk = max(1, (1 << 26) // max(1, scorer.vocab_size))
        self.chunk_tokens = default_chunk if chunk_tokens is None else chunk_tokens
        self.bos = bos
        self.lead = tuple(scorer.lead_ids(bos))
        self.cache = cache
        self.progress = progress
        self.packing = packing
        self.prefix_reuse = prefix_reuse
        #: the prepare step of the loop (tokenize, truncate, mark scored tokens)
        self.preparer = Preparer(
            scorer, self.lead, self.max_length, char_offsets=self.capabilities.char_offsets
        )
        #: the forward step of the loop (its variants follow the capability record)
        self.forward = Forward(
            scorer, packed=self.capabilities.packed, prefix_kv=self.capabilities.prefix_kv
        )

    @property
    def n_forward_batches(self) -> int:
        """Forward units run by this engine (tests use it to prove cache hits)."""
        return self.forward.n_batches

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
            score=lambda inputs: self.score(
                inputs, stats, desc=desc or f"{self.scorer.name} [{context.name}]"
            ),
            meta={"model": self.scorer.name, "context": context.name},
        )
        return self.assemble(all_rows, stats, context, texts)

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
        by ``score`` (each distinct text once) and cached."""
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
        scored once, and each table caches the rows it lacked. The paired engine
        (:mod:`miakit.signals.paired`) shares this with its own namespaces and ``score``."""
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

    # -- the steps, for this engine's settings -----------------------------------------
    def prepare(self, texts: Sequence[str], context: Context) -> list[ScoringInput]:
        """Tokenize and truncate ``texts`` under ``context`` (the prepare step)."""
        return self.preparer.prepare(texts, context)

    def head_ids(self, context: Context) -> list[int]:
        """The ids before every text under ``context``: the BOS policy's, then the prefix's."""
        return self.preparer.head_ids(context)

    def packs(self) -> bool:
        """Whether this engine's units are packed rows (``packing`` and the backend's
        ``packed`` capability; see :func:`~miakit.signals.batching.use_packing`)."""
        return batching.use_packing(
            self.packing,
            packs=self.capabilities.packed,
            on_cuda=self.scorer.device.type == "cuda",
            name=self.scorer.name,
        )

    def units(self, inputs: Sequence[ScoringInput], *, packed: bool) -> list[list[int]]:
        """Input indices grouped into forward units: packed rows or padded batches."""
        return batching.units(inputs, self.batch_tokens, packed=packed)

    def statistics(
        self, predicting: Predicting | None, unit: Sequence[ScoringInput], stats: Sequence[str]
    ) -> ScoredUnit:
        """The statistics step on the forward result of ``unit`` (``None``: nothing scored),
        on its way to the host."""
        if predicting is None:
            return ScoredUnit({s: [] for s in stats}, unit)
        parts = chunked_token_stats(
            self.scorer.logits,
            predicting.hidden,
            predicting.targets,
            stats,
            chunk_tokens=self.chunk_tokens,
        )
        return ScoredUnit(parts, predicting.inputs)

    def score(
        self, inputs: Sequence[ScoringInput], stats: Sequence[str], *, desc: str
    ) -> list[CachedRow]:
        """The forward loop over prepared ``inputs``: batch, forward, statistics, one row per
        input in order. A head shared by every input runs once when reuse applies."""
        head = shared_head(inputs) if self.prefix_reuse and self.capabilities.prefix_kv else ()
        if head:
            prefix = self.forward.prefix_state(head)
            packed = self.packs()
            # packed rows hold suffixes only: the prefix is not repeated per sample
            units = batching.units(inputs, self.batch_tokens, packed=packed, skip=len(head))

            def score_unit(unit: list[ScoringInput]) -> Sequence[ScoredUnit]:
                predicting = self.forward.after_prefix(unit, prefix, packed=packed)
                return [self.statistics(predicting, unit, stats)]

        else:
            packed = self.packs()
            units = self.units(inputs, packed=packed)

            def score_unit(unit: list[ScoringInput]) -> Sequence[ScoredUnit]:
                return [self.statistics(self.forward.unit(unit, packed=packed), unit, stats)]

        (rows,) = run_pipeline(
            inputs, units, score_unit, n_tables=1, progress=self.progress, desc=desc
        )
        return rows

    def text_coverage(
        self, rows: Sequence[CachedRow], context: Context, texts: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(text_start, kept_chars)`` of :class:`TokenSignals` for ``rows`` (one per text):
        :meth:`~miakit.signals.prepare.Preparer.text_coverage`."""
        return self.preparer.text_coverage(rows, context, texts)

    def assemble(
        self,
        rows: Sequence[CachedRow],
        stats: Sequence[str],
        context: Context,
        texts: Sequence[str] | None = None,
    ) -> TokenSignals:
        """This engine's :class:`TokenSignals` of ``rows`` (one per text) under ``context``;
        with ``texts``, also their character coverage (:meth:`text_coverage`)."""
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
