"""argparse ``type`` functions whose errors say what is expected, what arrived and an example
(argparse prints them as ``argument --max-length: expected an integer (e.g. 2048), got 'lots'``
and exits with code 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import yaml


def integer(example: int) -> Callable[[str], int]:
    """An argparse ``type`` for an integer flag whose error says what is expected."""

    def parse(value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer (e.g. {example}), got {value!r}"
            ) from None

    return parse


def number(example: float) -> Callable[[str], float]:
    """An argparse ``type`` for a number flag whose error says what is expected."""

    def parse(value: str) -> float:
        try:
            return float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number (e.g. {example:g}), got {value!r}"
            ) from None

    return parse


def param(value: str) -> tuple[str, str, Any]:
    """Parse ``attack.name=value`` (value read as YAML: numbers, booleans, strings)."""
    if "=" not in value or "." not in value.split("=", 1)[0]:
        raise argparse.ArgumentTypeError(
            f"expected ATTACK.PARAM=VALUE (e.g. min_k.k=0.1), got {value!r}"
        )
    key, raw = value.split("=", 1)
    attack, name = key.split(".", 1)
    return attack, name, yaml.safe_load(raw)
