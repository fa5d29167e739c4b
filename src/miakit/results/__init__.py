"""The typed record of a run, that ``metrics.json``, the Parquet files and the report come from.

:class:`RunRecord` holds a run's samples (ids, labels, sources, groups, document ids, texts),
each attack's scores and NaN reasons, the target's token counts and truncations, the blind
baselines' scores and the sections of ``metrics.json``, every per-sample value tied to its
sample's id. The pipeline fills it; :mod:`miakit.pipeline.outputs` writes every file from it
and renders the report from it in memory; :meth:`RunRecord.load` reads a run folder back.
"""

from miakit.results.columns import AttackScores, SampleColumns, TokenCounts
from miakit.results.frames import RunFrames
from miakit.results.record import RunRecord

__all__ = ["AttackScores", "RunFrames", "RunRecord", "SampleColumns", "TokenCounts"]
