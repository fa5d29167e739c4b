"""A sampling masked-LM perturber (several masked words per neighbor): a *variant*, not the
neighborhood paper's generator, which is :class:`~miakit.perturb.dropout.DropoutSwapPerturber`.

A neighbor masks ``round(fraction · n)`` (at least 1) of the text's ``n`` words, chosen at
random (a *word* is a run of Unicode word characters, ``\\w+``: punctuation and whitespace stay
as they are), with one mask token each, runs the masked LM once over the masked text, and
replaces each masked word by a token drawn from the model's prediction at its mask, restricted
to the ``top_k`` most likely whole-word tokens (letters or digits only; no ``##`` pieces, no
special tokens) other than the original word (compared case-insensitively), renormalised over
them. A replacement of a capitalised word is capitalised. Words beyond the model's maximum
input length are never masked.

No attack of the command line uses it (``neighborhood`` uses the paper's generator,
``neighborhood_causal`` the target model); pass it as ``miakit.run(perturber=...)`` to try
it, and its identity (``kind: masked_lm_sample``) is recorded in ``metrics.json``. Masking
several words at once is the common generalisation (the SoK benchmark uses RoBERTa with top-k
10); the paper (arXiv 2305.18462) swaps one word per neighbor and drops out the word's input
embedding instead of masking it.

Loading is local only (``local_files_only=True``), from safetensors; a folder without
``*.safetensors`` weights is refused rather than unpickled (:func:`load_masked_lm`).

The weights' fingerprint (part of the neighbor cache's key, :class:`WeightsFingerprint`): the
files' hash for a model loaded from a folder; for an in-memory model given without one, a hash
of its configuration and parameters. Either is recomputed from the parameters after any
in-place change to them, as :attr:`miakit.backends.hf.HFTokenScorer.fingerprint` is, so two
different models, or one model trained between two runs, never share cached neighbors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miakit._core.lazy import inference_mode, lazy_module
from miakit.errors import ModelLoadError
from miakit.perturb.base import (
    LegacySpelling,
    check_settings,
    generator_for,
    n_replacements,
    sample_candidate,
)

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

_WORD = re.compile(r"\w+")
_MARKERS = ("Ġ", "▁")


def _bare(token: str) -> str:
    """A vocabulary string without its word-boundary marker."""
    return token[1:] if token[:1] in _MARKERS else token


class WeightsFingerprint:
    """The fingerprint of a masked LM's weights, kept in step with the model.

    ``given`` (the files' hash of a loaded folder) is used while the parameters are unchanged;
    without one (``None`` or ``""``: an in-memory model), the parameters are hashed
    (:func:`~miakit.backends.hf.fingerprint_module`). Any in-place change to a parameter after
    that (an optimiser step, ``copy_``, ``load_state_dict``) is detected by the scorer's
    weights key (``miakit.backends.hf.scorer._weights_key``) and the parameters are hashed
    again, so the neighbor cache never serves another model's neighbors.
    """

    def __init__(self, model: torch.nn.Module, given: str | None = None) -> None:
        from miakit.backends.hf.scorer import _weights_key

        self._model = model
        self._value = given or None
        self._key = _weights_key(model)

    def __call__(self) -> str:
        from miakit.backends.hf import fingerprint_module
        from miakit.backends.hf.scorer import _weights_key

        key = _weights_key(self._model)
        if key != self._key:
            self._value, self._key = None, key
        if self._value is None:
            self._value = fingerprint_module(self._model)
        return self._value


class MaskedLMPerturber(LegacySpelling):
    """Neighbors from a masked LM (module docstring).

    Args:
        model: an ``AutoModelForMaskedLM`` model (evaluation mode is set here).
        tokenizer: its tokenizer (with a mask token).
        name: a label for messages.
        fingerprint: what identifies the weights (keys the neighbor cache); computed from
            the parameters when omitted, and after any in-place change
            (:class:`WeightsFingerprint`).
        fraction: share of the words masked per neighbor, in ``(0, 1]``.
        top_k: replacements are drawn from this many most likely whole-word tokens.
        batch_size: masked texts per forward pass.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "fill-mask",
        fingerprint: str | None = None,
        fraction: float = 0.15,
        top_k: int = 10,
        batch_size: int = 32,
    ) -> None:
        check_settings(fraction=fraction, top_k=top_k)
        if getattr(tokenizer, "mask_token_id", None) is None:
            raise ModelLoadError(f"fill-mask model {name!r}: its tokenizer has no mask token")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self._fingerprint = WeightsFingerprint(self.model, fingerprint)
        self.fraction = float(fraction)
        self.top_k = int(top_k)
        self.batch_size = int(batch_size)
        self.device = next(model.parameters()).device
        self._words: list[str | None] | None = None
        self._by_word: dict[str, list[int]] = {}

    @classmethod
    def load(
        cls,
        path: str,
        *,
        device: str = "auto",
        fraction: float = 0.15,
        top_k: int = 10,
    ) -> MaskedLMPerturber:
        """Load a masked LM and its tokenizer from a local folder (safetensors only).

        Raises:
            ModelLoadError: the folder is missing, has no safetensors weights or cannot load.
        """
        model, tokenizer, fingerprint = load_masked_lm(path, device=device)
        return cls(
            model,
            tokenizer,
            name=str(path),
            fingerprint=fingerprint,
            fraction=fraction,
            top_k=top_k,
        )

    @property
    def fingerprint(self) -> str:
        """The weights' hash (:class:`WeightsFingerprint`)."""
        return self._fingerprint()

    @property
    def identity(self) -> Mapping[str, Any]:
        from miakit.backends.hf import fingerprint_tokenizer

        return {
            "kind": "masked_lm_sample",
            "version": 1,
            "model": self.fingerprint,
            "tokenizer": fingerprint_tokenizer(self.tokenizer),
            "fraction": self.fraction,
            "top_k": self.top_k,
        }

    def whole_words(self) -> list[str | None]:
        """Per vocabulary id: the bare word it stands for, or ``None`` when it is not a
        whole word of letters/digits (a ``##`` piece, punctuation, a special token)."""
        if self._words is None:
            self._words = whole_word_table(self.model, self.tokenizer)
            for i, w in enumerate(self._words):
                if w is not None:
                    self._by_word.setdefault(w.casefold(), []).append(i)
        return self._words

    def neighbors(self, texts: Sequence[str], m: int, seed: int) -> list[list[str]]:
        """Up to ``m`` neighbors per text; none for a text without a word."""
        words = self.whole_words()
        allowed = torch.tensor([w is not None for w in words], dtype=torch.bool)
        # one job per (text, neighbor): the word spans it masks, chosen with the text's
        # generator in neighbor order
        generators = [generator_for(seed, t) for t in texts]
        jobs: list[tuple[int, list[tuple[int, int]]]] = []
        for i, text in enumerate(texts):
            spans = [m_.span() for m_ in _WORD.finditer(text)]
            k = n_replacements(self.fraction, len(spans))
            for _ in range(m if spans else 0):
                pick = torch.randperm(len(spans), generator=generators[i])[:k].tolist()
                jobs.append((i, sorted(spans[p] for p in pick)))
        out: list[list[str]] = [[] for _ in texts]
        for start in range(0, len(jobs), self.batch_size):
            batch = jobs[start : start + self.batch_size]
            predictions = self._predict(
                [_masked(texts[i], spans, self.tokenizer.mask_token) for i, spans in batch]
            )
            for (i, spans), logits in zip(batch, predictions, strict=True):
                neighbor = self._fill(texts[i], spans, logits, allowed, words, generators[i])
                if neighbor is not None:
                    out[i].append(neighbor)
        return out

    # -- internals ---------------------------------------------------------------------
    @inference_mode
    def _predict(self, masked: list[str]) -> list[torch.Tensor]:
        """Per masked text: the logits at its mask positions, shape ``(n_masks, vocab)``."""
        limit = min(int(getattr(self.tokenizer, "model_max_length", 512) or 512), 512)
        enc = self.tokenizer(
            masked, truncation=True, max_length=limit, padding=True, return_tensors="pt"
        )
        enc = {k: v.to(self.device) for k, v in enc.items()}
        logits = self.model(**enc).logits.float()  # (B, T, V)
        is_mask = enc["input_ids"] == self.tokenizer.mask_token_id
        return [logits[b][is_mask[b]].cpu() for b in range(logits.shape[0])]

    def _fill(
        self,
        text: str,
        spans: list[tuple[int, int]],
        logits: torch.Tensor,
        allowed: torch.Tensor,
        words: list[str | None],
        generator: torch.Generator,
    ) -> str | None:
        """The text with each masked word replaced (masks lost to truncation keep the
        original word); ``None`` when nothing could be replaced."""
        pieces: list[str] = []
        last = 0
        changed = False
        for (a, b), row in zip(spans, logits, strict=False):
            original = text[a:b]
            row = row.masked_fill(~allowed[: row.shape[-1]], float("-inf"))
            for idx in self._by_word.get(original.casefold(), ()):
                row[idx] = float("-inf")
            values, index = torch.topk(row.double(), min(self.top_k, row.shape[-1]))
            token = sample_candidate(values, index, generator)
            replacement = original
            if token is not None and words[token] is not None:
                replacement = str(words[token])
                if original[:1].isupper():
                    replacement = replacement[:1].upper() + replacement[1:]
                changed = True
            pieces += [text[last:a], replacement]
            last = b
        pieces.append(text[last:])
        return "".join(pieces) if changed else None


