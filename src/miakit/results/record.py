"""The typed record of one run: what ``metrics.json``, the Parquet files and the report show.

The pipeline fills one :class:`RunRecord` (:meth:`RunRecord.of_run`, then
:meth:`~RunRecord.with_blind` and :meth:`~RunRecord.with_metrics`); every output file is
written from it (:meth:`~RunRecord.frames`, :meth:`~RunRecord.metrics_json`) and the report is
rendered from it in memory. :meth:`RunRecord.load` reads a written run folder back into an
equal record, for ``miakit report DIR``.

A sample keeps its id end to end: the signal layer knows a sample only as a position in its
list of texts, and :meth:`RunRecord.of_run` pairs each position with its id exactly once.
From then on values are looked up by id (:meth:`~RunRecord.scores_by_id`,
:meth:`~RunRecord.nan_reasons`, :meth:`~RunRecord.truncated`), blind scores are matched by the
id column of their table, and :meth:`~RunRecord.reordered` moves every per-sample value with
its sample.

The record computes nothing: it holds and reshapes what the run computed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from miakit.results._json import metrics_text, plain
from miakit.results.columns import AttackScores, SampleColumns, TokenCounts, arrays_equal

if TYPE_CHECKING:
    from miakit.attacks import AttackOutput
    from miakit.data import SampleSet
    from miakit.results.frames import RunFrames
    from miakit.signals.table import TokenSignals

__all__ = ["RunRecord"]

#: The table whose token counts ``samples.parquet`` shows: the target model, no context.
TOKENS_TABLE = ("target", "plain")


@dataclass(frozen=True, eq=False)
class RunRecord:
    """Everything a run writes, each per-sample value tied to its sample's id.

    Attributes:
        samples: ids, labels, sources, texts, groups and document ids, in output order.
        attacks: attack name -> :class:`AttackScores` (scores and NaN reasons), in the order
            the attacks ran (the columns of ``scores.parquet``).
        tokens: the target's token counts per sample, or ``None`` without a plain target table.
        truncated_ids: ``"model:context"`` -> ids of the texts that table truncated.
        blind: blind baseline -> out-of-fold scores per sample (``blind_scores.parquet``), or
            ``None`` when the baselines did not run.
        metrics: the content of ``metrics.json``, as plain JSON values, in file order.
    """

    samples: SampleColumns
    attacks: Mapping[str, AttackScores] = field(default_factory=dict)
    tokens: TokenCounts | None = None
    truncated_ids: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    blind: Mapping[str, np.ndarray] | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.samples)
        known = set(self.samples.ids)
        for name, column in self.attacks.items():
            if len(column.scores) != n:
                raise ValueError(f"attack {name!r}: {len(column.scores)} scores for {n} samples")
        if self.tokens is not None and len(self.tokens) != n:
            raise ValueError(f"token counts of {len(self.tokens)} samples for {n} samples")
        for key, ids in self.truncated_ids.items():
            unknown = [i for i in ids if i not in known]
            if unknown:
                raise ValueError(f"truncated[{key!r}] names unknown sample ids {unknown[:5]}")
        if self.blind is not None:
            blind = {k: np.array(v, dtype=np.float64) for k, v in self.blind.items()}
            for name, values in blind.items():
                if values.shape != (n,):
                    raise ValueError(f"blind {name!r}: shape {values.shape} for {n} samples")
                values.flags.writeable = False
            object.__setattr__(self, "blind", blind)
        object.__setattr__(self, "attacks", dict(self.attacks))
        object.__setattr__(
            self, "truncated_ids", {k: tuple(v) for k, v in self.truncated_ids.items()}
        )
        object.__setattr__(self, "metrics", plain(self.metrics))

    # --- built by the pipeline ----------------------------------------------------------------

    @classmethod
    def of_run(
        cls,
        samples: SampleSet,
        outputs: Mapping[str, AttackOutput],
        tables: Mapping[tuple[str, str], TokenSignals],
    ) -> RunRecord:
        """The per-sample part of a run: its samples, attack outputs and signal tables.

        ``outputs`` and ``tables`` are positional (entry ``i`` is ``samples[i]``), as the
        signal layer makes them; this is the one place their positions meet the ids.
        """
        ids = samples.ids
        target = tables.get(TOKENS_TABLE)
        tokens = None
        if target is not None:
            tokens = TokenCounts(target.n_text_tokens, target.n_scored, target.truncated)
        return cls(
            samples=SampleColumns.of(samples),
            attacks={n: AttackScores(o.scores, o.reasons) for n, o in outputs.items()},
            tokens=tokens,
            truncated_ids={
                f"{m}:{c}": tuple(ids[i] for i in np.flatnonzero(t.truncated))
                for (m, c), t in tables.items()
            },
        )

    def with_blind(self, blind_scores: Any | None) -> RunRecord:
        """The record with the blind baselines' scores of ``blind_scores`` (a table with an
        ``id`` column and one column per baseline, like ``blind_scores.parquet``), matched
        to the samples by id. ``None``: the baselines did not run.

        Raises:
            ValueError: if the table's ids are not those of the record's samples.
        """
        if blind_scores is None:
            return dataclasses.replace(self, blind=None)
        got = [str(i) for i in blind_scores["id"]]
        if sorted(got) != sorted(self.ids) or len(set(got)) != len(got):
            raise ValueError("the blind scores are of other samples than the record's")
        where = {sid: i for i, sid in enumerate(got)}
        order = [where[sid] for sid in self.ids]
        names = [c for c in blind_scores.columns if c not in ("id", "label")]
        blind = {str(c): np.asarray(blind_scores[c], dtype=np.float64)[order] for c in names}
        return dataclasses.replace(self, blind=blind)

    def with_metrics(self, metrics: Mapping[str, Any]) -> RunRecord:
        """The record with ``metrics.json``'s content ``metrics`` (made plain JSON values)."""
        return dataclasses.replace(self, metrics=metrics)

    def with_timings(self, timings: Mapping[str, Any]) -> RunRecord:
        """The record with ``setup.timings`` set to ``timings`` (wall time per stage)."""
        metrics = dict(self.metrics)
        metrics["setup"] = {**metrics.get("setup", {}), "timings": dict(timings)}
        return dataclasses.replace(self, metrics=metrics)

    # --- read back --------------------------------------------------------------------------------

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str]) -> RunRecord:
        """The record of a run folder written by ``miakit run`` (see
        :func:`miakit.results.load.load_record`).

        Raises:
            DataError: if a file is missing, damaged or not a miakit run's (the message names it).
        """
        from miakit.results.load import load_record

        return load_record(out_dir)

    # --- by id ---------------------------------------------------------------------------------

    @property
    def ids(self) -> list[str]:
        """The sample ids, in output order."""
        return list(self.samples.ids)

    def __len__(self) -> int:
        return len(self.samples)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {sid: i for i, sid in enumerate(self.samples.ids)}

    def position(self, sample_id: str) -> int:
        """The row of ``sample_id`` in every output file.

        Raises:
            KeyError: for an id that is not among the record's samples.
        """
        try:
            return self._index[sample_id]
        except KeyError:
            raise KeyError(f"no sample with id {sample_id!r} in this run") from None

    def scores_by_id(self, attack: str) -> dict[str, float]:
        """``id -> score`` of ``attack`` (NaN where it gave none)."""
        return dict(zip(self.samples.ids, self.attacks[attack].scores.tolist(), strict=True))

    def nan_reasons(self, attack: str) -> dict[str, str]:
        """``id -> why the score is NaN`` for the samples ``attack`` did not score, in order."""
        reasons = self.attacks[attack].reasons
        return {sid: r for sid, r in zip(self.samples.ids, reasons, strict=True) if r is not None}

    def truncated(self, table: str = "target:plain") -> tuple[str, ...]:
        """Ids of the texts that signal table ``"model:context"`` truncated."""
        return self.truncated_ids.get(table, ())

    def reordered(self, ids: Sequence[str]) -> RunRecord:
        """The same record with its samples in the order of ``ids`` (a permutation of
        :attr:`ids`); every per-sample value moves with its sample. Metrics are unchanged."""
        if sorted(ids) != sorted(self.samples.ids) or len(set(ids)) != len(ids):
            raise ValueError("reordered() needs a permutation of the record's ids")
        order = [self.position(i) for i in ids]
        return dataclasses.replace(
            self,
            samples=self.samples.take(order),
            attacks={name: col.take(order) for name, col in self.attacks.items()},
            tokens=None if self.tokens is None else self.tokens.take(order),
            truncated_ids={key: _in_order(ids, cut) for key, cut in self.truncated_ids.items()},
            blind=None if self.blind is None else {k: v[order] for k, v in self.blind.items()},
        )

    # --- metrics.json's sections ------------------------------------------------------------------

    @property
    def attack_metrics(self) -> dict[str, Any]:
        """``metrics.json``'s ``attacks``: attack -> AUROC, CIs, TPR at FPR, ..."""
        return dict(self.metrics.get("attacks") or {})

    @property
    def warnings(self) -> list[str]:
        """The run's warnings, most important first."""
        return list(self.metrics.get("warnings") or [])

    @property
    def skipped(self) -> dict[str, str]:
        """Attacks that did not run -> why."""
        return dict(self.metrics.get("skipped_attacks") or {})

    # --- what the files hold --------------------------------------------------------------------

    def frames(self) -> RunFrames:
        """``scores.parquet``, ``samples.parquet`` and ``blind_scores.parquet`` as tables."""
        from miakit.results.frames import frames_of

        return frames_of(self)

    def to_metrics(self) -> dict[str, Any]:
        """``metrics.json``'s content (a copy: changing it leaves the record alone)."""
        return plain(self.metrics)

    def metrics_json(self) -> str:
        """The text of ``metrics.json``."""
        return metrics_text(self.metrics)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunRecord):
            return NotImplemented
        blind_equal = (self.blind is None) == (other.blind is None) and (
            self.blind is None
            or other.blind is None
            or (
                list(self.blind) == list(other.blind)
                and all(arrays_equal(v, other.blind[k]) for k, v in self.blind.items())
            )
        )
        return (
            self.samples == other.samples
            and list(self.attacks) == list(other.attacks)
            and all(col == other.attacks[name] for name, col in self.attacks.items())
            and self.tokens == other.tokens
            and self.truncated_ids == other.truncated_ids
            and blind_equal
            and self.metrics_json() == other.metrics_json()  # NaN-aware, and key order too
        )

    __hash__ = None  # type: ignore[assignment]


def _in_order(ids: Sequence[str], subset: Sequence[str]) -> tuple[str, ...]:
    """The ids of ``subset`` in the order of ``ids``."""
    keep = set(subset)
    return tuple(i for i in ids if i in keep)
