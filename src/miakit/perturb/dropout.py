"""The neighborhood paper's neighbor generator: ranked single-word swaps from a masked LM
whose input embedding of the swapped word is dropped out (arXiv 2305.18462, Mattern et al.).

For a text ``x`` and each of its swappable words ``w_i`` (below), the masked LM reads the
*unmasked* text with dropout applied to the input (token) embedding of ``w_i`` alone (each of
its coordinates zeroed with probability ``p``, the kept ones scaled by ``1/(1−p)``, as
``torch.nn.Dropout`` does; ``p = 0.7`` as in the paper). Partly hiding the word this way
(Zhou et al., 2019, BERT-based lexical substitution) makes the model propose substitutes that
fit both the context and the word, where a ``[MASK]`` would throw the word away. At that
position the ``top_k`` most likely whole-word tokens other than the original word are the
proposals, each scored by the MLM probability renormalised without the original token::

    score(w_i → c) = p(c | x̃_i) / (1 − p(w_i | x̃_i))

(``x̃_i``: ``x`` with ``w_i``'s embedding dropped out), computed as a softmax over the vocabulary
without ``w_i``'s id, so it stays exact when ``p(w_i)`` rounds to 1. All swaps of all positions
are ranked by score (ties: earlier word, then the MLM's own order) and the best ``m`` distinct
texts are the neighbors: each differs from ``x`` in exactly one word. The attack then scores
``mean_j NLL(x̃_j) − NLL(x)`` under the target (:mod:`miakit.attacks.neighborhood`).

Confirmed against the authors' released code (github.com/justusmattern27/neighbour-mia,
``attack.py``) and mimir's port: dropout 0.7 on one position's embedding; one forward pass per
position; top-k proposals per position without the original token; score ``p/(1 − p_orig)``;
the best ``n`` single swaps over all positions kept. The authors keep 100 (top 10 per position)
or 50 (top 6), mimir 25; miakit keeps ``m = --neighbors`` (default 10) and ``k = --neighbor-top-k``
(default 10, counted *after* removing the original word).

Word boundaries and subwords (miakit's choice, documented): a *swappable word* is a ``\\w+`` run
of the text that the MLM's tokenizer encodes as exactly one whole-word token (its character
offsets equal the run's, and the token is letters/digits only: no ``##``/continuation piece, no
punctuation, no special token); proposals are whole-word tokens too, and never the original word
in any letter case. A word split into several pieces is not swapped (swapping one piece would
change part of a word, or several tokens at once); the authors' code swaps any WordPiece
position, pieces, punctuation and ``[SEP]`` included. The swap is spliced into the original
string (a capitalised word gets a capitalised substitute, an all-caps word an all-caps one), so
the rest of the text stays byte-identical; the authors decode BERT's tokens instead, which
lowercases an uncased model's text and rewrites spacing. The dropout acts on the model's token
embedding before position embeddings and LayerNorm are added (``get_input_embeddings``, fed as
``inputs_embeds``); the authors drop out the embedding layer's full output and feed that back as
``inputs_embeds``, which adds position embeddings a second time. Words beyond the MLM's maximum
input length (at most 512 tokens) are never swapped.

Determinism: the dropout masks are drawn from the text's generator (:func:`text_seed`) in word
order, one ``torch.rand(hidden)`` vector per swappable word (kept where ``≥ p``), before any
forward pass; the neighbors depend on the model, settings, seed and text only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from miakit._core.lazy import inference_mode, lazy_module
from miakit.errors import InvalidParameterError, ModelLoadError
from miakit.perturb.base import LegacySpelling, generator_for
from miakit.perturb.masked import WeightsFingerprint, load_masked_lm, whole_word_table

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

_WORD = re.compile(r"\w+")
#: the most logits (rows × tokens × vocabulary) one forward pass may produce
_LOGIT_BUDGET = 2**27


@dataclass(frozen=True)
class Swap:
    """One proposed single-word swap: characters ``start:end`` (the word ``original``) become
    ``replacement`` (the MLM's token ``token_id``), with the paper's ``score``."""

    start: int
    end: int
    original: str
    replacement: str
    token_id: int
    score: float

    def apply(self, text: str) -> str:
        return text[: self.start] + self.replacement + text[self.end :]


class DropoutSwapPerturber(LegacySpelling):
    """The paper's generator (module docstring) for any Hugging Face masked LM.

    Args:
        model: an ``AutoModelForMaskedLM`` model (evaluation mode is set here).
        tokenizer: its *fast* tokenizer (character offsets are needed).
        name: a label for messages.
        fingerprint: what identifies the weights (keys the neighbor cache); computed from
            the parameters when omitted, and after any in-place change
            (:class:`~miakit.perturb.masked.WeightsFingerprint`).
        dropout: embedding dropout rate ``p``, in ``[0, 1)`` (the paper: 0.7).
        top_k: proposals per word, the original word excluded.
        batch_size: positions per forward pass (fewer for long texts, so that the pass's
            logits stay under about 2**27 floats, 512 MiB in fp32).

    Raises:
        InvalidParameterError: ``dropout`` or ``top_k`` out of range.
        ModelLoadError: the tokenizer cannot give character offsets.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "fill-mask",
        fingerprint: str | None = None,
        dropout: float = 0.7,
        top_k: int = 10,
        batch_size: int = 32,
    ) -> None:
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise InvalidParameterError(f"embedding dropout must be a number; got {dropout!r}")
        if not 0 <= float(dropout) < 1:
            raise InvalidParameterError(
                f"embedding dropout must be in [0, 1) (the paper uses 0.7); got {dropout!r}"
            )
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InvalidParameterError(f"--neighbor-top-k must be an integer >= 1; got {top_k!r}")
        if not getattr(tokenizer, "is_fast", False):
            raise ModelLoadError(
                f"fill-mask model {name!r}: its tokenizer is not a fast (Rust) tokenizer, so it "
                "cannot map tokens to characters; save the folder with a tokenizer.json"
            )
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self._fingerprint = WeightsFingerprint(self.model, fingerprint)
        self.dropout = float(dropout)
        self.top_k = int(top_k)
        self.batch_size = int(batch_size)
        self.device = next(model.parameters()).device
        self.words = whole_word_table(model, tokenizer)
        self._allowed = torch.tensor([w is not None for w in self.words], dtype=torch.bool)
        self._by_word: dict[str, list[int]] = {}
        for i, w in enumerate(self.words):
            if w is not None:
                self._by_word.setdefault(w.casefold(), []).append(i)
        limit = int(getattr(tokenizer, "model_max_length", 512) or 512)
        positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        self.max_length = min(limit, 512, int(positions or 512))

    @classmethod
    def load(
        cls, path: str, *, device: str = "auto", dropout: float = 0.7, top_k: int = 10
    ) -> DropoutSwapPerturber:
        """Load a masked LM from a local folder (safetensors only, see
        :func:`~miakit.perturb.masked.load_masked_lm`)."""
        model, tokenizer, fingerprint = load_masked_lm(path, device=device)
        return cls(
            model, tokenizer, name=str(path), fingerprint=fingerprint, dropout=dropout, top_k=top_k
        )

    @property
    def fingerprint(self) -> str:
        """The weights' hash (:class:`~miakit.perturb.masked.WeightsFingerprint`)."""
        return self._fingerprint()

    @property
    def identity(self) -> Mapping[str, Any]:
        from miakit.backends.hf import fingerprint_tokenizer

        return {
            "kind": "mlm_dropout_swap",
            "version": 1,
            "paper": "2305.18462",
            "model": self.fingerprint,
            "tokenizer": fingerprint_tokenizer(self.tokenizer),
            "dropout": self.dropout,
            "top_k": self.top_k,
            "max_length": self.max_length,
        }

    def neighbors(self, texts: Sequence[str], m: int, seed: int) -> list[list[str]]:
        """The ``m`` best-ranked distinct single-word swaps of each text (fewer when it has
        fewer; none without a swappable word)."""
        out = []
        for text in texts:
            seen: set[str] = set()
            kept: list[str] = []
            for swap in self.ranked_swaps(text, seed):
                neighbor = swap.apply(text)
                if neighbor != text and neighbor not in seen:
                    seen.add(neighbor)
                    kept.append(neighbor)
                    if len(kept) == m:
                        break
            out.append(kept)
        return out

    def swappable(self, text: str) -> list[tuple[int, int, int]]:
        """``(token position, start, end)`` of each swappable word (module docstring)."""
        enc = self.tokenizer(
            text,
            truncation=True,
            max_length=self.max_length,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        words = {m_.span() for m_ in _WORD.finditer(text)}
        out = []
        for t, (tid, (a, b), special) in enumerate(
            zip(enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"], strict=True)
        ):
            if special or (a, b) not in words:
                continue
            if tid < len(self.words) and self.words[tid] is not None:
                out.append((t, a, b))
        return out

    def ranked_swaps(self, text: str, seed: int) -> list[Swap]:
        """Every proposed swap of ``text``, best first (the paper's ranking)."""
        spots = self.swappable(text)
        if not spots:
            return []
        enc = self.tokenizer(text, truncation=True, max_length=self.max_length, return_tensors="pt")
        enc = {k: v.to(self.device) for k, v in enc.items() if k != "offset_mapping"}
        ids = enc["input_ids"][0]
        embed = self.model.get_input_embeddings()
        hidden = int(embed.weight.shape[-1])
        generator = generator_for(seed, text)
        keep = []
        for _ in spots:  # all draws first, in word order (module docstring)
            if self.dropout > 0:
                keep.append(torch.rand(hidden, generator=generator) >= self.dropout)
            else:
                keep.append(torch.ones(hidden, dtype=torch.bool))
        swaps: list[tuple[float, int, int, Swap]] = []
        vocab = int(self.model.get_output_embeddings().weight.shape[0])
        rows = max(1, min(self.batch_size, _LOGIT_BUDGET // (int(ids.shape[0]) * vocab)))
        for start in range(0, len(spots), rows):
            chunk = list(range(start, min(start + rows, len(spots))))
            logits = self._logits(enc, ids, embed, [spots[j][0] for j in chunk], keep, chunk)
            for j, row in zip(chunk, logits, strict=True):
                swaps += self._proposals(text, ids, spots[j], row, j)
        swaps.sort(key=lambda s: (-s[0], s[1], s[2]))
        return [s[3] for s in swaps]

    # -- internals ---------------------------------------------------------------------
    @inference_mode
    def _logits(
        self,
        enc: dict[str, torch.Tensor],
        ids: torch.Tensor,
        embed: torch.nn.Module,
        positions: list[int],
        keep: list[torch.Tensor],
        chunk: list[int],
    ) -> torch.Tensor:
        """Per position: the MLM's logits there with that position's embedding dropped out,
        shape ``(len(positions), vocab)``, float64."""
        n = len(positions)
        base = embed(ids[None, :])  # (1, T, d)
        inputs = base.repeat(n, 1, 1)
        scale = 1.0 / (1.0 - self.dropout)
        for r, (t, j) in enumerate(zip(positions, chunk, strict=True)):
            mask = keep[j].to(device=inputs.device, dtype=inputs.dtype)
            inputs[r, t] = base[0, t] * mask * scale
        extra = {k: v.repeat(n, 1) for k, v in enc.items() if k != "input_ids"}
        logits = self.model(inputs_embeds=inputs, **extra).logits  # (n, T, V)
        rows = torch.arange(n, device=logits.device)
        return logits[rows, torch.tensor(positions, device=logits.device)].double().cpu()

    def _proposals(
        self,
        text: str,
        ids: torch.Tensor,
        spot: tuple[int, int, int],
        row: torch.Tensor,
        order: int,
    ) -> list[tuple[float, int, int, Swap]]:
        """The ``top_k`` swaps at one position as ``(score, word order, rank, swap)``."""
        t, a, b = spot
        original = text[a:b]
        orig_id = int(ids[t])
        # p(c) / (1 − p(orig)): a softmax over the vocabulary without the original token
        others = row.clone()
        others[orig_id] = float("-inf")
        norm = float(torch.logsumexp(others, dim=-1))
        allowed = self._allowed[: row.shape[-1]].clone()
        for idx in self._by_word.get(original.casefold(), ()):
            if idx < allowed.shape[0]:
                allowed[idx] = False
        allowed[orig_id] = False
        candidates = others.masked_fill(~allowed, float("-inf"))
        values, index = torch.topk(candidates, min(self.top_k, candidates.shape[-1]))
        out = []
        for rank, (v, i) in enumerate(zip(values.tolist(), index.tolist(), strict=True)):
            if v == float("-inf"):
                break
            word = str(self.words[i])
            if original.isupper() and len(original) > 1:
                word = word.upper()
            elif original[:1].isupper():
                word = word[:1].upper() + word[1:]
            score = math.exp(v - norm)
            out.append((score, order, rank, Swap(a, b, original, word, int(i), score)))
        return out
