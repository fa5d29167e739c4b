"""ReCaLL prefixes: a few auxiliary texts ("shots") joined into one prefix context.

The provider of the contexts ``recall_nonmember`` (from ``--aux-nonmembers``) and
``recall_member`` (from ``--aux-members``): each set is loaded with its label, refused if it
shares a text with the evaluation data (:func:`miakit.data.disjoint.require_disjoint`), and
recorded in ``metrics.json`` (``auxiliary.prefixes``).

``n`` shots are drawn without replacement, with the run seed, from an auxiliary set (known
non-members for ``recall_nonmember``, known members for ``recall_member``; each set has its
own random stream, so adding one does not change the other's shots), and joined in the order
drawn with a separator. The official ReCaLL and Con-ReCall code joins shots with ``""``
(``"".join(prefix)``): that is the default separator here too, for fidelity; ``"\\n\\n"`` keeps
shots apart. The prefix becomes a :class:`~miakit.signals.spec.Context` whose tokens the
engine feeds to the model but never scores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miakit.attacks.con_recall import MEMBER_CONTEXT
from miakit.attacks.recall import NONMEMBER_CONTEXT
from miakit.data import Label, load_samples
from miakit.data.disjoint import require_disjoint
from miakit.data.schema import Sample
from miakit.errors import InvalidParameterError
from miakit.pipeline.inputs import Input, InputProvider, register_provider
from miakit.signals.spec import Context

#: Random stream of each prefix context (keeps each context's draw independent).
STREAMS = {NONMEMBER_CONTEXT: 0, MEMBER_CONTEXT: 1}

#: The prefix sets, in the order they are loaded: (input, the label its rows must have).
PREFIX_SETS = (
    (
        Input(
            f"context:{NONMEMBER_CONTEXT}", "a ReCaLL prefix of known non-members", "aux_nonmembers"
        ),
        Label.NONMEMBER,
    ),
    (
        Input(f"context:{MEMBER_CONTEXT}", "a ReCaLL prefix of known members", "aux_members"),
        Label.MEMBER,
    ),
)


@dataclass(frozen=True)
class Prefix:
    """A prefix context and where it came from (for ``metrics.json``)."""

    context: Context
    shot_ids: tuple[str, ...]
    source: str
    separator: str

    def to_dict(self) -> dict[str, Any]:
        prefix = self.context.prefix or ""
        return {
            "source": self.source,
            "n_shots": len(self.shot_ids),
            "shot_ids": list(self.shot_ids),
            "separator": self.separator,
            "n_chars": len(prefix),
            "sha256": hashlib.sha256(prefix.encode("utf-8")).hexdigest(),
        }


def draw_shots(samples: Sequence[Sample], n: int, *, seed: int, stream: int) -> list[Sample]:
    """``n`` samples drawn without replacement with ``seed`` (and ``stream``), in draw order.

    Raises:
        InvalidParameterError: ``n`` is not a positive integer or exceeds ``len(samples)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidParameterError(f"--recall-shots must be an integer >= 1; got {n!r}")
    if n > len(samples):
        raise InvalidParameterError(
            f"--recall-shots {n} needs at least {n} auxiliary texts, but the set has "
            f"{len(samples)}; lower --recall-shots or add texts"
        )
    rng = np.random.default_rng([abs(int(seed)), int(seed < 0), stream])
    return [samples[int(i)] for i in rng.choice(len(samples), size=n, replace=False)]


def build_prefix(
    name: str,
    samples: Sequence[Sample],
    *,
    n: int,
    seed: int,
    separator: str = "",
    source: str = "",
) -> Prefix:
    """The prefix context ``name`` from ``n`` shots of ``samples`` (see the module docstring)."""
    shots = draw_shots(samples, n, seed=seed, stream=STREAMS.get(name, len(STREAMS)))
    text = separator.join(s.text for s in shots)
    return Prefix(
        context=Context(name, prefix=text),
        shot_ids=tuple(s.id for s in shots),
        source=source,
        separator=separator,
    )


@register_provider("recall_prefix", inputs=[i for i, _ in PREFIX_SETS], order=10)
class RecallPrefixes(InputProvider):
    """The ReCaLL prefix contexts, from the auxiliary sets the config gives."""

    prefixes: dict[str, Prefix]

    def prepare(self) -> None:
        config = self.run.config
        if config.recall_shots < 1:
            raise InvalidParameterError(
                f"--recall-shots must be an integer >= 1; got {config.recall_shots}"
            )
        self.prefixes = {}
        fields = {
            "text_field": config.text_field,
            "id_field": config.id_field,
            "label_field": config.label_field,
        }
        for spec, label in PREFIX_SETS:
            path = getattr(config, spec.setting or "")
            if path is None:
                continue
            context, flag = spec.key.removeprefix("context:"), spec.flag
            rows = load_samples(path, label=label, **fields)
            require_disjoint(rows, list(self.run.samples), what=f"{flag} ({path})")
            self.run.aux_sets[str(flag)] = rows
            self.prefixes[context] = build_prefix(
                context,
                rows,
                n=config.recall_shots,
                seed=config.seed,
                separator=config.recall_separator,
                source=str(path),
            )

    def contexts(self) -> dict[str, Context]:
        return {name: p.context for name, p in self.prefixes.items()}

    def sections(self) -> dict[str, Any]:
        return {"auxiliary": {"prefixes": {n: p.to_dict() for n, p in self.prefixes.items()}}}
