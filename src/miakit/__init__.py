"""miakit: was this data used to train this model? Membership inference with evidence.

Quick use::

    import miakit
    result = miakit.run(model="path/to/model", members="m.jsonl", nonmembers="n.jsonl",
                        out="runs/first")
    print(result.leaderboard())

It prints nothing itself: warnings are in ``result.warnings`` and go to the ``"miakit"``
logger; ``progress=True`` shows progress bars.

Heavy modules (torch, transformers) load on first use, not on ``import miakit``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from miakit._core import timing as _timing  # noqa: F401  (notes when miakit was imported)
from miakit._core.version import __version__

# A library logs and never prints: without this, Python's last-resort handler would write
# the "miakit" logger's warnings to stderr when the application has not configured logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from miakit._core.progress import ProgressEvent
    from miakit.config import RunConfig
    from miakit.pipeline import RunResult, run
    from miakit.setinference import collection_test, dataset_inference

__all__ = [
    "ProgressEvent",
    "RunConfig",
    "RunResult",
    "__version__",
    "collection_test",
    "dataset_inference",
    "run",
]


def __getattr__(name: str) -> Any:
    if name in ("run", "RunResult"):
        from miakit import pipeline

        return getattr(pipeline, name)
    if name == "ProgressEvent":
        from miakit._core.progress import ProgressEvent

        return ProgressEvent
    if name == "dataset_inference":  # was this set of texts trained on? (docs/dataset-inference.md)
        from miakit.setinference.dataset import dataset_inference

        return dataset_inference
    if name == "collection_test":  # was this collection trained on? (docs/dataset-inference.md)
        from miakit.setinference.collection import collection_test

        return collection_test
    if name == "RunConfig":
        from miakit.config import RunConfig

        return RunConfig
    if name == "shadow":  # classifier shadow models (docs/classifier-mia.md)
        import importlib

        return importlib.import_module("miakit.shadow")
    raise AttributeError(f"module 'miakit' has no attribute {name!r}")
