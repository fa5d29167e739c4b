"""Test helpers for the auxiliary-input attacks: a tiny random BERT fill-mask model, fp64
reference log-probabilities from full logits, and JSON Lines writers. Nothing downloads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from tinymodels import CORPUS

#: Small evaluation and auxiliary sets shared by the auxiliary-input tests.
MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "In 1969, humans first walked on the Moon.",
    "the cat sat on the mat and the dog sat on the log",
]
NONMEMBERS = [
    "Sourdough bread rises slowly because of wild yeast.",
    "The committee postponed the vote until next spring.",
    "Glaciers carve valleys over thousands of years.",
    "Tax forms are due at the end of April in many countries.",
]
AUX_N = ["Owls hunt at night.", "Rivers flood in spring.", "A lemon cake needs eggs."]
AUX_M = ["Bees make honey.", "A language model assigns probabilities.", "Snow is cold."]


def build_wordpiece_tokenizer():
    """A lowercasing WordPiece tokenizer (BERT-style, with [MASK]) trained on a few sentences."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    raw = BertWordPieceTokenizer(lowercase=True)
    raw.train_from_iterator(
        CORPUS * 4,
        vocab_size=200,
        min_frequency=1,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    )
    return BertTokenizerFast(tokenizer_object=raw._tokenizer, model_max_length=128)


def build_bert(vocab_size: int, *, seed: int = 3):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    model = BertForMaskedLM(cfg)
    with torch.no_grad():  # sharper predictions than the tiny random init gives
        model.cls.predictions.decoder.weight.mul_(20.0)
    return model.eval()


def save_fill_mask_model(path: Path) -> Path:
    """A fill-mask model folder (config.json, tokenizer files, model.safetensors)."""
    tok = build_wordpiece_tokenizer()
    model = build_bert(len(tok))
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def fp64_log_probs(model, ids: Sequence[int]) -> torch.Tensor:
    """``log p(· | ids[:t+1])`` for every position ``t``, shape ``(len(ids), vocab)``, fp64,
    from one unbatched forward pass with the model cast to float64."""
    try:
        with torch.no_grad():
            logits = model.double()(torch.tensor([list(ids)])).logits[0].double()
    finally:
        model.float()
    return torch.log_softmax(logits, dim=-1)


def scored_log_probs(model, ids: Sequence[int], first: int) -> list[float]:
    """``log p(ids[t] | ids[:t])`` for ``t >= first`` (fp64, full logits)."""
    logp = fp64_log_probs(model, ids)
    return [float(logp[t - 1, ids[t]]) for t in range(first, len(ids))]


def write_jsonl(path: Path, texts: Sequence[str], prefix: str, **columns) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            row = {"id": f"{prefix}{i}", "text": t}
            row.update({k: v[i] for k, v in columns.items()})
            f.write(json.dumps(row) + "\n")
    return path
