"""The perturber interface: a text in, ``m`` neighbors (slightly altered copies) out.

A neighbor replaces a few words of a text by plausible alternatives, so that it stays
fluent and close in meaning (arXiv 2305.18462). The neighborhood attack compares a text's
NLL with its neighbors' NLLs.

Determinism: each text's neighbors are drawn from a ``torch.Generator`` seeded with
:func:`text_seed` (the run seed and a hash of the text), so they do not depend on the other
texts, their order or the batching; the same perturber, settings, seed and text give the same
neighbors. :attr:`Perturber.identity` names everything else that changes them (model
fingerprints, settings) and keys the neighbor cache.

Spelling (issue 11): the method is ``neighbors``. A perturber written before the rename, with a
``neighbours`` method only, still works through :func:`as_perturber` (with a
``DeprecationWarning``); the built-in perturbers keep a ``neighbours`` alias
(:class:`LegacySpelling`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from miakit._core.deprecation import warn_renamed
from miakit._core.errors import InvalidParameterError
from miakit._core.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


@runtime_checkable
class Perturber(Protocol):
    """Generates neighbors of texts."""

    @property
    def identity(self) -> Mapping[str, Any]:
        """JSON-ready description of what determines the neighbors (kind, model
        fingerprints, settings); two perturbers with the same identity give the same ones."""
        ...

    def neighbors(self, texts: Sequence[str], m: int, seed: int) -> list[list[str]]:
        """Up to ``m`` neighbors of each text (fewer, possibly none, when the text has too
        few replaceable words), in the order of ``texts``."""
        ...


@runtime_checkable
class _OldSpellingPerturber(Protocol):
    """A perturber of the spelling before issue 11 (``neighbours``)."""

    @property
    def identity(self) -> Mapping[str, Any]: ...

    def neighbours(self, texts: Sequence[str], m: int, seed: int) -> list[list[str]]: ...


class _Respelled:
    """A :class:`Perturber` calling an old-spelling perturber's ``neighbours``."""

    def __init__(self, inner: _OldSpellingPerturber) -> None:
        self._inner = inner

    @property
    def identity(self) -> Mapping[str, Any]:
        return self._inner.identity

    def neighbors(self, texts: Sequence[str], m: int, seed: int) -> list[list[str]]:
        return self._inner.neighbours(texts, m, seed)


def as_perturber(obj: object) -> Perturber:
    """``obj`` as a :class:`Perturber`: itself when it has ``identity`` and ``neighbors``; an
    adapter, with a ``DeprecationWarning``, when it has the old ``neighbours`` method only.

    Raises:
        InvalidParameterError: ``obj`` is neither.
    """
    if isinstance(obj, Perturber):
        return obj
    if isinstance(obj, _OldSpellingPerturber):
        warn_renamed("neighbours", "neighbors", what="perturber method", stacklevel=3)
        return _Respelled(obj)
    raise InvalidParameterError(
        f"perturber= must have an 'identity' property and a 'neighbors(texts, m, seed)' method "
        f"(miakit.perturb.Perturber); got {type(obj).__name__}"
    )


class LegacySpelling:
    """Mixin of the built-in perturbers: ``neighbours`` is the deprecated old name of
    ``neighbors``."""

    def neighbors(self, texts: Sequence[str], m: int, seed: int) -> list[list[str]]:
        raise NotImplementedError

    def neighbours(self, texts: Sequence[str], m: int, seed: int) -> list[list[str]]:
        """Deprecated: :meth:`neighbors`."""
        warn_renamed(
            f"{type(self).__name__}.neighbours",
            f"{type(self).__name__}.neighbors",
            what="method",
        )
        return self.neighbors(texts, m, seed)


def text_seed(seed: int, text: str) -> int:
    """A 63-bit seed from the run seed and the text (SHA-256), stable across processes."""
    digest = hashlib.sha256(f"{seed}\0{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def generator_for(seed: int, text: str) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`text_seed`."""
    return torch.Generator().manual_seed(text_seed(seed, text))


def n_replacements(fraction: float, n_candidates: int) -> int:
    """``round(fraction · n)`` (halves up), at least 1 and at most ``n`` (0 when ``n == 0``)."""
    if n_candidates <= 0:
        return 0
    return min(n_candidates, max(1, math.floor(fraction * n_candidates + 0.5)))


def top_candidates(logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``top_k`` largest entries of ``logits`` (shape ``(n, vocab)``; excluded entries set to
    ``-inf``) as float64 CPU tensors ``(values, index)`` of shape ``(n, min(top_k, vocab))``."""
    values, index = torch.topk(logits.float(), min(top_k, logits.shape[-1]), dim=-1)
    return values.double().cpu(), index.cpu()


def sample_candidate(
    values: torch.Tensor, index: torch.Tensor, generator: torch.Generator
) -> int | None:
    """Draw one of the candidates ``index`` (shape ``(k,)``) with probability ``softmax`` of
    their finite ``values`` (renormalised over the candidates); ``None`` when none is finite."""
    finite = torch.isfinite(values)
    if not bool(finite.any()):
        return None
    probs = torch.softmax(values[finite], dim=-1)
    choice = int(torch.multinomial(probs, 1, generator=generator))
    return int(index[finite][choice])


def check_settings(*, fraction: float, top_k: int) -> None:
    """Validate the shared perturber settings."""
    from miakit.errors import InvalidParameterError

    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise InvalidParameterError(f"perturbation fraction must be a number; got {fraction!r}")
    if not 0 < float(fraction) <= 1:
        raise InvalidParameterError(
            f"perturbation fraction must be in (0, 1] (the share of words replaced); got "
            f"{fraction!r}"
        )
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InvalidParameterError(f"perturbation top_k must be an integer >= 1; got {top_k!r}")
