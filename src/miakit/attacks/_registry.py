"""The attack registry.

An attack is one module in :mod:`miakit.attacks` whose name is the attack's name, holding one
function decorated with :func:`register_attack`. The function takes a :class:`SignalView` and
keyword-only hyperparameters and returns scores, higher = more likely member::

    @register_attack("min_k", needs=("token_log_prob",), paper="2310.16789")
    def min_k(signals: SignalView, *, k: float = 0.2) -> AttackOutput: ...

The registry discovers modules by import (no central list); :func:`default_registry` builds
and freezes it once. Tests may build a fresh :class:`Registry`. The name-to-spec mechanics
(sorted iteration, "did you mean" errors, freezing, discovery) are the generic
:class:`miakit._core.registry.Registry`, shared with the blind baselines.

Inputs that are not per-token signals (a token-frequency table, neighbor NLLs) are declared
as ``extras=("token_frequency",)`` and read through ``signals.extras[...]``; like signals, an
attack may read only what it declared. :attr:`AttackSpec.inputs` lists what a run must supply
besides models (user-built contexts and extras) as input keys; the run finds the provider of
each key (:mod:`miakit.pipeline.inputs`), so that a missing input names its option.

A hyperparameter that ``--calibrate`` chooses declares its grid with the attack:
``calibration={"gamma": (0.0, 0.1, ..., 1.0)}`` (on ties the value listed first wins; several
hyperparameters are searched one after the other).

An attack whose hyperparameters set a minimum text length (Min-K% keeps ``⌊k·T⌋`` tokens) declares
it as ``min_tokens=``: a function of the hyperparameters returning the fewest scored tokens ``T``
a text needs. Before any model loads, :func:`unscorable` compares it with an upper bound on every
text's ``T`` (:func:`max_scored_tokens`), so that a setting that cannot work for any text (e.g.
``min_k.k=0.001`` on short texts) is refused up front rather than scoring every sample NaN.
"""

from __future__ import annotations

import inspect
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from miakit._core.plugins import load_entry_points
from miakit._core.registry import Registry as _CoreRegistry
from miakit.attacks._base import AttackOutput, SignalView
from miakit.errors import InvalidParameterError, did_you_mean
from miakit.signals.spec import BUILTIN_CONTEXTS, SignalRef, split_role

AttackFn = Callable[..., "AttackOutput | np.ndarray"]


