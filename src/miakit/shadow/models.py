"""Built-in classifiers for shadow models, and how a model name becomes a factory.

A *factory* is any zero-argument callable returning a fresh ``torch.nn.Module`` that maps a
batch of inputs ``(b, *input_shape)`` to logits ``(b, n_classes)``. The trainer calls it once
per model under a fixed seed, so its parameter initialisation must come from torch's global
generator (as every ``torch.nn`` layer's does).

Built-ins (:data:`MODELS`), each built for the data's input shape and class count:

- ``mlp``: flatten, one hidden layer of 128 ReLU units (no normalisation);
- ``cnn``: two 3x3 convolutions (16 and 32 channels), each with BatchNorm, ReLU and a 2x2 max
  pool, then a linear head over the flattened ``(32, h/4, w/4)`` map. BatchNorm makes eval
  mode matter, which is why it is there: signals are always computed in eval mode. (An
  earlier version pooled the second map globally: it saw 8x8-pixel patches and no layout,
  and reached 0.72 train accuracy on Fashion-MNIST, too little to overfit.)
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import nn

from miakit._core.registry import Registry
from miakit.errors import InvalidParameterError

ModelFactory = Callable[[], nn.Module]
#: ``(input_shape, n_classes) -> module``
ModelBuilder = Callable[[Sequence[int], int], nn.Module]


class MLP(nn.Module):
    """Flatten -> Linear(d, hidden) -> ReLU -> Linear(hidden, n_classes)."""

    def __init__(self, input_shape: Sequence[int], n_classes: int, *, hidden: int = 128):
        super().__init__()
        d = 1
        for s in input_shape:
            d *= int(s)
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class SmallCNN(nn.Module):
    """conv3x3(c,w)-BN-ReLU-maxpool2 -> conv3x3(w,2w)-BN-ReLU-maxpool2 -> flatten -> Linear."""

    def __init__(self, input_shape: Sequence[int], n_classes: int, *, width: int = 16):
        super().__init__()
        if len(input_shape) != 3:
            raise InvalidParameterError(
                f"model 'cnn' needs image inputs (c, h, w), got input shape {tuple(input_shape)}; "
                "use --model mlp for tabular data"
            )
        c, h, w = (int(s) for s in input_shape)
        if h < 4 or w < 4:
            raise InvalidParameterError(
                f"model 'cnn' needs images of at least 4x4 pixels, got {h}x{w}; use --model mlp"
            )
        self.conv1 = nn.Conv2d(c, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.head = nn.Linear(2 * width * (h // 4) * (w // 4), n_classes)
        #: compute the convolutions as unfold + matmul (the same function): under ``vmap``
        #: that is one batched matrix product per layer instead of a grouped convolution
        #: (set by the concurrent trainer when asked; not part of the state dict)
        self.unfold_convs = False

    def _conv(self, conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        if not self.unfold_convs:
            return conv(x)
        b, _, h, w = x.shape
        cols = nn.functional.unfold(x, 3, padding=1)  # (b, c*9, h*w)
        # one (out, c*9) x (c*9, b*h*w) product per model: einsum folds b into the columns
        return torch.einsum("oc,bcl->bol", conv.weight.flatten(1), cols).reshape(b, -1, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.max_pool2d(torch.relu(self.bn1(self._conv(self.conv1, x))), 2)
        h = nn.functional.max_pool2d(torch.relu(self.bn2(self._conv(self.conv2, h))), 2)
        return self.head(h.flatten(1))  # (b, 2w * h/4 * w/4)


MODELS: Registry[ModelBuilder] = Registry("model")
MODELS.add("mlp", MLP)
MODELS.add("cnn", SmallCNN)
MODELS.freeze()


def default_model(input_shape: Sequence[int]) -> str:
    """``"cnn"`` for images ``(c, h, w)``, ``"mlp"`` otherwise."""
    return "cnn" if len(input_shape) == 3 else "mlp"


def model_factory(
    model: str | ModelFactory | None, input_shape: Sequence[int], n_classes: int
) -> tuple[str, ModelFactory]:
    """``(name, factory)`` for a built-in name, a user factory, or ``None`` (the default model).

    A user factory is named ``"custom:<its qualified name>"`` in the manifest.

    Raises:
        InvalidParameterError: an unknown name (with a suggestion), or a model that does not
            fit the data.
    """
    if model is None:
        model = default_model(input_shape)
    if isinstance(model, str):
        builder = MODELS.get(model)
        builder(tuple(input_shape), n_classes)  # fail now, not inside the training loop
        return model, partial(builder, tuple(input_shape), n_classes)
    named = isinstance(model, type | types.FunctionType | types.MethodType)
    name = model.__qualname__ if named else type(model).__name__
    return f"custom:{name}", model


__all__ = ["MLP", "MODELS", "ModelFactory", "SmallCNN", "default_model", "model_factory"]
