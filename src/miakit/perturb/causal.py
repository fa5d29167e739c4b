"""The built-in perturber of the ``neighborhood_causal`` attack: word-initial tokens resampled
from the target model itself. It is a miakit *variant*, not the neighborhood paper's generator
(arXiv 2305.18462 uses a masked LM with embedding dropout and ranked single-word swaps:
:mod:`miakit.perturb.dropout`, the ``neighborhood`` attack), which is why its results carry
their own attack name.

For each text, one forward pass of the causal LM over the original tokens gives, at every
position, the next-token distribution given the *original* left context. A neighbor replaces
``round(fraction · n)`` (at least 1) of the text's ``n`` replaceable tokens, chosen at random,
each by a token drawn from that position's distribution restricted to the ``top_k`` most
likely *word-initial* tokens other than the original (renormalised over them).

A token is *word-initial* when its vocabulary string starts with a word-boundary marker
(``Ġ`` byte-level BPE, ``▁`` SentencePiece, or a space) followed by a letter or digit:
replacing one swaps (the first piece of) a word and leaves spaces and punctuation alone. A text
token is replaceable when it is word-initial and predicted from at least one earlier input
token (the first token is replaceable only after a BOS token).

The forward pass is the signal engine's loop (:mod:`miakit.signals.engine`): texts truncated
and batched as for scoring (:func:`~miakit.signals.prepare.truncate`,
:func:`~miakit.signals.batching.padded_batches`), and the hidden states of the predicting
positions from its forward step (:class:`~miakit.signals.forward.Forward`).

Simplification (documented, deliberate): all replacements of a neighbor are drawn from the
distributions of the one pass over the original text, not re-conditioned on the replacements
made to their left, so ``m`` neighbors cost one forward pass instead of one per replaced
token. Replacing a word-initial piece of a multi-piece word keeps the word's other pieces.
Neighbors are decoded with the tokenizer (``decode`` of the edited ids), so a tokenizer whose
decode does not reproduce the text exactly (some SentencePiece normalisers) also changes
whitespace elsewhere; byte-level BPE tokenizers reproduce it exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from miakit._core.lazy import inference_mode, lazy_module
from miakit.backends.base import (
    Capabilities,
    TokenizerScorer,
    TokenScorer,
    check_capabilities,
)
from miakit.config.options import check_options
from miakit.errors import BackendCapabilityError
from miakit.perturb.base import (
    LegacySpelling,
    check_settings,
    generator_for,
    n_replacements,
    sample_candidate,
    top_candidates,
)
from miakit.signals.batching import padded_batches
from miakit.signals.forward import Forward
from miakit.signals.prepare import ScoringInput, truncate

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

#: Vocabulary-string prefixes that mark the start of a word.
WORD_MARKERS = ("Ġ", "▁", " ")


def is_word_initial(token: str | None) -> bool:
    """A word-boundary marker followed by a letter or digit (see the module docstring)."""
    return bool(token and len(token) > 1 and token[0] in WORD_MARKERS and token[1:2].isalnum())


class CausalLMPerturber(LegacySpelling):
    """Neighbors from the target model's own next-token distributions (module docstring).

    Args:
        scorer: the target backend; it needs the ``tokenizer`` capability (a Hugging Face
            tokenizer: ``convert_ids_to_tokens``, ``decode``,
            :class:`~miakit.backends.base.TokenizerScorer`), as
            :class:`~miakit.backends.hf.HFTokenScorer` has.
        fraction: share of the replaceable tokens replaced per neighbor, in ``(0, 1]``.
        top_k: replacements are drawn from this many most likely word-initial tokens.
        max_length: the most input tokens of one forward pass (later tokens are kept but
            never replaced).
        bos: BOS policy (``auto``, ``always``, ``never``), as for scoring.
        batch_tokens: the most padded tokens per forward batch.

    Raises:
        BackendCapabilityError: the backend has no Hugging Face tokenizer.
    """

    def __init__(
        self,
        scorer: TokenScorer,
        *,
        fraction: float = 0.15,
        top_k: int = 10,
        max_length: int = 2048,
        bos: str = "auto",
        batch_tokens: int = 4096,
    ) -> None:
        check_settings(fraction=fraction, top_k=top_k)
        # the engine's settings, checked as the config declares them (never a silent default)
        check_options(
            "CausalLMPerturber",
            {"max_length": max_length, "bos": bos, "batch_tokens": batch_tokens},
        )
        try:
            capabilities = check_capabilities(scorer)
        except BackendCapabilityError:  # not a scorer at all: the same advice applies
            capabilities = Capabilities()
        if not capabilities.tokenizer:
            raise BackendCapabilityError(
                f"the built-in perturber needs the target's Hugging Face tokenizer; backend "
                f"{scorer.name!r} has none. Run --attacks neighborhood --fill-mask-model PATH "
                "to generate neighbors with a masked LM instead."
            )
        self.scorer = scorer
        self.tokenizer = cast(TokenizerScorer, scorer).tokenizer
        self.fraction = float(fraction)
        self.top_k = int(top_k)
        self.max_length = int(max_length)
        self.lead = list(scorer.lead_ids(bos))
        self.batch_tokens = int(batch_tokens)
        # the signal engine's forward step (padded batches: the states of every position)
        self._forward = Forward(scorer, packed=False, prefix_kv=False)
        self._word_initial: torch.Tensor | None = None

    @property
    def identity(self) -> Mapping[str, Any]:
        return {
            "kind": "causal_lm",
            "version": 1,
            "model": self.scorer.fingerprint,
            "tokenizer": self.scorer.tokenizer_fingerprint,
            "lead": self.lead,
            "fraction": self.fraction,
            "top_k": self.top_k,
            "max_length": self.max_length,
        }

    def word_initial(self) -> torch.Tensor:
        """Bool mask of shape ``(vocab,)``: which ids are word-initial (never special ids)."""
        if self._word_initial is None:
            vocab = int(self.scorer.vocab_size)
            n_tok = min(vocab, len(self.tokenizer))
            tokens = self.tokenizer.convert_ids_to_tokens(list(range(n_tok)))
            special = set(self.tokenizer.all_special_ids or [])
            mask = torch.zeros(vocab, dtype=torch.bool)
            for i, tok in enumerate(tokens):
                if i not in special and is_word_initial(tok):
                    mask[i] = True
            self._word_initial = mask
        return self._word_initial

    def neighbors(self, texts: Sequence[str], m: int, seed: int) -> list[list[str]]:
        """Up to ``m`` neighbors per text; none for a text without a replaceable token."""
        word_initial = self.word_initial()
        flags = word_initial.tolist()
        encoded = self.scorer.encode(list(texts))
        room = max(1, self.max_length - len(self.lead))
        out: list[list[str]] = [[] for _ in texts]
        # (text index, replaceable text positions) for texts that have any
        todo = []
        first = 0 if self.lead else 1
        for i, ids in enumerate(encoded):
            positions = [
                j
                for j in range(first, min(len(ids), room))
                if ids[j] < len(flags) and flags[ids[j]]
            ]
            if positions:
                todo.append((i, positions))
        # the signal engine's loop: truncate as it does, its padded batches, its forward step
        inputs = truncate([encoded[i] for i, _ in todo], self.lead, room)
        for unit in padded_batches(inputs, self.batch_tokens):
            batch = [todo[u] for u in unit]
            candidates = self._candidates([inputs[u] for u in unit], batch, encoded, word_initial)
            for (i, positions), (values, index) in zip(batch, candidates, strict=True):
                out[i] = self._sample(texts[i], encoded[i], positions, values, index, m, seed)
        return out

    # -- internals ---------------------------------------------------------------------
    @inference_mode
    def _candidates(
        self,
        unit: list[ScoringInput],
        batch: list[tuple[int, list[int]]],
        encoded: list[list[int]],
        word_initial: torch.Tensor,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per text: top-k word-initial candidates (values, ids), shape ``(n_positions, k)``,
        from one forward pass over the original tokens (``unit``, one input per text)."""
        predicting = self._forward.unit(unit, packed=False)
        if predicting is None:  # every text here has a replaceable, hence scored, token
            raise RuntimeError("internal error: a neighbor batch without a scored token")
        hidden = predicting.hidden  # (N, d): the states predicting each scored token, in order
        device = hidden.device
        allowed = word_initial.to(device)
        out = []
        offset = 0  # where this input's scored tokens start among the N
        for x, (i, positions) in zip(unit, batch, strict=True):
            # the input position before text token j predicts it: scored token
            # len(lead) + j - first_scored of this input
            rows = [offset + len(self.lead) + j - x.first_scored for j in positions]
            offset += len(x.ids) - x.first_scored
            logits = self.scorer.logits(hidden[torch.tensor(rows, device=device)])  # (P, V) fp32
            logits = logits.masked_fill(~allowed[None, : logits.shape[-1]], float("-inf"))
            original = torch.tensor([encoded[i][j] for j in positions], device=device)
            logits[torch.arange(len(positions), device=device), original] = float("-inf")
            out.append(top_candidates(logits, self.top_k))
        return out

    def _sample(
        self,
        text: str,
        ids: list[int],
        positions: list[int],
        values: torch.Tensor,
        index: torch.Tensor,
        m: int,
        seed: int,
    ) -> list[str]:
        generator = generator_for(seed, text)
        k = n_replacements(self.fraction, len(positions))
        neighbors = []
        for _ in range(m):
            chosen = sorted(torch.randperm(len(positions), generator=generator)[:k].tolist())
            new = list(ids)
            changed = False
            for p in chosen:
                token = sample_candidate(values[p], index[p], generator)
                if token is not None:
                    new[positions[p]] = token
                    changed = True
            if changed:
                neighbors.append(
                    self.tokenizer.decode(
                        new, skip_special_tokens=False, clean_up_tokenization_spaces=False
                    )
                )
        return neighbors
