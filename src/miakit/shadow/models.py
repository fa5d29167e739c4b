"""Built-in classifiers for shadow models, and how a model name becomes a factory.

A *factory* is any zero-argument callable returning a fresh ``torch.nn.Module`` that maps a
batch of inputs ``(b, *input_shape)`` to logits ``(b, n_classes)``. The trainer calls it once
per model under a fixed seed, so its parameter initialisation must come from torch's global
generator (as every ``torch.nn`` layer's does).

Built-ins (:data:`MODELS`), each built for the data's input shape and class count:

- ``mlp``: flatten, one hidden layer of 128 ReLU units (no normalisation);
- ``cnn``: two 3x3 convolutions (16 and 32 channels) with BatchNorm and ReLU, a 2x2 max pool
  after the first, global average pooling, a linear head. BatchNorm makes eval mode matter,
  which is why it is there: signals are always computed in eval mode.
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
    """conv3x3(c,w)-BN-ReLU-maxpool2 -> conv3x3(w,2w)-BN-ReLU -> global mean -> Linear."""

    def __init__(self, input_shape: Sequence[int], n_classes: int, *, width: int = 16):
        super().__init__()
        if len(input_shape) != 3:
            raise InvalidParameterError(
                f"model 'cnn' needs image inputs (c, h, w), got input shape {tuple(input_shape)}; "
                "use --model mlp for tabular data"
            )
        c = int(input_shape[0])
        self.conv1 = nn.Conv2d(c, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.head = nn.Linear(2 * width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        h = nn.functional.max_pool2d(h, 2)
        h = torch.relu(self.bn2(self.conv2(h)))
        return self.head(h.mean(dim=(2, 3)))  # (b, 2w)


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
