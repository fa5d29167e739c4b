"""Narrow, capability-typed model interfaces.

A backend offers capabilities; a run checks them before it starts. The signal engine needs a
:class:`TokenScorer`: something that tokenizes text and produces, for a padded batch of token
ids, final hidden states and fp32 logits for chosen positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class TokenScorer(Protocol):
    """Per-token scoring of a causal language model.

    Attributes:
        name: a human-readable name (a path or a label given by the user).
        fingerprint: a hash of the weights and configuration; changes when the model changes.
        tokenizer_fingerprint: a hash of the tokenizer (vocabulary, merges, special tokens).
        device: where forward passes run.
        vocab_size: the number of logits per position.
    """

    name: str
    device: torch.device
    vocab_size: int

    @property
    def fingerprint(self) -> str: ...

    @property
    def tokenizer_fingerprint(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without any special tokens."""
        ...

    def lead_ids(self, bos: str) -> list[int]:
        """Special ids placed before every input (``bos``: ``auto``, ``always`` or ``never``)."""
        ...

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Final hidden states, shape ``(batch, time, d_model)``, for right-padded inputs."""
        ...

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """fp32 next-token logits for hidden states of shape ``(n, d_model)`` -> ``(n, vocab)``."""
        ...
