"""A small, deterministic causal-LM fine-tune: membership by construction.

Used by ``miakit demo`` (and useful on its own): the texts passed in become members of the
returned model. To fit a laptop CPU budget, only the top ``train_top_layers`` decoder layers
and the final norm are trained (the embeddings and the tied LM head stay frozen), which makes
backpropagation stop early; ``train_top_layers=0`` trains every parameter.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from miakit._core.io import atomic_folder
from miakit._core.lazy import lazy_module
from miakit.errors import InvalidParameterError

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

#: Bumped when the training procedure changes, so cached fine-tunes are not reused.
FINETUNE_VERSION = "1"


@dataclass(frozen=True)
class FinetuneSettings:
    """Hyperparameters of :func:`finetune_causal_lm`.

    Attributes:
        epochs: passes over the texts.
        learning_rate: AdamW learning rate (no weight decay, constant schedule).
        batch_size: texts per optimisation step.
        train_top_layers: how many of the top decoder layers to train (0 = all parameters).
        max_length: texts are cut to this many tokens for training.
        seed: seeds the batch order.
    """

    # The defaults are the demo's, chosen (on the demo's own runs only) to make it instructive,
    # not to evaluate anything: one epoch at 1e-4 on the top 8 layers leaves LOSS mid-range
    # (AUROC 0.73) while the attacks calibrated against the base model clearly beat it,
    # most at TPR@1% FPR. The former 2 epochs at 3e-4 memorised the members so well that four
    # attacks reached AUROC 1.000 (a fifth 0.998) and LOSS 0.971, which showed neither why
    # calibration matters nor how attacks differ. One epoch is also half the training time.
    epochs: int = 1
    learning_rate: float = 1e-4
    batch_size: int = 8
    train_top_layers: int = 8
    max_length: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if not self.learning_rate > 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if self.train_top_layers < 0:
            problems.append(f"train_top_layers must be >= 0, got {self.train_top_layers}")
        if self.max_length < 2:
            problems.append(f"max_length must be >= 2, got {self.max_length}")
        if problems:
            raise InvalidParameterError("; ".join(problems))

    def key(self, base_fingerprint: str, texts: Sequence[str]) -> str:
        """A hash of everything that determines the fine-tuned weights."""
        h = hashlib.sha256()
        h.update(json.dumps({**asdict(self), "v": FINETUNE_VERSION}, sort_keys=True).encode())
        h.update(base_fingerprint.encode())
        for t in texts:
            h.update(hashlib.sha256(t.encode("utf-8")).digest())
        return h.hexdigest()[:24]


def _decoder_layers(model: Any) -> Any:
    """The decoder's list of layers (``model.model.layers`` for Llama-style models)."""
    base = getattr(model, getattr(model, "base_model_prefix", "model"), None)
    n = getattr(model.config, "num_hidden_layers", None)
    for module in base.modules() if base is not None else []:
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    return None


def select_trainable(model: Any, train_top_layers: int) -> list[torch.nn.Parameter]:
    """Freeze everything but the top layers and final norm; return the trainable parameters."""
    if train_top_layers == 0:
        params = list(model.parameters())
        for p in params:
            p.requires_grad_(True)
        return params
    layers = _decoder_layers(model)
    if layers is None:
        raise InvalidParameterError(
            "cannot find the decoder layers of this model; use train_top_layers=0"
        )
    for p in model.parameters():
        p.requires_grad_(False)
    chosen = list(layers)[-train_top_layers:]
    base = getattr(model, model.base_model_prefix)
    for name in ("norm", "ln_f", "final_layer_norm"):
        if hasattr(base, name):
            chosen.append(getattr(base, name))
    params = [p for m in chosen for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


def finetune_causal_lm(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    settings: FinetuneSettings,
    *,
    progress: bool = True,
) -> Any:
    """Fine-tune ``model`` in place on ``texts`` (next-token loss); return it in eval mode."""
    if not texts:
        raise InvalidParameterError("finetune_causal_lm needs at least one text")
    torch.manual_seed(settings.seed)
    device = next(model.parameters()).device
    encoded = [
        ids[: settings.max_length]
        for ids in tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    ]
    params = select_trainable(model, settings.train_top_layers)
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)
    n_steps = settings.epochs * ((len(encoded) + settings.batch_size - 1) // settings.batch_size)
    model.train()
    with tqdm(total=n_steps, desc="fine-tuning", unit="step", disable=not progress) as bar:
        for epoch in range(settings.epochs):
            order = list(range(len(encoded)))
            random.Random(settings.seed * 1000 + epoch).shuffle(order)
            for start in range(0, len(order), settings.batch_size):
                batch = [encoded[i] for i in order[start : start + settings.batch_size]]
                width = max(len(b) for b in batch)
                ids = torch.zeros((len(batch), width), dtype=torch.long)
                mask = torch.zeros_like(ids)
                labels = torch.full_like(ids, -100)
                for r, b in enumerate(batch):
                    ids[r, : len(b)] = torch.tensor(b)
                    mask[r, : len(b)] = 1
                    labels[r, : len(b)] = torch.tensor(b)
                out = model(
                    input_ids=ids.to(device),
                    attention_mask=mask.to(device),
                    labels=labels.to(device),
                    use_cache=False,
                )
                out.loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{out.loss.item():.3f}")
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def _save_weights(model: Any, folder: Path) -> None:
    """config.json + model.safetensors, also for models loaded from GGUF.

    transformers refuses ``save_pretrained`` on a model it dequantised from GGUF, although its
    weights are plain tensors by then; the config is written without the quantisation entry
    and the weights with safetensors' tied-weight-aware ``save_model``.
    """
    from safetensors.torch import save_model

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.save_pretrained(folder)
    save_model(model, str(folder / "model.safetensors"), metadata={"format": "pt"})


def save_model_folder(model: Any, tokenizer: Any, folder: Path) -> Path:
    """Save model (safetensors) and tokenizer to ``folder`` durably and atomically (temporary
    folder, fsync of its files, rename: :func:`miakit._core.io.atomic_folder`)."""
    with atomic_folder(folder) as tmp:
        _save_weights(model, tmp)
        tokenizer.save_pretrained(tmp)
    return folder
