"""What the signal engine can compute, and how attacks name what they need.

A *signal* is one per-token statistic (``stat``) of one model (``model``, a role such as
``"target"`` or ``"reference"``) over the text under one *context* (``context``; ``"plain"``
is the text itself, ``"lowercase"`` the lowercased text, later a masked prefix). Attacks declare
the signals they read as :class:`SignalRef` values (or strings, see :meth:`SignalRef.parse`);
the engine computes the union of what the chosen attacks need and nothing more.

All log-probabilities are natural logs, stored as float32, computed in float32 or wider.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from miakit.errors import InvalidParameterError, did_you_mean

#: Per-predicted-token statistics the engine can compute.
#: - ``token_log_prob``: log p(x_t | x_<t)
#: - ``mean_log_prob``: mu_t = sum_v p_t(v) log p_t(v)   (entropy = -mu_t)
#: - ``var_log_prob``: sigma2_t = sum_v p_t(v) (log p_t(v) - mu_t)^2   (centred)
#: - ``token_rank``: number of vocabulary entries whose logit is strictly higher than x_t's
TOKEN_STATS: tuple[str, ...] = ("token_log_prob", "mean_log_prob", "var_log_prob", "token_rank")

#: Sample-level inputs that need no model: the raw text.
TEXT = "text"

#: Model roles known to the runner. ``target`` is the model under audit.
MODEL_ROLES: tuple[str, ...] = ("target", "reference")


@dataclass(frozen=True)
class Context:
    """A keyed transformation of the scoring input.

    Attributes:
        name: the name attacks use to refer to it (``"plain"``, ``"lowercase"``, ...).
        transform: ``None`` or ``"lower"``: applied to the text before tokenization.
        prefix: a string placed before the text. Its tokens are fed to the model but never
            scored: the first scored token is the first token of the text, predicted from the
            prefix.
    """

    name: str
    transform: str | None = None
    prefix: str | None = None

    def __post_init__(self) -> None:
        if self.transform not in (None, "lower"):
            raise InvalidParameterError(
                f"unknown context transform {self.transform!r}; expected None or 'lower'"
            )

    def apply(self, text: str) -> str:
        """Return the text as it is scored under this context (without the prefix)."""
        return text.lower() if self.transform == "lower" else text

    @property
    def key(self) -> str:
        """A stable hash of everything that changes the scored tokens (not the name)."""
        blob = json.dumps({"transform": self.transform, "prefix": self.prefix}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


PLAIN = Context("plain")
LOWERCASE = Context("lowercase", transform="lower")

#: Contexts that need nothing from the user. Prefix contexts are built at run time.
BUILTIN_CONTEXTS: dict[str, Context] = {c.name: c for c in (PLAIN, LOWERCASE)}


@dataclass(frozen=True, order=True)
class SignalRef:
    """A reference to one signal: statistic ``stat`` of model ``model`` under ``context``.

    ``stat`` may also be :data:`TEXT`, the raw text, which needs no model.
    """

    stat: str
    model: str = "target"
    context: str = "plain"

    def __post_init__(self) -> None:
        if self.stat not in (*TOKEN_STATS, TEXT):
            raise InvalidParameterError(
                f"unknown signal {self.stat!r}; expected one of {(*TOKEN_STATS, TEXT)}."
                + did_you_mean(self.stat, (*TOKEN_STATS, TEXT))
            )

    @classmethod
    def parse(cls, value: str | SignalRef) -> SignalRef:
        """Parse ``"stat"``, ``"context:stat"`` or ``"model/context:stat"``.

        Examples: ``"token_log_prob"`` (target, plain), ``"lowercase:token_log_prob"``,
        ``"reference/plain:token_log_prob"``, ``"text"``.
        """
        if isinstance(value, SignalRef):
            return value
        model, context, stat = "target", "plain", value
        if "/" in stat:
            model, stat = stat.split("/", 1)
        if ":" in stat:
            context, stat = stat.split(":", 1)
        if stat == TEXT:
            return cls(TEXT, model="", context="")
        return cls(stat, model=model, context=context)

    @property
    def is_text(self) -> bool:
        return self.stat == TEXT

    def __str__(self) -> str:
        if self.is_text:
            return TEXT
        return f"{self.model}/{self.context}:{self.stat}"
