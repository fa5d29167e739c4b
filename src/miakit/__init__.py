"""miakit: was this data used to train this model? Membership inference with evidence.

Quick use::

    import miakit
    result = miakit.run(model="path/to/model", members="m.jsonl", nonmembers="n.jsonl",
                        out="runs/first")
    print(result.leaderboard())

Heavy modules (torch, transformers) load on first use, not on ``import miakit``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from miakit._core.version import __version__

if TYPE_CHECKING:
    from miakit.config import RunConfig
    from miakit.runner import RunResult, run

__all__ = ["RunConfig", "RunResult", "__version__", "run"]


def __getattr__(name: str) -> Any:
    if name in ("run", "RunResult"):
        from miakit import runner

        return getattr(runner, name)
    if name == "RunConfig":
        from miakit.config import RunConfig

        return RunConfig
    raise AttributeError(f"module 'miakit' has no attribute {name!r}")
