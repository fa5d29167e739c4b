"""Checks of settings passed as keyword arguments to a library object (``SignalEngine(...)``),
by the same declarations as the config path (:mod:`miakit.config.settings`): one type, range
and choice per setting, one message style, every problem at once.

The config path checks a whole :class:`~miakit.config.RunConfig` before any model loads; an
object built directly (a test, a notebook, a library user) gets the same checks here, with
examples written as Python (``batch_tokens=16384``, ``None``) instead of YAML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from miakit.config.schema import Key, constraint_problem, normalise, type_problem
from miakit.errors import InvalidParameterError


def _as_python(message: str, name: str) -> str:
    """A YAML-style message (``e.g. max_length: 2048``, ``null``) in Python style."""
    return message.replace(f"e.g. {name}: ", f"e.g. {name}=").replace("null", "None")


def option_problems(values: Mapping[str, Any]) -> list[str]:
    """The problems of ``values`` (setting name -> value), each checked as its setting of
    :class:`~miakit.config.RunConfig` is declared (type, range, choices)."""
    from miakit.config.settings import KEYS

    problems = []
    for name, value in values.items():
        key: Key = KEYS[name]
        ok, normal = normalise(key, value)
        problem = type_problem(key, value) if not ok else constraint_problem(key, normal)
        if problem is not None:
            problems.append(_as_python(problem, name))
    return problems


def check_options(owner: str, values: Mapping[str, Any], problems: Sequence[str] = ()) -> None:
    """Raise one :class:`InvalidParameterError` naming ``owner`` and every problem of
    ``values`` (see :func:`option_problems`) and of ``problems`` (the owner's own checks).

    Raises:
        InvalidParameterError: there is at least one problem.
    """
    found = [*option_problems(values), *problems]
    if found:
        raise InvalidParameterError(f"invalid {owner} argument(s):\n  " + "\n  ".join(found))


__all__ = ["check_options", "option_problems"]
