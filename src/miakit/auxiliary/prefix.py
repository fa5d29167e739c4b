"""ReCaLL prefixes: a few auxiliary texts ("shots") joined into one prefix context.

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

from miakit.data.schema import Sample
from miakit.errors import InvalidParameterError
from miakit.signals.spec import Context

#: Random stream of each prefix context (keeps each context's draw independent).
STREAMS = {"recall_nonmember": 0, "recall_member": 1}


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
