"""Per-sample gradient norms of the target, for white-box attacks (``gradnorm``), cached.

The provider of the extra ``grad_norms`` (:class:`~miakit.attacks.gradnorm.GradNorms`). The
texts are prepared by the target's signal engine (plain context: the BOS policy and
``max_length`` truncation of ``loss``), and each distinct prepared input's per-group
``(Σ|g|, √Σg², max|g|)`` comes from the backend's ``gradients`` capability
(:class:`~miakit.backends.base.GradientScorer`), so every ``p`` is served by one computation.

Cache: :class:`miakit._core.parts.PartStore` parts under ``<cache>/gradients/<namespace>``;
the namespace hashes the model fingerprint, the tokenizer fingerprint, the dtype and
:data:`GRADIENT_VERSION`, and each row is keyed by the SHA-256 of the prepared input (its ids
and first scored position, which carry the BOS policy and the truncation). A rerun reads the
rows and runs no backward pass.

A target without the capability (a black-box or stub backend) gets no norms: the extra is
:class:`~miakit.pipeline.inputs.Unavailable` with the reason, and the run skips every attack
that declares it (``skipped_attacks``), as it skips one whose flag is missing. The time
shows as the ``gradients`` stage of ``--timings``; a progress bar (``desc="gradients"``,
tokens, one step per :data:`CHUNK` inputs, each chunk cached as soon as it is done) follows
the engine's ``progress`` setting; the run's ``progress=`` callback does not reach input
providers (they get no handle to it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from miakit._core import timing
from miakit.attacks import AttackSpec
from miakit.attacks.gradnorm import GRAD_EXTRA, GradNorms
from miakit.backends.base import GradientScorer
from miakit.data import Sample
from miakit.pipeline.inputs import Input, InputProvider, Unavailable, register_provider
from miakit.signals.spec import PLAIN

if TYPE_CHECKING:  # annotations only: `miakit run --help` imports every provider
    import pyarrow as pa

    from miakit._core.parts import PartStore
    from miakit.signals.engine import SignalEngine
    from miakit.signals.plan import SignalPlanner
    from miakit.signals.prepare import ScoringInput

#: Bumped whenever a change here or in a backend's gradients can change cached norms.
GRADIENT_VERSION = "1"
#: Inputs per backend call: the progress bar's step and the cache's part size.
CHUNK = 32
#: The input this module provides (always available: it needs only the target).
GRADIENTS = Input(f"extra:{GRAD_EXTRA}", "per-sample gradient norms of the target (white-box)")


def input_key(ids: Sequence[int], first: int) -> str:
    """The cache key of one prepared input."""
    return hashlib.sha256(json.dumps([first, list(ids)]).encode()).hexdigest()


def namespace(engine: SignalEngine) -> str:
    """The cache namespace: everything besides the input that changes the norms."""
    scorer = engine.scorer
    blob = json.dumps(
        {
            "model": scorer.fingerprint,
            "tokenizer": scorer.tokenizer_fingerprint,
            "dtype": str(scorer.dtype),
            "v": GRADIENT_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _rows(table: pa.Table) -> list[tuple[str, list[str], np.ndarray]]:
    keys = table.column("input_sha256").to_pylist()
    layers = table.column("layers").to_pylist()
    norms = table.column("norms").to_pylist()
    return [
        (k, list(g), np.asarray(v, dtype=np.float64).reshape(len(g), 3))
        for k, g, v in zip(keys, layers, norms, strict=True)
    ]


def no_gradients(engine: SignalEngine) -> str:
    """Why ``engine``'s target gives no gradient norms."""
    return (
        f"backend {engine.scorer.name!r} has no 'gradients' capability (white-box weights needed)"
    )


