"""The run: what ``miakit run`` does, resolved from the attacks' and providers' declarations.

- :mod:`~miakit.pipeline.runner`: :func:`run` and its :class:`RunResult`;
- :mod:`~miakit.pipeline.select`: which attacks run, from their declared roles and inputs;
- :mod:`~miakit.pipeline.roles`: model roles, their aliases and loading;
- :mod:`~miakit.pipeline.inputs`: input providers and their registry
  (:func:`register_provider`); :mod:`~miakit.pipeline.providers`: the built-in ones;
- :mod:`~miakit.pipeline.auxiliary`: one run's providers, called in order;
- :mod:`~miakit.pipeline.sharded`: the resumable sharded path;
- :mod:`~miakit.pipeline.outputs`: the sections of ``metrics.json`` and the files of a run.

:func:`run` and :class:`RunResult` load on first use (they import the signal engine).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from miakit.pipeline.inputs import (
    Input,
    InputProvider,
    ProviderRegistry,
    ProviderSpec,
    Unavailable,
    default_providers,
    register_provider,
)

if TYPE_CHECKING:
    from miakit._core.progress import ProgressEvent
    from miakit.pipeline.runner import RunResult, WriteFailedError, run

__all__ = [
    "Input",
    "InputProvider",
    "ProgressEvent",
    "ProviderRegistry",
    "ProviderSpec",
    "RunResult",
    "Unavailable",
    "WriteFailedError",
    "default_providers",
    "register_provider",
    "run",
]


def __getattr__(name: str) -> Any:
    if name in ("run", "RunResult", "WriteFailedError", "ProgressEvent"):
        from miakit.pipeline import runner as module

        return getattr(module, name)
    raise AttributeError(f"module 'miakit.pipeline' has no attribute {name!r}")
