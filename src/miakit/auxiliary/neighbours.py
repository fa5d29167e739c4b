"""Neighbours for the neighbourhood attacks: generated (or read from the cache), scored with
the target, and summarised per sample as the extra of each attack (:data:`NEIGHBOUR_EXTRAS`):
``neighbor_nll`` for ``neighborhood`` (the paper's masked-LM generator) and
``neighbor_nll_causal`` for ``neighborhood_causal`` (the causal-LM variant).

Each neighbour's NLL is ``−mean_t ℓ_t`` over its own scored tokens, computed by the target's
signal engine under the plain context (so the signal cache serves reruns); a sample's value
is the mean over its neighbours that have at least one scored token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from miakit.attacks._base import PerSample
from miakit.perturb.base import Perturber
from miakit.perturb.cache import NeighbourCache
from miakit.signals.cache import text_key
from miakit.signals.engine import SignalEngine
from miakit.signals.spec import PLAIN

#: extra name -> the attack reading it
NEIGHBOUR_EXTRAS = {"neighbor_nll": "neighborhood", "neighbor_nll_causal": "neighborhood_causal"}

#: perturber kind -> what ``metrics.json`` and the report say about it
GENERATORS = {
    "mlm_dropout_swap": "paper (arXiv 2305.18462): masked-LM embedding-dropout single-word swaps",
    "causal_lm": "variant, not the paper's: word-initial tokens resampled from the target",
    "masked_lm_sample": "variant, not the paper's: masked-LM sampling of several masked words",
}


@dataclass(frozen=True)
class Neighbourhood:
    """Neighbours of ``n`` samples and their NLLs.

    Attributes:
        texts: ``texts[i]`` are sample ``i``'s neighbours.
        nlls: ``nlls[i][j]``: NLL of ``texts[i][j]`` under the target (NaN: no scored token).
        mean_nll: the extra passed to the attack.
    """

    texts: list[list[str]]
    nlls: list[np.ndarray]
    mean_nll: PerSample

    def records(self, ids: Sequence[str]) -> pd.DataFrame:
        """One row per neighbour: ``id``, ``neighbor_index``, ``text``, ``nll``."""
        rows = [
            (sid, j, t, float(nll))
            for sid, texts, nlls in zip(ids, self.texts, self.nlls, strict=True)
            for j, (t, nll) in enumerate(zip(texts, nlls, strict=True))
        ]
        return pd.DataFrame(rows, columns=["id", "neighbor_index", "text", "nll"]).astype(
            {"id": str, "neighbor_index": "int64", "text": str, "nll": "float64"}
        )


def generate(
    perturber: Perturber,
    texts: Sequence[str],
    *,
    m: int,
    seed: int,
    cache: NeighbourCache | None,
) -> list[list[str]]:
    """``m`` neighbours per text (fewer when a text has too few replaceable words), read from
    the cache where present; each distinct text is perturbed once."""
    keys = [text_key(t) for t in texts]
    namespace = NeighbourCache.namespace(perturber.identity, m=m, seed=seed)
    found = cache.lookup(namespace, keys) if cache is not None else {}
    todo: dict[str, str] = {}
    for k, t in zip(keys, texts, strict=True):
        if k not in found:
            todo.setdefault(k, t)
    if todo:
        fresh = perturber.neighbours(list(todo.values()), m, seed)
        new = dict(zip(todo, fresh, strict=True))
        if cache is not None:
            cache.append(namespace, list(new), list(new.values()))
        found = {**found, **new}
    return [list(found[k]) for k in keys]


def score(engine: SignalEngine, neighbours: list[list[str]]) -> Neighbourhood:
    """NLLs of every neighbour under ``engine`` (plain context) and their per-sample mean."""
    flat = [t for texts in neighbours for t in texts]
    owners = np.repeat(np.arange(len(neighbours)), [len(t) for t in neighbours])
    per_neighbour = np.zeros(0, dtype=np.float64)
    if flat:
        table = engine.compute(flat, stats=["token_log_prob"], context=PLAIN, desc="neighbours")
        per_neighbour = np.array(
            [-r.mean() if len(r) else np.nan for r in table.rows("token_log_prob")],
            dtype=np.float64,
        )
    nlls = [per_neighbour[owners == i] for i in range(len(neighbours))]
    values = np.full(len(neighbours), np.nan)
    reasons: list[str | None] = []
    for i, v in enumerate(nlls):
        finite = v[np.isfinite(v)]
        if not len(neighbours[i]):
            reasons.append("no neighbour could be generated (no replaceable word)")
        elif not len(finite):
            reasons.append("no neighbour has a scored token")
        else:
            values[i] = finite.mean()
            reasons.append(None)
    return Neighbourhood(neighbours, nlls, PerSample.of(values, reasons))


def summary(hood: Neighbourhood, perturber: Perturber, *, m: int, seed: int) -> dict[str, Any]:
    """The ``metrics.json`` entry of one attack's neighbours (``auxiliary.neighbours.<attack>``):
    which generator wrote them (``generator``, in words, and the perturber's identity), how many
    were asked for and made, and the file holding them."""
    identity = dict(perturber.identity)
    counts = [len(t) for t in hood.texts]
    kind = str(identity.get("kind", ""))
    return {
        "generator": GENERATORS.get(kind, f"custom perturber (kind {kind!r}), not the paper's"),
        "perturber": identity,
        "m": m,
        "seed": seed,
        "n_generated": int(sum(counts)),
        "n_samples_without": int(sum(c == 0 for c in counts)),
        "file": "neighbors.parquet",
    }


def records(hoods: Mapping[str, Neighbourhood], ids: Sequence[str]) -> pd.DataFrame:
    """``neighbors.parquet``: one row per neighbour of every attack, with columns ``attack``,
    ``id``, ``neighbor_index``, ``text``, ``nll``."""
    frames = []
    for attack, hood in hoods.items():
        frame = hood.records(ids)
        frame.insert(0, "attack", attack)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).astype({"attack": str})
