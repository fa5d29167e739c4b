"""The demo's two models as folders in its cache, so a rerun loads neither (issue 15).

The base SmolLM2-135M ships as a quantised GGUF file; transformers dequantises it on the CPU
at every load (about 15 s of a 22 s cached rerun on two cores), and its tokenizer is parsed
from the same file. The first run therefore writes the dequantised base once as a
safetensors folder (fp32 weights, config, tokenizer) beside the fine-tune, both under the demo
cache. The run gets both as folders (:class:`~miakit.backends.hf.LazyHFTokenScorer`): their
weights and tokenizers load only when a signal is missing, so a rerun whose signals are all
cached loads no model, no tokenizer, and imports neither torch nor transformers.

The folders hold exactly the objects the demo used before: the fp32 tensors transformers
dequantised (saved as they are) and the GGUF's tokenizer (``save_pretrained``: the same
vocabulary, merges, special tokens and encodings; ``tests/demo`` checks it), so the scores
do not change. The base folder is keyed by the GGUF file's fingerprint, the fine-tune by
:meth:`~miakit.demo.finetune.FinetuneSettings.key` (settings, base fingerprint, texts); the run
names the two models by those same fingerprints (``ModelSpec.fingerprint``), as the demo did
when it passed them in memory, so signals cached before the folders existed are found.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from miakit._core.io import atomic_write_text
from miakit.backends.hf.files import cached_fingerprint
from miakit.demo.finetune import FinetuneSettings

#: Bumped when the base folder's layout changes, so old folders are not reused.
BASE_FOLDER_VERSION = "1"


@dataclass(frozen=True)
class DemoModels:
    """Where the demo's models are, and what the plan needs to say.

    Attributes:
        base: the dequantised base model's folder.
        finetuned: the fine-tuned model's folder.
        key: the fine-tune's key (:meth:`FinetuneSettings.key`).
        base_fingerprint: the GGUF file's fingerprint.
        n_member_tokens: tokens of the fine-tuning texts.
        n_tokens: those plus the non-members' tokens.
        was_cached: the fine-tune was in the cache already.
    """

    base: Path
    finetuned: Path
    key: str
    base_fingerprint: str
    n_member_tokens: int
    n_tokens: int
    was_cached: bool


def plan_models(
    gguf: Path,
    cache: Path,
    finetune: FinetuneSettings,
    member_texts: Sequence[str],
    nonmember_texts: Sequence[str],
) -> DemoModels:
    """The folders of the demo's models and the token counts, without loading a model where
    the cache has them (the token counts are recorded beside the fine-tune)."""
    fingerprint = cached_fingerprint(gguf.parent, gguf.name, cache / "fingerprints")
    key = finetune.key(fingerprint, member_texts)
    base = cache / "demo" / f"smollm2-base-{_base_key(fingerprint)}"
    finetuned = cache / "demo" / f"smollm2-ft-{key}"
    counts = _read_counts(_counts_path(cache, fingerprint, member_texts, nonmember_texts))
    n_member, n_tokens = counts if counts is not None else (-1, -1)
    return DemoModels(
        base=base,
        finetuned=finetuned,
        key=key,
        base_fingerprint=fingerprint,
        n_member_tokens=n_member,
        n_tokens=n_tokens,
        was_cached=(finetuned / "model.safetensors").is_file(),
    )


def complete(
    models: DemoModels,
    gguf: Path,
    cache: Path,
    finetune: FinetuneSettings,
    member_texts: Sequence[str],
    nonmember_texts: Sequence[str],
    *,
    load_base: Callable[[], tuple[Any, Any]],
    train: Callable[[Any, Any], Any],
) -> DemoModels:
    """Write what the cache lacks: the base folder (from ``load_base()``: the GGUF's model and
    tokenizer), the fine-tune (``train(copy of the base, tokenizer)``) and the token counts.

    Returns:
        ``models`` with its token counts.
    """
    from miakit.demo.finetune import save_model_folder

    have_base = (models.base / "model.safetensors").is_file()
    have_counts = models.n_tokens >= 0
    if have_base and models.was_cached and have_counts:
        return models
    if not have_base or not models.was_cached:
        base, tokenizer = load_base()
        if not have_base:
            save_model_folder(base, tokenizer, models.base)
        if not models.was_cached:
            save_model_folder(train(copy.deepcopy(base), tokenizer), tokenizer, models.finetuned)
    else:  # only the counts are missing: the saved base's tokenizer is the GGUF's
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(models.base), local_files_only=True)
    n_member = sum(len(x) for x in tokenizer(list(member_texts))["input_ids"])
    n_tokens = n_member + sum(len(x) for x in tokenizer(list(nonmember_texts))["input_ids"])
    path = _counts_path(cache, models.base_fingerprint, member_texts, nonmember_texts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"member": n_member, "total": n_tokens}) + "\n")
    except OSError:  # a read-only cache: counted again next time
        pass
    return replace(models, n_member_tokens=n_member, n_tokens=n_tokens)


def _base_key(fingerprint: str) -> str:
    return hashlib.sha256(f"{BASE_FOLDER_VERSION}:{fingerprint}".encode()).hexdigest()[:24]


def _counts_path(
    cache: Path, fingerprint: str, members: Sequence[str], nonmembers: Sequence[str]
) -> Path:
    h = hashlib.sha256(fingerprint.encode())
    for group in (members, nonmembers):
        h.update(b"\x00group")
        for t in group:
            h.update(hashlib.sha256(t.encode("utf-8")).digest())
    return cache / "demo" / "token-counts" / f"{h.hexdigest()[:24]}.json"


def _read_counts(path: Path) -> tuple[int, int] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return int(record["member"]), int(record["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


__all__ = ["BASE_FOLDER_VERSION", "DemoModels", "complete", "plan_models"]