def load_masked_lm(path: str, *, device: str = "auto") -> tuple[Any, Any, str]:
    """``(model, tokenizer, fingerprint)`` of the masked LM in the local folder ``path``
    (``local_files_only``, ``*.safetensors`` weights only), the model on ``device``.

    Raises:
        ModelLoadError: the folder is missing, has no safetensors weights or cannot load.
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from miakit.backends.hf import fingerprint_files, resolve_device

    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelLoadError(
            f"--fill-mask-model {str(folder)!r} is not a folder; miakit never downloads "
            "models: give a local folder with config.json, tokenizer files and "
            "*.safetensors"
        )
    if not any(p.suffix == ".safetensors" for p in folder.iterdir()):
        raise ModelLoadError(
            f"--fill-mask-model {folder} holds no *.safetensors weights (pickle weights "
            "are not loaded); convert them to safetensors"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForMaskedLM.from_pretrained(
            str(folder), local_files_only=True, use_safetensors=True
        )
    except Exception as exc:  # transformers raises many types here
        raise ModelLoadError(f"cannot load the fill-mask model from {folder}: {exc}") from exc
    return model.to(resolve_device(device)).eval(), tokenizer, fingerprint_files(folder, None)


def whole_word_table(model: Any, tokenizer: Any) -> list[str | None]:
    """Per vocabulary id of ``model``'s output layer: the bare word the token stands for, or
    ``None`` when it is not a whole word of letters/digits (a ``##`` piece, punctuation, a
    special token)."""
    vocab = int(model.get_output_embeddings().weight.shape[0])
    n_tok = min(vocab, len(tokenizer))
    tokens = tokenizer.convert_ids_to_tokens(list(range(n_tok)))
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    words: list[str | None] = [None] * vocab
    for i, tok in enumerate(tokens):
        bare = _bare(tok) if tok else ""
        if i not in special and bare.isalnum():
            words[i] = bare
    return words


def _masked(text: str, spans: list[tuple[int, int]], mask: str) -> str:
    """``text`` with each span replaced by ``mask``."""
    pieces, last = [], 0
    for a, b in spans:
        pieces += [text[last:a], mask]
        last = b
    pieces.append(text[last:])
    return "".join(pieces)