def compute(engine: SignalEngine, texts: Sequence[str], store: PartStore | None) -> GradNorms:
    """The :class:`GradNorms` of ``texts`` under ``engine``'s target (see the module docs)."""
    inputs = engine.prepare(texts, PLAIN)
    n_tokens = np.array([max(0, len(x.ids) - max(1, x.first_scored)) for x in inputs])
    if not engine.capabilities.gradients:
        reason = no_gradients(engine)
        return GradNorms(np.full(len(texts), np.nan), (reason,) * len(texts), n_tokens=n_tokens)
    keys = [input_key(x.ids, x.first_scored) for x in inputs]
    space = namespace(engine)
    found: dict[str, tuple[list[str], np.ndarray]] = {}
    if store is not None:
        wanted = set(keys)
        for rows in store.read(space, _rows):
            found.update((k, (g, v)) for k, g, v in rows if k in wanted)
    todo = {k: x for k, x in zip(keys, inputs, strict=True) if k not in found}
    if todo:
        with timing.stage("gradients"):
            found.update(_run(cast(GradientScorer, engine.scorer), todo, engine, store, space))
    return _assemble([found[k] for k in keys], n_tokens)


def _run(
    scorer: GradientScorer,
    todo: dict[str, ScoringInput],
    engine: SignalEngine,
    store: PartStore | None,
    space: str,
) -> dict[str, tuple[list[str], np.ndarray]]:
    """The backend's norms of the inputs ``todo`` (key -> input), :data:`CHUNK` at a time:
    each chunk advances the progress bar (tokens) and is appended to the cache as it is done,
    so an interrupted run keeps what it paid for."""
    from tqdm.auto import tqdm

    items = list(todo.items())
    total = sum(len(x.ids) for _, x in items)
    out: dict[str, tuple[list[str], np.ndarray]] = {}
    with tqdm(
        total=total, desc="gradients", unit="tok", disable=not engine.progress, leave=False
    ) as bar:
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            layers, norms = scorer.gradient_norms([(x.ids, x.first_scored) for _, x in chunk])
            arr = np.asarray(norms, dtype=np.float64)
            fresh = {k: (list(layers), arr[i]) for i, (k, _) in enumerate(chunk)}
            if store is not None:
                store.append(space, _table(fresh))
            out.update(fresh)
            bar.update(sum(len(x.ids) for _, x in chunk))
    return out


def _table(fresh: dict[str, tuple[list[str], np.ndarray]]) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "input_sha256": pa.array(list(fresh), type=pa.string()),
            "layers": pa.array([g for g, _ in fresh.values()], pa.list_(pa.string())),
            "norms": pa.array(
                [v.reshape(-1).tolist() for _, v in fresh.values()], pa.list_(pa.float64())
            ),
        }
    )


def _assemble(rows: list[tuple[list[str], np.ndarray]], n_tokens: np.ndarray) -> GradNorms:
    layers = rows[0][0] if rows else []
    arr = np.stack([v for _, v in rows]) if rows else np.zeros((0, 0, 3))
    totals = np.sqrt((arr[:, :, 1] ** 2).sum(axis=1)) if rows else np.zeros(0)
    reasons = tuple(
        "no scored tokens: the mean NLL has no gradient"
        if n_tokens[i] < 1
        else ("non-finite gradient norm" if not np.isfinite(totals[i]) else None)
        for i in range(len(rows))
    )
    totals = np.where([r is None for r in reasons], totals, np.nan) if rows else totals
    return GradNorms(
        totals, reasons, tuple(layers), arr[:, :, 0], arr[:, :, 1], arr[:, :, 2], n_tokens
    )


@register_provider("gradients", inputs=[GRADIENTS], order=40)
class Gradients(InputProvider):
    """The target's per-sample gradient norms, for the attacks that declare ``grad_norms``."""

    def extras(
        self,
        wanted: set[str],
        planner: SignalPlanner,
        texts: Sequence[str],
        specs: Sequence[AttackSpec],
        *,
        evaluation: Sequence[Sample] | None,
    ) -> dict[str, Any]:
        if GRAD_EXTRA not in wanted:
            return {}
        engine = planner.engine("target")
        if not engine.capabilities.gradients:
            return {GRAD_EXTRA: Unavailable(no_gradients(engine))}
        cache_dir = self.run.cache_dir
        store = _store(cache_dir / "gradients") if cache_dir else None
        return {GRAD_EXTRA: compute(engine, texts, store)}


def _store(folder: Any) -> PartStore:
    """The gradient cache's part store (pyarrow loads here, not at import)."""
    from miakit._core.parts import PartStore

    return PartStore(folder, what="gradient cache part")
