"""The perturber interface: a text in, ``m`` neighbours (slightly altered copies) out.

A neighbour replaces a few words of a text by plausible alternatives, so that it stays
fluent and close in meaning (arXiv 2305.18462). The neighbourhood attack compares a text's
NLL with its neighbours' NLLs.

Determinism: each text's neighbours are drawn from a ``torch.Generator`` seeded with
:func:`text_seed` (the run seed and a hash of the text), so they do not depend on the other
texts, their order or the batching; the same perturber, settings, seed and text give the same
neighbours. :attr:`Perturber.identity` names everything else that changes them (model
fingerprints, settings) and keys the neighbour cache.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Perturber(Protocol):
    """Generates neighbours of texts."""

    @property
    def identity(self) -> Mapping[str, Any]:
        """JSON-ready description of what determines the neighbours (kind, model
        fingerprints, settings); two perturbers with the same identity give the same ones."""
        ...

    def neighbours(self, texts: Sequence[str], m: int, seed: int) -> list[list[str]]:
        """Up to ``m`` neighbours of each text (fewer, possibly none, when the text has too
        few replaceable words), in the order of ``texts``."""
        ...


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
