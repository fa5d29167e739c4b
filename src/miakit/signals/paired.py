"""Paired statistics of two models that share a tokenizer (Binoculars, Fast-DetectGPT).

A *paired role* ``"p@q"`` (:func:`~miakit.signals.spec.paired_role`) names two models; its
per-token statistics (:data:`~miakit.signals.spec.PAIRED_STATS`) weight ``p``'s log-probs by
``q``'s probabilities at the same position of the same input. With ``p_t`` and ``q_t`` each
model's next-token distribution before scored token ``t``:

- ``cross_mean_log_prob``  = Σ_v q_t(v) log p_t(v)   (= −H(q_t, p_t))
- ``cross_second_moment``  = Σ_v q_t(v) (log p_t(v))²
- ``cross_token_log_prob`` = log q_t(x_t): ``q``'s log-prob of the actual token (of ``p``'s
  tokenization), over ``q``'s whole head, as ``q``'s own ``token_log_prob`` would be

Both models read the *same token ids*: the texts are tokenized once, by ``p``'s engine (its
BOS policy, context prefix and truncation), so the table has exactly the scored tokens of
``p``'s own table under the same context. That is only meaningful when the ids mean the same
tokens to both models: :func:`check_shared_tokenizer` requires identical tokenizer
fingerprints, or failing that identical vocabularies (token -> id maps; the fingerprints may
differ in e.g. the pad token or chat template) and identical lead/BOS ids.

Vocabulary sizes: models of one tokenizer often pad their embedding matrices differently
(e.g. 50 277 tokens in a 50 304-row head). When the two heads differ in size we keep the
first ``V = min(V_p, V_q)`` logits of each, after checking that the tokenizer's ids all lie
below ``V``, and take both softmaxes over those ``V`` entries: the padded rows belong to no
token and carry (near) zero probability in trained models. When the sizes agree nothing is
cut, so ``p@p`` reproduces ``p``'s own ``mean_log_prob`` exactly.

Computation runs the engine's forward loop (:mod:`miakit.signals.engine`) with a statistics
step of its own: the same forward units (padded batches, or packed rows when both models
pack), one forward pass per model per unit (one in all when ``p`` and ``q`` are the same
model), hidden states of the predicting positions only, and fp32 logits of both models a
chunk of positions at a time (the statistics fused into one kernel by ``torch.compile`` on
CUDA); ``[batch, time, vocab]`` logits never exist. The same forward passes can also give each
model's own per-token statistics (:meth:`PairedEngine.compute_with_own`, used by the planner),
cached under the namespaces the models' own engines use. The shared-prefix KV reuse of the
single-model path is not used here (a prefix context is simply run in full).

Results are cached in the same Parquet cache, under a namespace that holds both models'
fingerprints and dtypes, the tokenizer, the context, ``max_length`` and the lead ids.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, cast

from miakit._core.lazy import lazy_module
from miakit.backends.base import TokenizerScorer
from miakit.errors import InvalidParameterError
from miakit.signals.cache import CachedRow, SignalCache
from miakit.signals.engine import RowSpec, SignalEngine, assemble
from miakit.signals.prepare import ScoringInput
from miakit.signals.spec import (
    PAIRED_STATS,
    PLAIN,
    TOKEN_STATS,
    Context,
    ordered_stats,
    paired_role,
    split_role,
)
from miakit.signals.stats import fused_stats, token_stats_fast
from miakit.signals.table import TokenSignals
from miakit.signals.transfer import ScoredUnit, run_pipeline

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

#: The paired statistics :func:`paired_token_stats` computes from the two logits alone.
LOGIT_PAIRED_STATS: tuple[str, ...] = ("cross_mean_log_prob", "cross_second_moment")
#: ``q``'s log-prob of the actual token: ``q``'s own ``token_log_prob`` statistic at ``p``'s ids.
CROSS_TOKEN_LOG_PROB = "cross_token_log_prob"


def paired_token_stats(
    logits_p: torch.Tensor, logits_q: torch.Tensor, stats: Collection[str]
) -> dict[str, torch.Tensor]:
    """Paired statistics at ``n`` positions.

    Args:
        logits_p: shape ``(n, V)``, float32: logits of model ``p`` (whose log-probs are
            averaged).
        logits_q: shape ``(n, V)``, float32: logits of model ``q`` (whose probabilities
            weight them), at the same positions.
        stats: which of :data:`LOGIT_PAIRED_STATS` (others are ignored:
            ``cross_token_log_prob`` needs the targets, see :meth:`PairedEngine._unit_stats`).

    Returns:
        name -> shape ``(n,)`` float32 tensor. Entries with ``q_t(v) == 0`` contribute 0
        (also where ``log p_t(v) = -inf``); ``q_t(v) > 0`` with ``p_t(v) = 0`` gives ``-inf``
        (resp. ``+inf``), the true value.
    """
    if logits_p.dtype != torch.float32 or logits_q.dtype != torch.float32:
        raise TypeError(
            f"paired_token_stats needs float32 logits, got {logits_p.dtype}, {logits_q.dtype}"
        )
    if logits_p.shape != logits_q.shape:
        raise ValueError(f"logit shapes differ: {tuple(logits_p.shape)}, {tuple(logits_q.shape)}")
    log_p = torch.log_softmax(logits_p, dim=-1)  # (n, V)
    q = torch.softmax(logits_q, dim=-1)  # (n, V)
    weighted = q > 0
    zero = torch.zeros((), dtype=q.dtype, device=q.device)
    out: dict[str, torch.Tensor] = {}
    if "cross_mean_log_prob" in stats:
        out["cross_mean_log_prob"] = torch.where(weighted, q * log_p, zero).sum(dim=-1)
    if "cross_second_moment" in stats:
        out["cross_second_moment"] = torch.where(weighted, q * log_p * log_p, zero).sum(dim=-1)
    return out


def paired_token_stats_fast(
    logits_p: torch.Tensor, logits_q: torch.Tensor, stats: Collection[str]
) -> dict[str, torch.Tensor]:
    """:func:`paired_token_stats`, fused by ``torch.compile`` on CUDA (eager elsewhere; see
    :class:`~miakit.backends.compiled.CudaCompiled`): both logits chunks are read about once;
    in cache-sized row blocks on the CPU (:func:`~miakit.signals.stats.in_row_blocks`)."""
    return fused_stats(paired_token_stats, logits_p, logits_q, stats)


def _vocabulary(engine: SignalEngine) -> dict[str, int] | None:
    """The token -> id map, from a backend with the ``tokenizer`` capability."""
    if not engine.capabilities.tokenizer:
        return None
    return dict(cast(TokenizerScorer, engine.scorer).tokenizer.get_vocab())


def _tokenizer_size(engine: SignalEngine) -> int | None:
    """How many ids the tokenizer can produce, from a backend with the ``tokenizer``
    capability."""
    if not engine.capabilities.tokenizer:
        return None
    return len(cast(TokenizerScorer, engine.scorer).tokenizer)


def _mismatch(p: SignalEngine, q: SignalEngine) -> list[str]:
    """What makes ``p`` and ``q`` read token ids differently (empty when nothing does)."""
    problems = []
    ps, qs = p.scorer, q.scorer
    if ps.tokenizer_fingerprint != qs.tokenizer_fingerprint:
        vp, vq = _vocabulary(p), _vocabulary(q)
        if vp is None or vq is None:
            problems.append("their tokenizer fingerprints differ")
        elif vp != vq:
            problems.append(
                f"their vocabularies differ ({len(vp)} vs {len(vq)} tokens, "
                f"{len(set(vp.items()) ^ set(vq.items()))} token/id pairs not shared)"
            )
    if p.lead != q.lead:
        problems.append(f"their BOS/lead ids differ ({list(p.lead)} vs {list(q.lead)})")
    return problems


def check_shared_tokenizer(p: SignalEngine, q: SignalEngine, *, role: str = "p@q") -> int:
    """Check that ``p`` and ``q`` can read the same token ids; return the logits to keep.

    Returns:
        ``V``: the number of leading logits both models' statistics use (their common head
        size; ``min(V_p, V_q)`` when only the padding of the heads differs).

    Raises:
        InvalidParameterError: the tokenizers differ (naming both models), or the head sizes
            differ and the tokenizer may produce ids beyond the smaller head.
    """
    ps, qs = p.scorer, q.scorer
    names = f"{ps.name!r} and {qs.name!r}"
    roles = split_role(role)
    p_role, q_role = roles if len(roles) == 2 else ("p", "q")
    problems = _mismatch(p, q)
    if problems:
        raise InvalidParameterError(
            f"paired signals {role!r} compare models {ps.name!r} ({p_role}) and {qs.name!r} "
            f"({q_role}), but {'; '.join(problems)}. Paired attacks need models sharing a "
            f"tokenizer (e.g. a base model and its fine-tuned or instruct version); give "
            f"another {q_role} model, or skip the attacks that need it"
        )
    vocab = min(ps.vocab_size, qs.vocab_size)
    if ps.vocab_size != qs.vocab_size:
        size = _tokenizer_size(p)
        if size is None or size > vocab:
            raise InvalidParameterError(
                f"paired signals {role!r}: models {names} share a tokenizer "
                f"({size if size is not None else 'unknown'} ids) but have heads of "
                f"{ps.vocab_size} and {qs.vocab_size} logits, and the tokenizer is not known "
                f"to fit in the first {vocab}; their next-token distributions cannot be "
                "compared"
            )
    return vocab


class PairedEngine:
    """Computes paired statistics (:data:`~miakit.signals.spec.PAIRED_STATS`) of ``p`` and
    ``q``: ``p``'s log-probs weighted by ``q``'s probabilities (see the module docstring).

    Args:
        p: the engine whose model gives the log-probs; it also tokenizes (its BOS policy,
            ``max_length`` and batching settings apply).
        q: the engine whose model gives the weights. May be ``p`` itself (one forward pass).
        role: the paired role's name, for messages and table metadata.

    Raises:
        InvalidParameterError: the models do not share a tokenizer
            (:func:`check_shared_tokenizer`).
    """

    def __init__(self, p: SignalEngine, q: SignalEngine, *, role: str | None = None) -> None:
        self.role = role or paired_role(p.scorer.name, q.scorer.name)
        self.vocab = check_shared_tokenizer(p, q, role=self.role)
        self.p = p
        self.q = q

    def namespace(self, context: Context) -> str:
        ps, qs = self.p.scorer, self.q.scorer
        return SignalCache.namespace(
            {
                "kind": "paired",
                "model": ps.fingerprint,
                "weights_model": qs.fingerprint,
                "tokenizer": ps.tokenizer_fingerprint,
                "weights_tokenizer": qs.tokenizer_fingerprint,
                "context": context.key,
                "max_length": self.p.max_length,
                "lead": list(self.p.lead),
                "dtype": str(ps.dtype),
                "weights_dtype": str(qs.dtype),
                "vocab": self.vocab,
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
        """Paired statistics of ``texts`` under ``context``.

        Returns:
            A :class:`TokenSignals` with one row per text, in the order given, with the same
            offsets as ``p``'s own table of ``texts`` under ``context``.
        """
        return self.compute_with_own(texts, stats=stats, context=context, desc=desc)[0]

    def can_fuse(self, context: Context, *, weights_model: bool) -> bool:
        """Whether the forward passes of the paired statistics under ``context`` can also give
        ``p``'s own table (``weights_model=False``) or ``q``'s (``True``) exactly as its own
        engine would: no prefix context (those use prefix reuse), and for ``q`` a distinct
        model that tokenizes identically (same tokenizer fingerprint, lead ids and
        ``max_length``)."""
        if context.prefix:
            return False
        if not weights_model:
            return True
        p, q = self.p, self.q
        return (
            q is not p
            and q.scorer.tokenizer_fingerprint == p.scorer.tokenizer_fingerprint
            and q.lead == p.lead
            and q.max_length == p.max_length
        )

    def compute_with_own(
        self,
        texts: Sequence[str],
        *,
        stats: Collection[str],
        own_p: Collection[str] = (),
        own_q: Collection[str] = (),
        context: Context = PLAIN,
        desc: str | None = None,
    ) -> tuple[TokenSignals, TokenSignals | None, TokenSignals | None]:
        """Paired statistics and, from the same forward passes, ``p``'s own statistics
        ``own_p`` and ``q``'s ``own_q`` (:data:`~miakit.signals.spec.TOKEN_STATS`): one pass
        per model feeds all three tables (``None`` for an empty request). Each table is
        cached under the namespace its own engine uses, so it equals (up to float rounding
        of a different chunking) and shares the cache with ``p.compute`` / ``q.compute``.

        Raises:
            InvalidParameterError: unknown statistics, or own statistics that
                :meth:`can_fuse` refuses.
        """
        wanted = ordered_stats(stats, PAIRED_STATS, what="paired stats")
        own = []
        for engine, asked, side in ((self.p, own_p, False), (self.q, own_q, True)):
            names = ordered_stats(asked, TOKEN_STATS, what="own stats", allow_empty=True)
            if names and not self.can_fuse(context, weights_model=side):
                raise InvalidParameterError(
                    f"{engine.scorer.name!r}'s own statistics cannot come from the paired "
                    f"pass of {self.role!r} under context {context.name!r}; compute them "
                    "with its own engine"
                )
            own.append(names)
        label = desc or f"{self.role} [{context.name}]"
        paired_meta = {"model": self.role, "context": context.name}
        specs = [RowSpec(self.namespace(context), wanted, paired_meta)]
        engines = [e for e, names in zip((self.p, self.q), own, strict=True) if names]
        for engine, names in zip((self.p, self.q), own, strict=True):
            if names:
                own_meta = {"model": engine.scorer.name, "context": context.name}
                specs.append(RowSpec(engine.namespace(context), names, own_meta))
        tables = self.p.compute_rows_multi(
            texts,
            context,
            specs,
            lambda inputs: self._score(inputs, wanted, own, desc=label),
        )
        meta: dict[str, Any] = {
            "model": self.role,
            "log_prob_model": self.p.scorer.name,
            "weights_model": self.q.scorer.name,
            "context": context.name,
            "lead_ids": list(self.p.lead),
            "max_length": self.p.max_length,
            "vocab": self.vocab,
        }
        paired = assemble(tables[0], wanted, meta=meta)
        mine: list[TokenSignals | None] = [None, None]
        rest = iter(zip(engines, tables[1:], strict=True))
        for index, names in enumerate(own):
            if names:
                engine, rows = next(rest)
                mine[index] = engine.assemble(rows, names, context, texts)
        return paired, mine[0], mine[1]

    def _packed(self) -> bool:
        # both models run the same units, so both must pack (the padded path always works)
        same = self.q is self.p
        return self.p.packs() and (same or self.q.packs())

    def _score(
        self,
        inputs: Sequence[ScoringInput],
        stats: Sequence[str],
        own: Sequence[Sequence[str]],
        *,
        desc: str,
    ) -> list[list[CachedRow]]:
        packed = self._packed()
        units = self.p.units(inputs, packed=packed)
        n_tables = 1 + sum(1 for names in own if names)
        return run_pipeline(
            inputs,
            units,
            lambda unit: self._unit_stats(unit, stats, own, packed),
            n_tables=n_tables,
            progress=self.p.progress,
            desc=desc,
        )

    def _unit_stats(
        self,
        unit: Sequence[ScoringInput],
        stats: Sequence[str],
        own: Sequence[Sequence[str]],
        packed: bool,
    ) -> list[ScoredUnit]:
        parts: dict[str, list[torch.Tensor]] = {s: [] for s in stats}
        own_parts: list[dict[str, list[torch.Tensor]]] = [{s: [] for s in n} for n in own]
        gathered = self.p.forward.unit(unit, packed=packed)
        if gathered is not None:
            hidden_p, targets = gathered.hidden, gathered.targets  # (N, d_p), (N,)
            same = self.q is self.p
            hidden_q = hidden_p
            if not same:
                other = self.q.forward.unit(unit, packed=packed)
                assert other is not None  # the same inputs, so the same scored positions
                hidden_q = other.hidden  # (N, d_q)
            chunk = min(self.p.chunk_tokens, self.q.chunk_tokens)
            for start in range(0, hidden_p.shape[0], chunk):
                stop = start + chunk
                logits_p = self.p.scorer.logits(hidden_p[start:stop])  # (C, V_p) fp32
                # (C, V_q) fp32
                logits_q = logits_p if same else self.q.scorer.logits(hidden_q[start:stop])
                for logits, names, into in zip((logits_p, logits_q), own, own_parts, strict=True):
                    if names:  # a model's own statistics, over its whole vocabulary
                        tgt = targets[start:stop].to(logits.device)
                        for name, value in token_stats_fast(logits, tgt, names).items():
                            into[name].append(value)
                from_logits = [s for s in stats if s in LOGIT_PAIRED_STATS]
                values = (
                    paired_token_stats_fast(
                        logits_p[:, : self.vocab],
                        logits_q.to(logits_p.device)[:, : self.vocab],
                        from_logits,
                    )
                    if from_logits
                    else {}
                )
                if CROSS_TOKEN_LOG_PROB in stats:  # q's log-prob of p's token, q's whole head
                    tgt = targets[start:stop].to(logits_q.device)
                    q_own = token_stats_fast(logits_q, tgt, ("token_log_prob",))
                    values[CROSS_TOKEN_LOG_PROB] = q_own["token_log_prob"].to(logits_p.device)
                for name, value in values.items():
                    parts[name].append(value)
        out = [ScoredUnit(parts, unit)]
        out += [ScoredUnit(p, unit) for p, names in zip(own_parts, own, strict=True) if names]
        return out
