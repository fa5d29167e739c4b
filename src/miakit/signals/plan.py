"""From what attacks need to computed signal tables.

The planner groups the attacks' :class:`~miakit.signals.spec.SignalRef` needs by
``(model, context)``, loads each model once (lazily, through ``scorer_for``), builds one
:class:`~miakit.signals.engine.SignalEngine` per model and computes the union of statistics
each ``(model, context)`` needs, in one pass per pair. A paired role's pass also gives the
own tables of its two models under the same context when they are needed too
(:meth:`~miakit.signals.paired.PairedEngine.compute_with_own`; plain contexts), so a
two-model run reads each model once per context instead of twice.

Model roles are plain names (``target``, ``reference``, ...). A role may be an *alias* of
another (e.g. ``performer`` defaults to ``target``): it then shares that model, its engine and
its cached tables. A paired role ``"p@q"`` (statistics of ``p``'s log-probs weighted by
``q``'s probabilities, :mod:`miakit.signals.paired`) resolves aliases on both sides and uses
the engines of both. Contexts are looked up by name in ``contexts`` (the built-in ones plus
those the run builds, such as prefix contexts from auxiliary texts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from miakit._core.timing import stage
from miakit.backends.base import TokenScorer
from miakit.errors import InvalidParameterError
from miakit.signals.cache import SignalCache
from miakit.signals.engine import SignalEngine
from miakit.signals.paired import PairedEngine
from miakit.signals.spec import (
    BUILTIN_CONTEXTS,
    Context,
    SignalRef,
    is_paired_role,
    paired_role,
    split_role,
)
from miakit.signals.table import TokenSignals


@dataclass
class EngineOptions:
    """Engine settings shared by every model of a run (see
    :class:`~miakit.signals.engine.SignalEngine` for each)."""

    max_length: int = 2048
    batch_tokens: int | None = None
    chunk_tokens: int | None = None
    bos: str = "auto"
    packing: str = "auto"
    prefix_reuse: bool = True
    cache: SignalCache | None = None
    progress: bool = True


@dataclass
class SignalPlanner:
    """Computes signal tables for a run.

    Args:
        scorer_for: loads the backend of a model role (called at most once per role).
        options: engine settings.
        contexts: context name -> :class:`Context` (defaults to the built-in contexts).
        aliases: role -> role it stands for when the user gave no model of its own.
    """

    scorer_for: Callable[[str], TokenScorer]
    options: EngineOptions = field(default_factory=EngineOptions)
    contexts: Mapping[str, Context] = field(default_factory=lambda: dict(BUILTIN_CONTEXTS))
    aliases: Mapping[str, str] = field(default_factory=dict)
    _engines: dict[str, SignalEngine] = field(default_factory=dict, init=False)
    _paired: dict[str, PairedEngine] = field(default_factory=dict, init=False)

    def resolve(self, role: str) -> str:
        if is_paired_role(role):  # "p@q": aliases resolved on both sides
            return paired_role(*(self.resolve(r) for r in split_role(role)))
        seen = set()
        while role in self.aliases and role not in seen:
            seen.add(role)
            role = self.aliases[role]
        return role

    def engine(self, role: str) -> SignalEngine:
        """The engine of ``role`` (aliases resolved), created on first use."""
        real = self.resolve(role)
        if real not in self._engines:
            o = self.options
            self._engines[real] = SignalEngine(
                self.scorer_for(real),
                max_length=o.max_length,
                batch_tokens=o.batch_tokens,
                chunk_tokens=o.chunk_tokens,
                bos=o.bos,
                cache=o.cache,
                progress=o.progress,
                packing=o.packing,
                prefix_reuse=o.prefix_reuse,
            )
        return self._engines[real]

    def paired_engine(self, role: str) -> PairedEngine:
        """The :class:`PairedEngine` of paired role ``"p@q"`` (aliases resolved), created on
        first use; loading both models and checking that they share a tokenizer."""
        real = self.resolve(role)
        if real not in self._paired:
            p, q = split_role(real)
            self._paired[real] = PairedEngine(self.engine(p), self.engine(q), role=real)
        return self._paired[real]

    def context(self, name: str) -> Context:
        if name not in self.contexts:
            raise InvalidParameterError(
                f"context {name!r} is not available in this run; available: {sorted(self.contexts)}"
            )
        return self.contexts[name]

    @staticmethod
    def group(needs: Iterable[SignalRef]) -> dict[tuple[str, str], set[str]]:
        """``(model, context) -> statistics`` for the non-text needs."""
        grouped: dict[tuple[str, str], set[str]] = defaultdict(set)
        for ref in needs:
            if not ref.is_text:
                grouped[(ref.model, ref.context)].add(ref.stat)
        return grouped

    def compute(
        self, texts: Sequence[str], needs: Iterable[SignalRef]
    ) -> dict[tuple[str, str], TokenSignals]:
        """Tables for every ``(model, context)`` in ``needs``, keyed as the attacks name them."""
        grouped = self.group(needs)
        for _, ctx in grouped:
            self.context(ctx)  # fail before any model loads
        # merge aliases: one computation per real (model, context)
        real: dict[tuple[str, str], set[str]] = defaultdict(set)
        for (role, ctx), stats in grouped.items():
            real[(self.resolve(role), ctx)] |= stats
        computed: dict[tuple[str, str], TokenSignals] = {}
        for role, _ in real:
            if is_paired_role(role):
                self.paired_engine(role)  # a tokenizer mismatch fails before any forward pass
        fused = self._fusions(real)
        order = sorted(real, key=lambda k: (k[0] != "target", is_paired_role(k[0]), k))
        for role, ctx in order:
            if (role, ctx) in fused:
                continue  # computed by the paired pass that reads the same forward passes
            context = self.context(ctx)
            if not is_paired_role(role):
                with stage(f"signals:{role}/{ctx}"):  # a model's load inside is its own stage
                    computed[(role, ctx)] = self.engine(role).compute(
                        texts, stats=real[(role, ctx)], context=context, desc=f"{role}:{ctx}"
                    )
                continue
            sides = split_role(role)
            own = [
                real[(side, ctx)] if fused.get((side, ctx)) == (role, ctx) else set()
                for side in sides
            ]
            with stage(f"signals:{role}/{ctx}"):
                tables = self.paired_engine(role).compute_with_own(
                    texts,
                    stats=real[(role, ctx)],
                    own_p=own[0],
                    own_q=own[1] if sides[1] != sides[0] else set(),
                    context=context,
                    desc=f"{role}:{ctx}",
                )
            computed[(role, ctx)] = tables[0]
            for side, table in zip(sides, tables[1:], strict=True):
                if table is not None:
                    computed[(side, ctx)] = table
        return {(role, ctx): computed[(self.resolve(role), ctx)] for role, ctx in grouped}

    def _fusions(self, real: Mapping[tuple[str, str], set[str]]) -> dict[tuple[str, str], Any]:
        """Single-model tables that a paired pass computes too: ``(model, context)`` -> the
        paired ``(role, context)`` whose forward passes also give that model's own statistics
        (:meth:`~miakit.signals.paired.PairedEngine.compute_with_own`), so that one forward
        pass per model feeds both."""
        fused: dict[tuple[str, str], Any] = {}
        for role, ctx in sorted(real):
            if not is_paired_role(role):
                continue
            engine = self.paired_engine(role)
            for side, weights in zip(split_role(role), (False, True), strict=True):
                key = (side, ctx)
                if (
                    key in real
                    and key not in fused
                    and engine.can_fuse(self.context(ctx), weights_model=weights)
                ):
                    fused[key] = (role, ctx)
        return fused

    def table_identities(self, needs: Iterable[SignalRef]) -> dict[str, dict[str, Any]]:
        """What determines each table :meth:`compute` returns for ``needs``:
        ``"model|context"`` -> its cache namespace (the hash of the model fingerprints,
        tokenizer, context with its prefix text, ``max_length``, lead ids, dtype and engine
        version) and its statistics. Loads the models (their fingerprints are needed).

        A sharded run records this in its plan, so shards computed for other inputs are never
        reused (:mod:`miakit.signals.shards`).
        """
        out: dict[str, dict[str, Any]] = {}
        for (role, ctx), stats in sorted(self.group(needs).items()):
            real, context = self.resolve(role), self.context(ctx)
            engine = self.paired_engine(real) if is_paired_role(real) else self.engine(real)
            out[f"{role}|{ctx}"] = {"namespace": engine.namespace(context), "stats": sorted(stats)}
        return out

    def models_meta(self) -> dict[str, Any]:
        """What identifies each loaded model, for ``metrics.json``."""
        meta: dict[str, Any] = {}
        for role, engine in self._engines.items():
            s = engine.scorer
            meta[role] = {
                "name": s.name,
                "fingerprint": s.fingerprint,
                "tokenizer_fingerprint": s.tokenizer_fingerprint,
                "lead_ids": list(engine.lead),
                "device": str(s.device),
                "capabilities": engine.capabilities.names(),
            }
        for alias in self.aliases:
            if self.resolve(alias) in meta and alias not in meta:
                meta[alias] = {**meta[self.resolve(alias)], "alias_of": self.resolve(alias)}
        return meta
