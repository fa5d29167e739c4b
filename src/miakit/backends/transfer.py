"""Host-to-device copies that never stall the GPU.

A host-to-device copy from pageable memory (``tensor.to("cuda")``) waits for every kernel
already queued on the stream; :func:`to_device` copies from pinned memory, asynchronously, so
the signal engine's one-unit-deep pipeline (:mod:`miakit.signals.transfer`) keeps the GPU busy
while the host builds the next unit's inputs. On the CPU it is a plain copy.

It sits at the top of :mod:`miakit.backends`, not under ``hf/``: it is plain torch, used by the
Hugging Face backend and by the engine's index tensors alike, and a later torch backend
(classifier shadow models) needs it too without depending on transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from miakit._core.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; from the CPU to CUDA through pinned memory, without blocking
    the host (the copy is ordered on the current stream before any kernel that reads it)."""
    if device.type != "cuda" or tensor.device.type != "cpu":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)
