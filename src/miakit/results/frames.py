"""A run record as the tables of its Parquet files (``scores``, ``samples``, ``blind_scores``).

The tables are built the way ``miakit run`` has always written them (same columns, order and
dtypes), so the files are byte for byte those of earlier versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from miakit.results.record import RunRecord


class RunFrames(NamedTuple):
    """The tables of a run folder.

    Attributes:
        scores: ``scores.parquet``: ``id``, ``label`` and one float column per attack.
        samples: ``samples.parquet``: ``id``, ``label``, ``source``, ``text``, ``group``,
            ``doc_id``; the target's ``n_text_tokens``, ``n_scored_tokens`` and ``truncated``
            when it had a plain table; one ``nan_reason:<attack>`` column per attack.
        blind: ``blind_scores.parquet``: ``id``, ``label`` and one column per baseline, or
            ``None`` when the blind baselines did not run.
    """

    scores: pd.DataFrame
    samples: pd.DataFrame
    blind: pd.DataFrame | None


def frames_of(record: RunRecord) -> RunFrames:
    """The three tables of ``record`` (new tables: changing them leaves the record alone)."""
    s = record.samples
    ids = list(s.ids)
    labels = [label.value for label in s.labels]
    scores = pd.DataFrame({"id": ids, "label": labels})
    for name, column in record.attacks.items():
        scores[name] = np.array(column.scores)
    samples = pd.DataFrame(
        {
            "id": ids,
            "label": labels,
            "source": list(s.sources),
            "text": list(s.texts),
            "group": list(s.groups),
            "doc_id": list(s.doc_ids),
        }
    )
    if record.tokens is not None:
        samples["n_text_tokens"] = np.array(record.tokens.n_text_tokens)
        samples["n_scored_tokens"] = np.array(record.tokens.n_scored)
        samples["truncated"] = np.array(record.tokens.truncated)
    for name, column in record.attacks.items():
        samples[f"nan_reason:{name}"] = list(column.reasons)
    blind = None
    if record.blind is not None:
        blind = pd.DataFrame({"id": ids, "label": labels})
        for name, values in record.blind.items():
            blind[name] = np.array(values)
    return RunFrames(scores, samples, blind)
