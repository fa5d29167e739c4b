"""Neighbors for the neighborhood attacks: generated (or read from the cache), scored with
the target, and summarised per sample as an extra: ``neighbor_nll`` (the paper's masked-LM
generator, from ``--fill-mask-model``, or the in-memory ``perturber=`` of :func:`miakit.run`)
and ``neighbor_nll_causal`` (the causal-LM variant, built from the target). The evaluation
neighbors are recorded per attack reading the extra: ``metrics.json``
(``auxiliary.neighbors.<attack>``) and ``neighbors.parquet``.

Each neighbor's NLL is ``−mean_t ℓ_t`` over its own scored tokens, computed by the target's
signal engine under the plain context (so the signal cache serves reruns); a sample's value
is the mean over its neighbors that have at least one scored token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from miakit._core.io import atomic_write
from miakit.attacks import AttackSpec
from miakit.attacks._base import PerSample
from miakit.attacks.neighborhood import NEIGHBOR_EXTRA
from miakit.attacks.neighborhood_causal import CAUSAL_NEIGHBOR_EXTRA
from miakit.data import Sample
from miakit.errors import InvalidParameterError
from miakit.pipeline.inputs import Input, InputProvider, register_provider
from miakit.signals.spec import PLAIN

if TYPE_CHECKING:  # annotations only: `miakit run --help` imports every provider
    import pandas as pd

    from miakit.perturb.base import Perturber
    from miakit.perturb.cache import NeighborCache
    from miakit.signals.engine import SignalEngine
    from miakit.signals.plan import SignalPlanner

#: The inputs this module provides: the paper's neighbors, then the causal-LM variant's.
PAPER = Input(
    f"extra:{NEIGHBOR_EXTRA}",
    "neighbor texts from a masked LM (the paper's embedding-dropout swaps)",
    "fill_mask_model",
    stand_in="perturber",
)
CAUSAL = Input(
    f"extra:{CAUSAL_NEIGHBOR_EXTRA}",
    "neighbor texts resampled from the target (a variant; built in)",
)

#: The identity kind of the paper's generator (:class:`~miakit.perturb.DropoutSwapPerturber`).
PAPER_KIND = "mlm_dropout_swap"
#: The identity kind of the built-in variant's generator
#: (:class:`~miakit.perturb.CausalLMPerturber`).
CAUSAL_KIND = "causal_lm"


def _fits(perturber: Perturber, spec: Input) -> bool:
    """Whether an in-memory ``perturber`` may write the neighbors of ``spec``'s extra: the
    paper's generator only those of the paper's attack, the built-in causal variant only the
    variant's; any other (custom) perturber either, with a warning when it feeds the paper's
    attack (see :meth:`Neighbors._perturber`)."""
    kind = perturber.identity.get("kind")
    if kind == PAPER_KIND:
        return spec is PAPER
    if kind == CAUSAL_KIND:
        return spec is CAUSAL
    return True


#: perturber kind -> what ``metrics.json`` and the report say about it
GENERATORS = {
    "mlm_dropout_swap": "paper (arXiv 2305.18462): masked-LM embedding-dropout single-word swaps",
    "causal_lm": "variant, not the paper's: word-initial tokens resampled from the target",
    "masked_lm_sample": "variant, not the paper's: masked-LM sampling of several masked words",
}


@dataclass(frozen=True)
class Neighborhood:
    """Neighbors of ``n`` samples and their NLLs.

    Attributes:
        texts: ``texts[i]`` are sample ``i``'s neighbors.
        nlls: ``nlls[i][j]``: NLL of ``texts[i][j]`` under the target (NaN: no scored token).
        mean_nll: the extra passed to the attack.
    """

    texts: list[list[str]]
    nlls: list[np.ndarray]
    mean_nll: PerSample

    def records(self, ids: Sequence[str]) -> pd.DataFrame:
        """One row per neighbor: ``id``, ``neighbor_index``, ``text``, ``nll``."""
        import pandas as pd

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
    cache: NeighborCache | None,
) -> list[list[str]]:
    """``m`` neighbors per text (fewer when a text has too few replaceable words), read from
    the cache where present; each distinct text is perturbed once."""
    from miakit.perturb.cache import NeighborCache
    from miakit.signals.cache import text_key

    keys = [text_key(t) for t in texts]
    namespace = NeighborCache.namespace(perturber.identity, m=m, seed=seed)
    found = cache.lookup(namespace, keys) if cache is not None else {}
    todo: dict[str, str] = {}
    for k, t in zip(keys, texts, strict=True):
        if k not in found:
            todo.setdefault(k, t)
    if todo:
        fresh = perturber.neighbors(list(todo.values()), m, seed)
        new = dict(zip(todo, fresh, strict=True))
        if cache is not None:
            cache.append(namespace, list(new), list(new.values()))
        found = {**found, **new}
    return [list(found[k]) for k in keys]


def score(engine: SignalEngine, neighbors: list[list[str]]) -> Neighborhood:
    """NLLs of every neighbor under ``engine`` (plain context) and their per-sample mean."""
    flat = [t for texts in neighbors for t in texts]
    owners = np.repeat(np.arange(len(neighbors)), [len(t) for t in neighbors])
    per_neighbor = np.zeros(0, dtype=np.float64)
    if flat:
        table = engine.compute(flat, stats=["token_log_prob"], context=PLAIN, desc="neighbors")
        per_neighbor = np.array(
            [-r.mean() if len(r) else np.nan for r in table.rows("token_log_prob")],
            dtype=np.float64,
        )
    nlls = [per_neighbor[owners == i] for i in range(len(neighbors))]
    values = np.full(len(neighbors), np.nan)
    reasons: list[str | None] = []
    for i, v in enumerate(nlls):
        finite = v[np.isfinite(v)]
        if not len(neighbors[i]):
            reasons.append("no neighbor could be generated (no replaceable word)")
        elif not len(finite):
            reasons.append("no neighbor has a scored token")
        else:
            values[i] = finite.mean()
            reasons.append(None)
    return Neighborhood(neighbors, nlls, PerSample.of(values, reasons))


def summary(hood: Neighborhood, perturber: Perturber, *, m: int, seed: int) -> dict[str, Any]:
    """The ``metrics.json`` entry of one attack's neighbors (``auxiliary.neighbors.<attack>``):
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


