"""Write the part files of ``base_parts/`` with the code of a given checkout (not a test).

The files pin the on-disk formats and cache keys of the signal and neighbor caches as they
were before the part-file store was shared (commit 23acaf3). Regenerate only on purpose, when
a format changes and its cache version is bumped::

    git worktree add /tmp/core-base 23acaf37a39c14605493aae809386df432b0cefa
    PYTHONPATH=/tmp/core-base/src python tests/_core/data/make_base_parts.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from miakit.perturb.cache import NeighborCache
from miakit.signals.cache import CachedRow, SignalCache, text_key

HERE = Path(__file__).parent / "base_parts"
SIGNAL_NS_PARTS = {"model": "tiny-llama@abc123", "context": "plain", "max_length": 64}
NEIGHBOR_IDENTITY = {"kind": "fixed", "model": "t5-small@def456"}
TEXTS = ["The cat sat on the mat.", "Ünïcödé text, with a tab\tand a newline\n."]


def main() -> None:
    shutil.rmtree(HERE, ignore_errors=True)
    signals = SignalCache(HERE / "signals")
    ns = SignalCache.namespace(SIGNAL_NS_PARTS)
    rows = [
        CachedRow(
            stats={
                "token_log_prob": np.array([-1.5, -0.25, -3.0], dtype=np.float32),
                "mean_log_prob": np.array([-2.0, -1.0, -0.5], dtype=np.float32),
            },
            n_text_tokens=3,
            truncated=False,
        ),
        CachedRow(
            stats={
                "token_log_prob": np.array([-0.125], dtype=np.float32),
                "mean_log_prob": np.array([-4.0], dtype=np.float32),
            },
            n_text_tokens=1,
            truncated=True,
        ),
    ]
    signals.append(ns, [text_key(t) for t in TEXTS], rows, meta={"written_by": "23acaf3"})
    neighbors = NeighborCache(HERE / "neighbors")
    nns = NeighborCache.namespace(NEIGHBOR_IDENTITY, m=2, seed=7)
    neighbors.append(nns, [text_key(t) for t in TEXTS], [["a cat", "the mat"], ["ü"]])
    print(ns, nns)


if __name__ == "__main__":
    main()
