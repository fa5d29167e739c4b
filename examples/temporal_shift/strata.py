"""AUROC within one genre of release note: does an attack still separate the sets there?

It prints two tables: member vs non-member AUROC within each genre, and feature vs patch release
AUROC within each side (how well a score tells the genres apart, membership held fixed).

Django's release notes come in two genres: feature releases (``4.2.txt``: new features,
deprecations) and patch releases (``4.2.7.txt``: bug and security fixes). A before/after split
mixes them in different proportions on its two sides (most recent notes are patch notes), so an
attack that merely finds patch notes harder to predict scores above chance without any
membership signal. Comparing texts of one genre removes that part of the shift.

This is a post-hoc diagnostic on a finished run, and the strata are small: read the intervals.
The blind baselines' out-of-fold scores come from classifiers fitted on the whole mixture and
are only restricted to each stratum here.

Usage::

    .venv/bin/python examples/temporal_shift/strata.py \\
        --data runs/temporal_shift/full/data --run runs/temporal_shift/full/run
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from miakit.metrics import evaluate

ATTACKS = ("loss", "min_k", "win_k")
COLUMNS = (*ATTACKS, "[blind] char_ngrams", "[blind] bag_of_words")
_FEATURE_RELEASE = re.compile(r"\d+\.\d+\.txt")


def genre(release: str) -> str:
    """``"feature"`` for ``X.Y.txt``, ``"patch"`` for ``X.Y.Z.txt`` (and anything else)."""
    return "feature" if _FEATURE_RELEASE.fullmatch(release) else "patch"


def load(data: Path, run: Path) -> pd.DataFrame:
    """One row per sample: ``id``, ``y`` (1 member, 0 non-member), ``side``, ``genre``,
    ``feature`` (1 feature release, 0 patch release) and one column per score."""
    rows = [
        {
            "id": r["id"],
            "y": int(side == "members"),
            "side": side,
            "genre": genre(r["release"]),
            "feature": int(genre(r["release"]) == "feature"),
        }
        for side in ("members", "nonmembers")
        for r in map(json.loads, (data / f"{side}.jsonl").read_text().splitlines())
    ]
    scores = pd.read_parquet(run / "scores.parquet").drop(columns="label")
    blind = pd.read_parquet(run / "blind_scores.parquet").drop(columns="label")
    blind = blind.rename(columns={c: f"[blind] {c}" for c in blind.columns if c != "id"})
    return pd.DataFrame(rows).merge(scores, on="id").merge(blind, on="id")


def table(
    df: pd.DataFrame,
    *,
    target: str = "y",
    by: str = "genre",
    columns: Sequence[str] = COLUMNS,
    seed: int = 0,
) -> str:
    """AUROC and 95% bootstrap interval of each column for ``target``, overall and per ``by``.

    Args:
        df: from :func:`load`.
        target: a 0/1 column: ``"y"`` (member vs non-member) or ``"feature"`` (feature vs
            patch release).
        by: the column whose values form the strata.
        columns: score columns, higher = ``target`` 1; those absent are left out.
        seed: seed of the bootstrap.
    """
    columns = [c for c in columns if c in df.columns]
    head = f"{by:10s}  {'n(1)':>5s}  {'n(0)':>5s}  " + "  ".join(f"{c:>22s}" for c in columns)
    lines = [head]
    for name, part in [("all", df), *df.groupby(by)]:
        labels = part[target].to_numpy()
        if len(set(labels)) < 2:
            continue
        cells = []
        for c in columns:
            m = evaluate(part[c].to_numpy(np.float64), labels, seed=seed)
            lo, hi = m["auroc_ci"]
            cells.append(f"{m['auroc']:.3f} [{lo:.3f}, {hi:.3f}]")
        n1, n0 = int(labels.sum()), int((1 - labels).sum())
        lines.append(f"{name!s:10s}  {n1:5d}  {n0:5d}  " + "  ".join(f"{c:>22s}" for c in cells))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--data", type=Path, required=True, help="folder written by build_sets.py")
    p.add_argument("--run", type=Path, required=True, help="folder written by miakit run")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    args = p.parse_args(argv)
    df = load(args.data, args.run)
    print("member (1) vs non-member (0), within each genre:")
    print(table(df, target="y", by="genre", seed=args.seed))
    print("feature (1) vs patch release (0), within each side:")
    # the blind baselines score membership, not genre: only the attacks here
    print(table(df, target="feature", by="side", columns=ATTACKS, seed=args.seed))


if __name__ == "__main__":
    main()
