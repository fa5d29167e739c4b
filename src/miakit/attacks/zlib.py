"""The zlib attack: log-likelihood calibrated by the text's zlib-compressed length."""

from __future__ import annotations

import zlib as _zlib

import numpy as np

from miakit.attacks import _ops
from miakit.attacks._base import AttackOutput, SignalView
from miakit.attacks._registry import register_attack
from miakit.attacks._spans import scored_characters


def zlib_bytes(text: str) -> int:
    """Length in bytes of ``zlib.compress`` (default level) of the UTF-8 encoding of ``text``."""
    return len(_zlib.compress(text.encode("utf-8")))


@register_attack("zlib", needs=("token_log_prob", "text"), paper="2012.07805")
def zlib(signals: SignalView) -> AttackOutput:
    """Target log-likelihood divided by the zlib-compressed length of the raw text.

    Formula: ``score = −NLL / len(zlib.compress(text.encode("utf-8")))`` where
    ``NLL = −mean_t ℓ_t`` over the scored tokens (natural log) and the denominator is the
    compressed size in bytes of the *raw* text (UTF-8, zlib's default level). zlib's length
    is a model-free estimate of how predictable the text is in itself. Where ``max_length``
    truncated the text, both parts describe the same characters: the denominator compresses
    only the characters the kept tokens cover (``TokenSignals.kept_chars``, from the
    tokenizer's offsets).

    Paper: arXiv 2012.07805 (Carlini et al., "Extracting Training Data from Large Language
    Models"), whose ratio ``NLL / zlib`` is low for memorised text; this is its negation.

    Sign: higher = more likely member.

    NaN policy: NaN with a reason for a sample with no scored tokens or NaN log-probs, or
    truncated where the tokenizer cannot say which characters were kept. The denominator is
    never 0 (zlib output of even an empty text is 8 bytes).

    Args:
        signals: a view with ``target/plain:token_log_prob`` and ``text``.

    Returns:
        Scores of shape ``(n_samples,)``, float64.
    """
    reasons = _ops.Reasons(signals.n_samples)
    mean_log_prob = _ops.mean_token_log_prob(signals, reasons)
    scored = scored_characters(signals, reasons, signals.texts, ("target", "plain"))
    compressed = np.array([zlib_bytes(t) for t in scored], dtype=np.float64)
    return reasons.output(
        mean_log_prob / compressed, fallback="non-finite mean log-prob (infinite token_log_prob?)"
    )
