"""Narrow, capability-typed model interfaces.

A backend offers capabilities; a run checks them once, before it starts, and branches on the
record it got back, never on probes of the object. Each capability is a small
:class:`typing.Protocol`:

- :class:`TokenScorer` (every backend): tokenizes text and produces, for a right-padded batch
  of token ids, final hidden states, and fp32 logits for chosen positions. It also carries its
  :class:`Capabilities` record, which says which of the protocols below it implements.
- :class:`PackedScorer`: hidden states of one packed (padding-free) row of samples back to
  back, with varlen attention; only where the architecture is known to pack correctly.
- :class:`PrefixKVScorer`: runs a shared prefix once and scores suffixes that attend to its
  cached keys and values (ReCaLL shots).
- :class:`CharOffsetScorer`: how many characters of a text its first ``n`` tokens cover
  (the ``kept_chars`` of truncated texts).
- :class:`TokenizerScorer`: exposes a Hugging Face tokenizer (vocabulary, ``decode``,
  ``convert_ids_to_tokens``), for paired statistics and the built-in neighbor generator.
- :class:`GradientScorer`: exact per-sample norms of the gradient of each input's mean token
  NLL with respect to the weights, per parameter group (white-box attacks: ``gradnorm``).

:func:`check_capabilities` validates a scorer's record against these protocols, once, at
construction of whatever uses it (the signal engine, a perturber); the record is reported in
``metrics.json`` (``models.<role>.capabilities``).

Later families will add their own protocols here when they exist (text generation for
black-box attacks, classifier logits for shadow models); none is stubbed before it has a first
implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from miakit.errors import BackendCapabilityError

if TYPE_CHECKING:  # annotations only: listing attacks or reading a config loads no torch
    import torch


@dataclass(frozen=True)
class Capabilities:
    """What a :class:`TokenScorer` can do beyond padded scoring, decided by the backend when
    it is built (for a Hugging Face model: from its architecture and tokenizer).

    Attributes:
        packed: implements :class:`PackedScorer`, and this architecture scores packed rows
            correctly (varlen attention, positions restarting per sample).
        prefix_kv: implements :class:`PrefixKVScorer`.
        char_offsets: implements :class:`CharOffsetScorer`.
        tokenizer: implements :class:`TokenizerScorer`.
        gradients: implements :class:`GradientScorer` (the weights are readable and
            differentiable: white-box).
    """

    packed: bool = False
    prefix_kv: bool = False
    char_offsets: bool = False
    tokenizer: bool = False
    gradients: bool = False

    def names(self) -> list[str]:
        """The capabilities offered, always including ``token_scores`` (for reports)."""
        return ["token_scores"] + [name for name, offered in asdict(self).items() if offered]


@runtime_checkable
class TokenScorer(Protocol):
    """Per-token scoring of a causal language model, on right-padded batches.

    Attributes:
        name: a human-readable name (a path or a label given by the user).
        fingerprint: a hash of the weights and configuration; changes when the model changes.
        tokenizer_fingerprint: a hash of the tokenizer (vocabulary, merges, special tokens).
        device: where forward passes run.
        dtype: the dtype of the forward pass (part of the signal cache's key).
        vocab_size: the number of logits per position.
        capabilities: which of the other protocols of this module the scorer implements.
    """

    name: str
    device: torch.device
    vocab_size: int

    @property
    def fingerprint(self) -> str: ...

    @property
    def tokenizer_fingerprint(self) -> str: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def capabilities(self) -> Capabilities: ...

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


@runtime_checkable
class PackedScorer(TokenScorer, Protocol):
    """Scoring of packed rows: samples back to back in one row of batch size 1."""

    def hidden_states_packed(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        cu_seqlens: torch.Tensor,
        max_length: int,
        prefix_kv: list[Any] | None = None,
    ) -> torch.Tensor:
        """Final hidden states ``(1, T, d)`` of one packed row: ``input_ids`` and
        ``position_ids`` ``(1, T)`` (positions restart at 0 per sample, or at the prefix
        length with ``prefix_kv``), sample boundaries ``cu_seqlens`` ``(n + 1,)`` int32 and
        the longest sample ``max_length``. With ``prefix_kv`` (from
        :meth:`PrefixKVScorer.prefix_state`) every sample also attends to that prefix."""
        ...


@runtime_checkable
class PrefixKVScorer(TokenScorer, Protocol):
    """A shared prefix run once; suffixes attend to its cached keys and values."""

    def prefix_state(self, prefix_ids: list[int]) -> tuple[list[Any], torch.Tensor]:
        """Per-layer ``(key, value)`` of the prefix, each ``(1, heads, P, head_dim)``, and the
        last position's hidden state ``(d,)``."""
        ...

    def hidden_states_after_prefix(
        self, kv: list[Any], input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Hidden states ``(B, W, d)`` of right-padded suffixes attending to the prefix ``kv``."""
        ...


@runtime_checkable
class CharOffsetScorer(TokenScorer, Protocol):
    """Character coverage of leading tokens."""

    def char_ends(self, texts: Sequence[str], n_tokens: int) -> list[int | None]:
        """For each text, how many characters its first ``n_tokens`` tokens cover (``None``
        where the tokenizer cannot tell)."""
        ...


@runtime_checkable
class TokenizerScorer(TokenScorer, Protocol):
    """Exposes its Hugging Face tokenizer (``get_vocab``, ``len``, ``decode``,
    ``convert_ids_to_tokens``, ``all_special_ids``)."""

    tokenizer: Any


@runtime_checkable
class GradientScorer(TokenScorer, Protocol):
    """Per-sample gradients of the mean token NLL with respect to the weights."""

    def gradient_norms(self, inputs: Sequence[tuple[Sequence[int], int]]) -> tuple[list[str], Any]:
        """For each input ``(ids, first_scored)`` (tokens ``ids[first_scored:]`` are scored,
        each predicted from the position before it, as in the signal engine's prepare step),
        the gradient ``g`` of ``−mean_t log p(ids[t] | ids[:t])`` over its scored tokens, one
        sample at a time (never a batch mean), with the model in eval mode and its weights,
        training flag and ``requires_grad`` flags unchanged afterwards.

        Returns:
            The parameter-group names ``(L,)`` and a float64 array ``(n, L, 3)``: per group,
            ``Σ|g|``, ``√Σg²`` and ``max|g|`` (NaN rows for an input with no scored token).
        """
        ...


#: Each capability flag and the protocol that a scorer claiming it must implement.
PROTOCOLS: dict[str, type] = {
    "packed": PackedScorer,
    "prefix_kv": PrefixKVScorer,
    "char_offsets": CharOffsetScorer,
    "tokenizer": TokenizerScorer,
    "gradients": GradientScorer,
}


def check_capabilities(scorer: object) -> Capabilities:
    """The capability record of ``scorer``, checked once against the protocols it claims.

    Raises:
        BackendCapabilityError: ``scorer`` is not a :class:`TokenScorer`, or claims a
            capability whose methods it lacks.
    """
    if not isinstance(scorer, TokenScorer):
        raise BackendCapabilityError(
            f"{type(scorer).__name__} is not a TokenScorer: it needs name, device, vocab_size, "
            "fingerprint, tokenizer_fingerprint, dtype, capabilities, encode, lead_ids, "
            "hidden_states and logits (see miakit.backends.base)"
        )
    caps = scorer.capabilities
    if not isinstance(caps, Capabilities):
        raise BackendCapabilityError(
            f"backend {scorer.name!r}: capabilities must be a miakit.backends.base.Capabilities, "
            f"got {type(caps).__name__}"
        )
    claimed = asdict(caps)
    missing = [
        name
        for name, protocol in PROTOCOLS.items()
        if claimed[name] and not isinstance(scorer, protocol)
    ]
    if missing:
        raise BackendCapabilityError(
            f"backend {scorer.name!r} claims {', '.join(missing)} but does not implement "
            f"{', '.join(PROTOCOLS[m].__name__ for m in missing)}"
        )
    return caps
