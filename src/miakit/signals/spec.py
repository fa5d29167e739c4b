"""What the signal engine can compute, and how attacks name what they need.

A *signal* is one per-token statistic (``stat``) of one model (``model``, a role such as
``"target"`` or ``"reference"``) over the text under one *context* (``context``; ``"plain"``
is the text itself, ``"lowercase"`` the lowercased text, later a masked prefix). Attacks declare
the signals they read as :class:`SignalRef` values (or strings, see :meth:`SignalRef.parse`);
the engine computes the union of what the chosen attacks need and nothing more.

A *paired role* ``"p@q"`` names two models sharing a tokenizer; its statistics
(:data:`PAIRED_STATS`) are ``p``'s log-probabilities weighted by ``q``'s probabilities.

All log-probabilities are natural logs, stored as float32, computed in float32 or wider.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass

from miakit._core.deprecation import warn_renamed
from miakit.config.models import BUILTIN_ROLES, RENAMED_ROLES, ROLE_PATTERN
from miakit.errors import InvalidParameterError, did_you_mean

#: Per-predicted-token statistics the engine can compute.
#: - ``token_log_prob``: log p(x_t | x_<t)
#: - ``mean_log_prob``: mu_t = sum_v p_t(v) log p_t(v)   (entropy = -mu_t)
#: - ``var_log_prob``: sigma2_t = sum_v p_t(v) (log p_t(v) - mu_t)^2   (centred)
#: - ``token_rank``: number of vocabulary entries whose logit is strictly higher than x_t's
#: - ``token_id``: the id of x_t itself (stored as float32 like every statistic: exact for
#:   ids < 2**24 = 16,777,216, far above any real vocabulary; the engine refuses larger ones)
TOKEN_STATS: tuple[str, ...] = (
    "token_log_prob",
    "mean_log_prob",
    "var_log_prob",
    "token_rank",
    "token_id",
)

#: Per-predicted-token statistics of a *pair* of models sharing a tokenizer, valid only for a
#: paired role ``"p@q"`` (:func:`paired_role`), with ``p_t``/``q_t`` each model's next-token
#: distribution at the same position of the same input (tokenized by ``p``):
#: - ``cross_mean_log_prob``: sum_v q_t(v) log p_t(v)   (= -H(q_t, p_t), minus a cross-entropy)
#: - ``cross_second_moment``: sum_v q_t(v) (log p_t(v))^2   (raw, not centred)
#: - ``cross_token_log_prob``: log q_t(x_t), ``q``'s log-prob of the actual token of ``p``'s
#:   tokenization, over ``q``'s whole head (= ``q``'s own ``token_log_prob`` when the two
#:   tokenize alike; EZ-MIA's reference term)
#: See :mod:`miakit.signals.paired`.
PAIRED_STATS: tuple[str, ...] = (
    "cross_mean_log_prob",
    "cross_second_moment",
    "cross_token_log_prob",
)

#: Every statistic a signal table can hold.
ALL_STATS: tuple[str, ...] = (*TOKEN_STATS, *PAIRED_STATS)

#: Sample-level inputs that need no model: the raw text.
TEXT = "text"

# Model roles are data (``models: {role: spec}``, ``--model-role ROLE=PATH``): any name of
# ROLE_PATTERN is a role a run can give a model (``reference_3``, ``shadow_0``), so there is no
# list of roles here. ``target`` is the model under audit.

#: Separates the two roles of a paired role: ``"p@q"`` = statistic of ``p``'s log-probs
#: weighted by ``q``'s probabilities (e.g. ``"performer@observer"``, ``"target@sampling_model"``).
PAIR_SEP = "@"


def ordered_stats(
    requested: Collection[str], allowed: tuple[str, ...], *, what: str, allow_empty: bool = False
) -> list[str]:
    """``requested`` in ``allowed``'s order; :class:`InvalidParameterError` naming ``what``
    when it holds anything else (or nothing, unless ``allow_empty``)."""
    asked = set(requested)
    if (not asked and not allow_empty) or asked - set(allowed):
        size = "" if allow_empty else "non-empty "
        raise InvalidParameterError(
            f"{what} must be a {size}subset of {allowed}, got {sorted(asked)}"
        )
    return [s for s in allowed if s in asked]


def paired_role(p: str, q: str) -> str:
    """The paired role ``"p@q"``: ``p``'s log-probs weighted by ``q``'s probabilities."""
    return f"{p}{PAIR_SEP}{q}"


def is_paired_role(role: str) -> bool:
    return PAIR_SEP in role


def split_role(role: str) -> tuple[str, ...]:
    """``"p@q"`` -> ``("p", "q")``; a plain role ``"r"`` -> ``("r",)``.

    Raises:
        InvalidParameterError: a paired role that is not exactly two non-empty roles.
    """
    if PAIR_SEP not in role:
        return (role,)
    parts = tuple(role.split(PAIR_SEP))
    if len(parts) != 2 or not all(parts):
        raise InvalidParameterError(
            f"invalid paired model role {role!r}; expected 'p{PAIR_SEP}q' with two roles, "
            "e.g. 'performer@observer'"
        )
    return parts


def role_problems(model: str) -> list[str]:
    """What keeps ``model`` (a signal's model role, ``"r"`` or ``"p@q"``) from being a role a
    run can give a model: each role must be a name of :data:`~miakit.config.models.ROLE_PATTERN`
    (lower-case letters, digits, underscores) and not a renamed one (``"sampling"`` is
    ``"sampling_model"``). An empty list: fine."""
    try:
        roles = split_role(model)
    except InvalidParameterError as exc:
        return [str(exc)]
    problems = []
    for role in roles:
        if re.fullmatch(ROLE_PATTERN, role) is None:
            problems.append(
                f"model role {role!r} is not a role name (lower-case letters, digits and "
                "underscores, starting with a letter, e.g. 'reference_2')"
            )
        elif role in RENAMED_ROLES:
            problems.append(f"model role {role!r} was renamed {RENAMED_ROLES[role]!r}; use that")
    return problems


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
        if self.stat not in (*ALL_STATS, TEXT):
            raise InvalidParameterError(
                f"unknown signal {self.stat!r}; expected one of {(*ALL_STATS, TEXT)}."
                + did_you_mean(self.stat, (*ALL_STATS, TEXT))
            )
        if self.stat != TEXT and len(split_role(self.model)) == 2 and self.stat in TOKEN_STATS:
            raise InvalidParameterError(
                f"signal {self.stat!r} is a single-model statistic but model {self.model!r} is "
                f"a paired role; paired roles offer only {PAIRED_STATS}"
            )
        if self.stat in PAIRED_STATS and not is_paired_role(self.model):
            raise InvalidParameterError(
                f"signal {self.stat!r} needs a paired model role 'p{PAIR_SEP}q' (e.g. "
                f"'performer@observer/plain:{self.stat}'), got model {self.model!r}"
            )

    @classmethod
    def parse(cls, value: str | SignalRef) -> SignalRef:
        """Parse ``"stat"``, ``"context:stat"`` or ``"model/context:stat"``.

        Examples: ``"token_log_prob"`` (target, plain), ``"lowercase:token_log_prob"``,
        ``"reference/plain:token_log_prob"``, ``"text"``, and for a paired role
        ``"performer@observer/plain:cross_mean_log_prob"``.
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


def __getattr__(name: str) -> object:
    if name == "MODEL_ROLES":  # removed in issue 11: roles are data, not a list
        warn_renamed(
            "miakit.signals.spec.MODEL_ROLES",
            "miakit.config.BUILTIN_ROLES (any role name is valid: role_problems)",
            stacklevel=3,
        )
        return tuple(s.role for s in BUILTIN_ROLES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