@dataclass(frozen=True)
class AttackSpec:
    """A registered attack: its function, declared signals, hyperparameters and paper."""

    name: str
    func: AttackFn
    needs: tuple[SignalRef, ...]
    paper: str
    params: Mapping[str, Any] = field(default_factory=dict)
    #: names of the extra (non-signal) inputs it reads, see :class:`SignalView`
    extras: tuple[str, ...] = ()
    #: run when no attacks are named (``False`` for costly attacks that must be asked for)
    default: bool = True
    #: the fewest scored target tokens (``T``, plain context) a text needs to get a score, as
    #: a function of the (complete) hyperparameters; ``None``: no such limit
    min_tokens: Callable[..., int] | None = None
    #: hyperparameter -> the grid ``--calibrate`` searches (empty: nothing is calibrated)
    calibration: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.func) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    @property
    def models(self) -> tuple[str, ...]:
        """Model roles this attack needs (e.g. ``("target", "reference")``); a paired role
        ``"p@q"`` counts as both ``p`` and ``q``."""
        return tuple(sorted({r for n in self.needs if not n.is_text for r in split_role(n.model)}))

    @property
    def contexts(self) -> tuple[str, ...]:
        return tuple(sorted({n.context for n in self.needs if not n.is_text}))

    @property
    def inputs(self) -> tuple[str, ...]:
        """Run inputs it needs beyond models and built-in contexts: ``"context:NAME"`` for each
        context built from user data (e.g. ``"context:recall_nonmember"``) and ``"extra:NAME"``
        for each extra. The providers of :mod:`miakit.pipeline.inputs` say which option gives
        each."""
        built = [f"context:{c}" for c in self.contexts if c not in BUILTIN_CONTEXTS]
        return (*built, *(f"extra:{e}" for e in self.extras))

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return defaults updated by ``params``; unknown names are errors with a suggestion."""
        unknown = [k for k in params if k not in self.params]
        if unknown:
            known = ", ".join(self.params) or "none"
            hints = "".join(did_you_mean(k, self.params) for k in unknown)
            raise InvalidParameterError(
                f"attack {self.name!r} has no hyperparameter {', '.join(map(repr, unknown))} "
                f"(it has: {known}).{hints}"
            )
        return {**self.params, **params}

    def tokens_needed(self, params: Mapping[str, Any]) -> int | None:
        """The fewest scored tokens a text needs under ``params`` (defaults filled in), or
        ``None`` when the attack declares no such limit. Invalid values raise
        :class:`InvalidParameterError` (the declaration validates them as the attack does)."""
        if self.min_tokens is None:
            return None
        return int(self.min_tokens(**self.check_params(params)))

    def __call__(self, signals: SignalView, **params: Any) -> AttackOutput:
        """Run the attack on a view restricted to its declared signals."""
        kwargs = self.check_params(params)
        view = signals.restrict(self.needs, extras=self.extras)
        raw = self.func(view, **kwargs)
        out = raw if isinstance(raw, AttackOutput) else AttackOutput.from_scores(raw)
        if out.scores.shape != (signals.n_samples,):
            raise RuntimeError(
                f"attack {self.name!r} returned shape {out.scores.shape}, "
                f"expected ({signals.n_samples},)"
            )
        return AttackOutput.from_scores(out.scores, out.reasons)


class Registry(_CoreRegistry[AttackSpec]):
    """Name -> :class:`AttackSpec` (a :class:`miakit._core.registry.Registry`), sorted by name,
    frozen after discovery; ``register`` builds the spec from the decorated function."""

    def __init__(self) -> None:
        super().__init__("attack", identity=lambda spec: spec.func)

    def register(
        self,
        name: str,
        *,
        needs: Iterable[str | SignalRef],
        paper: str,
        extras: Iterable[str] = (),
        default: bool = True,
        min_tokens: Callable[..., int] | None = None,
        calibration: Mapping[str, Iterable[Any]] | None = None,
    ) -> Callable[[AttackFn], AttackFn]:
        """Decorator registering ``func`` as attack ``name`` (``extras``: names of the extra
        inputs it reads; ``default=False``: run only when asked for by name; ``min_tokens``:
        the fewest scored tokens a text needs, a function of the hyperparameters;
        ``calibration``: hyperparameter -> the grid ``--calibrate`` chooses it from)."""

        def make(func: AttackFn) -> AttackSpec:
            params = _hyperparameters(name, func)
            grids = {p: tuple(grid) for p, grid in (calibration or {}).items()}
            for p, grid in grids.items():
                if p not in params:
                    raise TypeError(f"attack {name!r}: calibrated {p!r} is no hyperparameter")
                if not grid:
                    raise TypeError(f"attack {name!r}: the calibration grid of {p!r} is empty")
            return AttackSpec(
                name=name,
                func=func,
                needs=tuple(SignalRef.parse(n) for n in needs),
                paper=paper,
                params=params,
                extras=tuple(extras),
                default=default,
                min_tokens=min_tokens,
                calibration=grids,
            )

        return self.decorator(name, make)


def _hyperparameters(name: str, func: AttackFn) -> dict[str, Any]:
    """``{name: default}`` of ``func``'s parameters after the first (the signal view); each
    must be keyword-only with a default."""
    params: dict[str, Any] = {}
    for i, p in enumerate(inspect.signature(func).parameters.values()):
        if i == 0:
            continue
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"attack {name!r}: hyperparameter {p.name!r} must be keyword-only")
        if p.default is inspect.Parameter.empty:
            raise TypeError(f"attack {name!r}: hyperparameter {p.name!r} needs a default")
        params[p.name] = p.default
    return params


_DEFAULT = Registry()


def register_attack(
    name: str,
    *,
    needs: Iterable[str | SignalRef],
    paper: str,
    extras: Iterable[str] = (),
    default: bool = True,
    min_tokens: Callable[..., int] | None = None,
    calibration: Mapping[str, Iterable[Any]] | None = None,
) -> Callable[[AttackFn], AttackFn]:
    """Register an attack in the default registry (see the module docstring)."""
    return _DEFAULT.register(
        name,
        needs=needs,
        paper=paper,
        extras=extras,
        default=default,
        min_tokens=min_tokens,
        calibration=calibration,
    )


def max_scored_tokens(text: str, *, max_length: int) -> int:
    """An upper bound on the scored tokens ``T`` of ``text``, known before any tokenizer loads.

    ``T`` (the text tokens that are predicted) is at most the text's token count and at most
    ``max_length`` (BOS and prefix tokens share that budget and are never scored). Byte-level
    BPE (GPT-2, Llama 3, SmolLM2) and byte-fallback SentencePiece (Llama 2, Mistral) tokens
    each cover at least one byte of the normalised text, plus at most one token for an added
    prefix space (SentencePiece's dummy prefix, ``add_prefix_space``). The normalised text is
    taken as the longer of the text and its NFKC form (NFKC can expand a character, e.g.
    U+FDFA into 18 letters). A tokenizer whose normaliser expands text in other ways could
    exceed the bound; then the up-front check may refuse a setting that would score a text.
    """
    n_bytes = len(text.encode("utf-8"))
    nfkc = len(unicodedata.normalize("NFKC", text).encode("utf-8"))
    return min(int(max_length), max(n_bytes, nfkc) + 1)


def _fmt_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def unscorable(
    spec: AttackSpec,
    params: Mapping[str, Any],
    texts: Sequence[str],
    ids: Sequence[str],
    *,
    max_length: int,
) -> str | None:
    """Why ``spec`` under ``params`` cannot score any of ``texts`` (``None``: some text might
    have enough tokens, or the attack declares no minimum). Judged from
    :func:`max_scored_tokens`, so it errs only towards letting an attack run."""
    need = spec.tokens_needed(params)
    if need is None or not texts:
        return None
    bounds = [max_scored_tokens(t, max_length=max_length) for t in texts]
    longest = max(range(len(texts)), key=bounds.__getitem__)
    if bounds[longest] >= need:
        return None
    n_bytes = len(texts[longest].encode("utf-8"))
    limit = (
        f"max_length={max_length}"
        if bounds[longest] == max_length
        else f"{n_bytes} UTF-8 bytes; a token covers at least one byte"
    )
    return (
        f"attack {spec.name!r} with {_fmt_params(spec.check_params(params))} needs at least "
        f"{need} scored tokens per text, but no text can have that many: the longest, "
        f"{ids[longest]!r}, has at most {bounds[longest]} ({limit})"
    )


def default_registry() -> Registry:
    """Import every attack module of :mod:`miakit.attacks` and every installed plugin (entry
    points of ``miakit.attacks``: :mod:`miakit._core.plugins`) once; the frozen registry."""
    if not _DEFAULT.frozen:
        _DEFAULT.discover("miakit.attacks")
        load_entry_points()
        _DEFAULT.freeze()
    return _DEFAULT


class _Texts(Protocol):
    """Texts with ids (a :class:`~miakit.data.SampleSet`)."""

    @property
    def texts(self) -> list[str]: ...

    @property
    def ids(self) -> list[str]: ...


def split_scorable(
    specs: Sequence[AttackSpec],
    attack_params: Mapping[str, Mapping[str, Any]],
    samples: _Texts,
    *,
    max_length: int,
    asked: Iterable[str] | None = None,
) -> tuple[list[AttackSpec], dict[str, str]]:
    """The attacks that might score some of ``samples``, and those skipped because none can.

    An attack that cannot score any text (:func:`unscorable`) is an error when the user asked
    for it: named it in ``asked`` or gave it hyperparameters; one picked by default, with its
    default hyperparameters, is skipped with the reason instead.

    Raises:
        InvalidParameterError: naming every asked-for attack that cannot score any text.
    """
    named = set(asked or ())
    texts, ids = samples.texts, samples.ids
    kept: list[AttackSpec] = []
    skipped: dict[str, str] = {}
    problems = []
    for spec in specs:
        params = attack_params.get(spec.name, {})
        why = unscorable(spec, params, texts, ids, max_length=max_length)
        if why is None:
            kept.append(spec)
        elif spec.name in named or spec.name in attack_params:
            problems.append(why)
        else:
            skipped[spec.name] = why.replace(f"attack {spec.name!r} with ", "", 1)
    if problems:
        raise InvalidParameterError(
            "; ".join(problems) + ". Every sample would score NaN: change the hyperparameter "
            "(see miakit list attacks), raise --max-length if it is the limit, or leave the "
            "attack out of --attacks."
        )
    return kept, skipped
