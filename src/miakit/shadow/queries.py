"""Queries: the inputs each model is asked about, the original plus augmentations.

A query is written as a string:

- ``identity``: the example as it is (always the first query);
- ``hflip``: mirrored left-right (images only);
- ``shift:DX,DY``: moved ``DX`` pixels right and ``DY`` down, the vacated border filled with 0
  (images only; negative values move left/up);
- ``hflip+shift:DX,DY``: both, the flip first;
- ``noise:SIGMA#K``: Gaussian noise of standard deviation ``SIGMA`` added to every input
  value, draw number ``K`` (any data; the same noise for every model, drawn from a torch
  generator seeded with ``K`` for the whole pool at once); ``noise:SIGMAxN`` stands for the
  ``N`` queries ``noise:SIGMA#1`` .. ``noise:SIGMA#N``.

LiRA (arXiv 2112.03570) queries the original and its mirror image; the label-only attack of
Choquette-Choo et al. (arXiv 2007.14321) counts how many augmentations are classified
correctly, and with noise queries how many noisy copies are: their estimate of the distance
to the decision boundary by random-noise robustness.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from miakit.errors import InvalidParameterError

IMAGE_QUERIES: tuple[str, ...] = (
    "identity",
    "hflip",
    "shift:1,0",
    "shift:-1,0",
    "shift:0,1",
    "shift:0,-1",
)
TABULAR_QUERIES: tuple[str, ...] = ("identity",)

_SHIFT = re.compile(r"^shift:(-?\d+),(-?\d+)$")
_NUMBER = r"(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
_NOISE = re.compile(rf"^noise:{_NUMBER}#(\d+)$")
_NOISE_MANY = re.compile(rf"^noise:{_NUMBER}x(\d+)$")


@dataclass(frozen=True)
class Query:
    """One query: mirror first (``flip``), then move by ``(dx, dy)`` pixels; or Gaussian
    noise of standard deviation ``noise``, draw ``noise_draw``."""

    name: str
    flip: bool = False
    dx: int = 0
    dy: int = 0
    noise: float = 0.0
    noise_draw: int = 0

    @property
    def is_identity(self) -> bool:
        return not self.flip and self.dx == 0 and self.dy == 0 and self.noise == 0.0

    @property
    def is_noise(self) -> bool:
        return self.noise > 0.0

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(b, c, h, w)`` (or ``(b, d)`` for the identity and noise) transformed.

        Noise is drawn for ``x`` as a whole, so apply it to the whole pool at once (as
        :func:`miakit.shadow.signals.model_signals` does): the same rows get the same noise.
        """
        if self.is_identity:
            return x
        if self.is_noise:
            gen = torch.Generator().manual_seed(self.noise_draw)  # on the CPU: any device
            eps = torch.randn(x.shape, generator=gen, dtype=torch.float64)
            return x + (self.noise * eps).to(device=x.device, dtype=x.dtype)
        if self.flip:
            x = torch.flip(x, dims=(-1,))
        if self.dx or self.dy:
            h, w = x.shape[-2], x.shape[-1]
            out = torch.zeros_like(x)
            src_y = slice(max(0, -self.dy), h - max(0, self.dy))
            dst_y = slice(max(0, self.dy), h - max(0, -self.dy))
            src_x = slice(max(0, -self.dx), w - max(0, self.dx))
            dst_x = slice(max(0, self.dx), w - max(0, -self.dx))
            out[..., dst_y, dst_x] = x[..., src_y, src_x]
            x = out
        return x


def parse_query(text: str) -> Query:
    """One query from its string (see the module docstring).

    Raises:
        InvalidParameterError: an unknown form, with the known ones.
    """
    noise = _NOISE.match(text.strip())
    if noise:
        sigma = float(noise.group(1))
        if not sigma > 0:
            raise InvalidParameterError(f"query {text!r}: the noise's SIGMA must be > 0")
        return Query(name=text.strip(), noise=sigma, noise_draw=int(noise.group(2)))
    flip, dx, dy = False, 0, 0
    for part in text.strip().split("+"):
        m = _SHIFT.match(part)
        if part == "identity":
            continue
        if part == "hflip":
            flip = True
        elif m:
            dx, dy = int(m.group(1)), int(m.group(2))
        else:
            raise InvalidParameterError(
                f"unknown query {text!r}: use identity, hflip, shift:DX,DY, hflip+shift:DX,DY, "
                "noise:SIGMA#K or noise:SIGMAxN"
            )
    return Query(name=text.strip(), flip=flip, dx=dx, dy=dy)


def parse_queries(
    queries: Sequence[str] | None, *, input_shape: Sequence[int]
) -> tuple[Query, ...]:
    """The queries for data of ``input_shape`` (``None``: the defaults for its kind).

    Raises:
        InvalidParameterError: the first query is not ``identity``, a name repeats, an image
            query is asked of tabular data, or a shift is as large as the image.
    """
    is_image = len(input_shape) == 3
    names = (
        list(queries)
        if queries is not None
        else (list(IMAGE_QUERIES) if is_image else list(TABULAR_QUERIES))
    )
    expanded: list[str] = []
    for text in names:
        many = _NOISE_MANY.match(text.strip())
        if many:
            expanded += [f"noise:{many.group(1)}#{k}" for k in range(1, int(many.group(2)) + 1)]
        else:
            expanded.append(text)
    names = expanded
    parsed = tuple(parse_query(q) for q in names)
    if not parsed or not parsed[0].is_identity:
        raise InvalidParameterError(
            f"the first query must be 'identity' (the unaltered example), got {names[:1]}"
        )
    seen = [q.name for q in parsed]
    if len(set(seen)) != len(seen):
        raise InvalidParameterError(f"queries repeat: {seen}")
    for q in parsed[1:]:
        if q.is_noise:
            continue
        if not is_image:
            raise InvalidParameterError(
                f"query {q.name!r} needs images (c, h, w); the data has input shape "
                f"{tuple(input_shape)}: use only 'identity'"
            )
        if abs(q.dx) >= input_shape[2] or abs(q.dy) >= input_shape[1]:
            raise InvalidParameterError(
                f"query {q.name!r} shifts the image out of its {input_shape[1]}x"
                f"{input_shape[2]} frame"
            )
    return parsed


__all__ = ["IMAGE_QUERIES", "TABULAR_QUERIES", "Query", "parse_queries", "parse_query"]
