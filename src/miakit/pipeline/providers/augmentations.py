"""PAC's augmentations: word-swapped copies of each text, scored with the target.

The provider of the extra ``pac_augmented`` (:class:`~miakit.attacks.pac.AugmentedLogProbs`).
Each text gets ``augmentations`` copies (5) with ``max(1, int(alpha · W))`` random swaps of
two of its ``W`` words (``alpha`` 0.3; :class:`~miakit.perturb.swap.WordSwapPerturber`, the
official PAC code's EDA random swap), drawn from the run's ``--seed`` and the text. The two
settings are hyperparameters of the attacks reading the extra (``pac``:
``--param pac.augmentations=10``), so the copies follow the attack's settings and
``--param`` checks them before any model loads. The copies
go through the neighbor cache (:class:`~miakit.perturb.cache.NeighborCache`, keyed by the
perturber's identity, the count and the seed) and are scored by the target's signal engine
under the plain context (the BOS policy and ``--max-length`` of ``loss``; the signal cache
serves reruns). Their count and settings are recorded in ``metrics.json``
(``auxiliary.pac_augmentations``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from miakit.attacks import AttackSpec
from miakit.attacks.pac import PAC_EXTRA, AugmentedLogProbs
from miakit.data import Sample
from miakit.errors import InvalidParameterError
from miakit.pipeline.inputs import Input, InputProvider, register_provider
from miakit.signals.spec import PLAIN

if TYPE_CHECKING:  # annotations only: `miakit run --help` imports every provider
    from miakit.signals.engine import SignalEngine
    from miakit.signals.plan import SignalPlanner

#: The input this module provides (always available: it needs only the target).
AUGMENTED = Input(f"extra:{PAC_EXTRA}", "word-swapped copies of each text, scored by the target")
#: The reason of a sample with no augmentation.
NO_COPY = "no augmentation (PAC swaps words: the text has fewer than two space-separated words)"


def settings(
    specs: Sequence[AttackSpec], given: Mapping[str, Mapping[str, Any]]
) -> tuple[int, float]:
    """``(augmentations, alpha)`` of the attacks reading the extra: their defaults updated by
    the run's ``attack_params`` (``given``); one pair for all of them.

    Raises:
        InvalidParameterError: two readers ask for different copies.
    """
    pairs = {}
    for spec in specs:
        params = spec.check_params(given.get(spec.name, {}))
        pairs[spec.name] = (int(params["augmentations"]), float(params["alpha"]))
    if len(set(pairs.values())) > 1:
        raise InvalidParameterError(
            f"the attacks reading {PAC_EXTRA!r} ask for different copies (augmentations, "
            f"alpha): {pairs}; give them the same --param values"
        )
    return next(iter(pairs.values()))


def score(
    engine: SignalEngine, copies: Sequence[Sequence[str]], *, augmentations: int, alpha: float
) -> AugmentedLogProbs:
    """The token log-probs of every copy under ``engine`` (plain context), per sample."""
    flat = [t for texts in copies for t in texts]
    rows: list[np.ndarray] = []
    if flat:
        table = engine.compute(flat, stats=["token_log_prob"], context=PLAIN, desc=PAC_EXTRA)
        rows = [np.asarray(r, dtype=np.float64) for r in table.rows("token_log_prob")]
    it = iter(rows)
    per_sample = [[next(it) for _ in texts] for texts in copies]
    return AugmentedLogProbs.of_rows(per_sample, NO_COPY, augmentations=augmentations, alpha=alpha)


@register_provider("augmentations", inputs=[AUGMENTED], order=35)
class Augmentations(InputProvider):
    """PAC's augmented copies and their token log-probs under the target."""

    summary: dict[str, Any] | None = None

    def extras(
        self,
        wanted: set[str],
        planner: SignalPlanner,
        texts: Sequence[str],
        specs: Sequence[AttackSpec],
        *,
        evaluation: Sequence[Sample] | None,
    ) -> dict[str, Any]:
        if PAC_EXTRA not in wanted:
            return {}
        from miakit.perturb.cache import NeighborCache  # pyarrow: only when PAC runs
        from miakit.perturb.swap import WordSwapPerturber
        from miakit.pipeline.providers.neighbors import generate

        config = self.run.config
        readers = [s for s in specs if PAC_EXTRA in s.extras]
        m, alpha = settings(readers, config.attack_params)
        perturber = WordSwapPerturber(alpha)
        cache_dir = self.run.cache_dir
        cache = NeighborCache.in_cache_dir(cache_dir) if cache_dir is not None else None
        copies = generate(perturber, texts, m=m, seed=config.seed, cache=cache)
        augmented = score(planner.engine("target"), copies, augmentations=m, alpha=alpha)
        if evaluation is not None:
            self.summary = {
                "perturber": dict(perturber.identity),
                "m": m,
                "seed": config.seed,
                "n_generated": sum(len(c) for c in copies),
                "n_samples_without": sum(1 for c in copies if not c),
            }
        return {PAC_EXTRA: augmented}

    def sections(self) -> dict[str, Any]:
        if self.summary is None:
            return {}
        return {"auxiliary": {"pac_augmentations": self.summary}}