def records(hoods: Mapping[str, Neighborhood], ids: Sequence[str]) -> pd.DataFrame:
    """``neighbors.parquet``: one row per neighbor of every attack, with columns ``attack``,
    ``id``, ``neighbor_index``, ``text``, ``nll``."""
    import pandas as pd

    frames = []
    for attack, hood in hoods.items():
        frame = hood.records(ids)
        frame.insert(0, "attack", attack)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).astype({"attack": str})


@register_provider("neighbors", inputs=[PAPER, CAUSAL], order=30)
class Neighbors(InputProvider):
    """Each neighbor extra the attacks ask for: its generator, its neighbors and their NLLs
    under the target (the evaluation ones kept for the outputs)."""

    #: attack name -> its evaluation neighbors, and the perturber that wrote them
    neighborhoods: dict[str, Neighborhood]
    perturbers: dict[str, Perturber]

    def prepare(self) -> None:
        if self.run.config.neighbors < 1:
            raise InvalidParameterError(
                f"--neighbors must be an integer >= 1; got {self.run.config.neighbors}"
            )
        self.neighborhoods, self.perturbers = {}, {}

    def extras(
        self,
        wanted: set[str],
        planner: SignalPlanner,
        texts: Sequence[str],
        specs: Sequence[AttackSpec],
        *,
        evaluation: Sequence[Sample] | None,
    ) -> dict[str, Any]:
        from miakit.perturb.cache import NeighborCache  # pyarrow, torch: when neighbors run

        out: dict[str, Any] = {}
        config, cache_dir = self.run.config, self.run.cache_dir
        for spec in (PAPER, CAUSAL):
            extra = spec.key.removeprefix("extra:")
            if extra not in wanted:
                continue
            users = [s.name for s in specs if extra in s.extras]
            cache = NeighborCache.in_cache_dir(cache_dir) if cache_dir is not None else None
            perturber = self._perturber(planner, spec, users)
            neighbors = generate(
                perturber, texts, m=config.neighbors, seed=config.seed, cache=cache
            )
            hood = score(planner.engine("target"), neighbors)
            if evaluation is not None:
                self.neighborhoods.update(dict.fromkeys(users, hood))
            out[extra] = hood.mean_nll
        return out

    def _perturber(self, planner: SignalPlanner, spec: Input, users: list[str]) -> Perturber:
        """The generator of ``spec``'s extra: the in-memory ``perturber`` if given, else the
        paper's (from ``--fill-mask-model``) or the causal-LM variant's."""
        from miakit.perturb.base import as_perturber

        stand_in = self.run.stand_ins.get("perturber")
        given = as_perturber(stand_in) if stand_in is not None else None
        if given is not None and _fits(given, spec):
            self.perturbers.update(dict.fromkeys(users, given))
            kind = given.identity.get("kind")
            if spec is PAPER and kind != PAPER_KIND:
                self.run.warnings.append(
                    f"{', '.join(users)}: the neighbors come from the perturber passed to "
                    f"miakit.run (kind {kind!r}), not from the paper's generator (arXiv "
                    "2305.18462, masked-LM embedding-dropout swaps); the scores are not the "
                    "paper's method"
                )
        missing = [u for u in users if u not in self.perturbers]
        if missing:
            config = self.run.config
            from miakit.perturb import CausalLMPerturber, DropoutSwapPerturber

            perturber: Perturber
            if spec is PAPER:
                if config.fill_mask_model is None:
                    raise InvalidParameterError(
                        f"attack {missing[0]!r} needs {PAPER.flag} (a local masked LM for "
                        "the paper's neighbors); without one, run the variant "
                        f"--attacks {_reader_of(CAUSAL)}"
                    )
                perturber = DropoutSwapPerturber.load(
                    config.fill_mask_model, device=config.device, top_k=config.neighbor_top_k
                )
            else:
                perturber = CausalLMPerturber(
                    planner.engine("target").scorer,
                    fraction=config.neighbor_fraction,
                    top_k=config.neighbor_top_k,
                    max_length=config.max_length,
                    bos=config.bos,
                )
            self.perturbers.update(dict.fromkeys(missing, perturber))
        return self.perturbers[users[0]]

    def sections(self) -> dict[str, Any]:
        if not self.neighborhoods:
            return {}
        config = self.run.config
        return {
            "auxiliary": {
                "neighbors": {
                    attack: summary(
                        hood, self.perturbers[attack], m=config.neighbors, seed=config.seed
                    )
                    for attack, hood in self.neighborhoods.items()
                }
            }
        }

    def write(self, out_dir: Path, ids: Sequence[str]) -> None:
        """Write ``neighbors.parquet`` (when neighbors were generated) to ``out_dir``;
        remove a stale one otherwise."""
        path = out_dir / "neighbors.parquet"
        if not self.neighborhoods:
            path.unlink(missing_ok=True)
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        frame = records(self.neighborhoods, ids)
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def _reader_of(spec: Input) -> str:
    """The registered attack reading ``spec``'s extra (for the message pointing to it)."""
    from miakit.attacks import default_registry

    extra = spec.key.removeprefix("extra:")
    names = [s.name for s in default_registry() if extra in s.extras]
    return names[0] if names else extra
