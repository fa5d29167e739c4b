"""Wall time of the stages after scoring, at 400 and 100,000 samples (CPU; no model).

Not a test. Each stage is called the way ``miakit run`` calls it, on half members, half
non-members:

* ``bootstrap``: :func:`miakit.metrics.evaluate` (AUROC, TPR at FPR, 1,000 stratified bootstrap
  resamples) for each of the 7 attacks of issue 15's job;
* ``blind_baselines``: :func:`miakit.blind.run_blind_baselines` (3 baselines, 1,000 resamples,
  199 permutations);
* ``overlap``: :func:`miakit.data.overlap.overlap_report` (exact and word-13-gram near
  duplicates between members and non-members);
* ``roc_plots``: the ROC figure (7 attacks + 3 baselines, one SVG) and one histogram per series;
* ``report``: :func:`miakit.report.html.render_report`, the whole page (plots included).

Texts: real prose, ~8 sentences drawn at random from the demo's Wikipedia leads (distinct
texts, few near duplicates, as a real audit set). Scores: Gaussian, members shifted by 0.3 sd
(synthetic: the stages' cost does not depend on the values). A stage over ``--profile-over``
seconds at 10,000 samples or more (run once, under cProfile: a few percent slower) records
its top functions.

    PYTHONPATH=src python benchmarks/post.py --out benchmarks/results/post_cpu.json
    PYTHONPATH=src python benchmarks/post.py --sizes 400 --reps 1    # quick
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import json
import os
import platform
import pstats
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ATTACKS = ("loss", "zlib", "min_k", "min_k_plus_plus", "reference", "recall", "dc_pdd")


def prose(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct texts of ~8 sentences drawn from the Wikipedia lead extracts."""
    from miakit.assets import wiki_summaries

    sentences = [
        s
        for text in wiki_summaries().values()
        for s in re.split(r"(?<=[.!?])\s+", text)
        if len(s) > 30
    ]
    rng = random.Random(seed)
    seen: set[str] = set()
    out = []
    while len(out) < n:
        text = " ".join(rng.choice(sentences) for _ in range(rng.randint(5, 11)))
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def inputs(n: int) -> dict[str, Any]:
    from miakit.data.schema import Label, Sample

    texts = prose(n)
    labels = np.array([1 - i % 2 for i in range(n)])
    rng = np.random.default_rng(0)
    scores = {a: rng.normal(size=n) + 0.3 * labels for a in ATTACKS}
    ids = [f"s{i}" for i in range(n)]
    samples = [
        Sample(id=i, text=t, label=Label.MEMBER if y else Label.NONMEMBER, source="synthetic")
        for i, t, y in zip(ids, texts, labels)
    ]
    return {"texts": texts, "labels": labels, "scores": scores, "ids": ids, "samples": samples}


def stages(d: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """Stage name -> a call of it (later stages use earlier results, kept in ``d``)."""
    from miakit.blind import run_blind_baselines
    from miakit.data.overlap import overlap_report
    from miakit.metrics import evaluate, roc_arrays
    from miakit.report import plots
    from miakit.report.html import render_report

    def bootstrap() -> None:
        d["attacks"] = {
            a: evaluate(s, d["labels"], n_resamples=1000, seed=0) for a, s in d["scores"].items()
        }

    def blind() -> None:
        d["blind"] = run_blind_baselines(
            d["texts"], d["labels"], seed=0, n_resamples=1000, n_permutations=199
        )

    def overlap() -> None:
        d["overlap"] = overlap_report(d["samples"], seed=0)

    def series() -> list[tuple[str, np.ndarray, dict[str, Any], bool]]:
        out = [(a, d["scores"][a], d["attacks"][a], False) for a in ATTACKS]
        if "blind" not in d:  # --skip blind_baselines
            return out
        return out + [
            (b, d["blind"].scores[b], d["blind"].metrics[b], True) for b in d["blind"].scores
        ]

    def roc_plots() -> None:
        y = d["labels"]
        curves = []
        for name, s, m, is_blind in series():
            pts = roc_arrays(s, y)
            curves.append(
                plots.RocCurve(
                    label=name,
                    fpr=pts["fpr"],
                    tpr=pts["tpr"],
                    auroc=m["auroc"],
                    n_members=m["n_members"],
                    n_nonmembers=m["n_nonmembers"],
                    blind=is_blind,
                )
            )
        plots.roc_svg(curves)
        for name, s, _, _ in series():
            plots.histogram_svg(s[y == 1], s[y == 0], title=name)

    def report() -> None:
        n = len(d["ids"])
        label_names = np.where(d["labels"] == 1, "member", "nonmember")
        metrics = {
            "miakit_version": "benchmark",
            "setup": {
                "model": "synthetic",
                "n_members": n // 2,
                "n_nonmembers": n - n // 2,
                "seed": 0,
                "n_bootstrap": 1000,
            },
            "attacks": d["attacks"],
            # --skip overlap (at 100,000 it takes minutes): the report without its pairs
            "overlap": d["overlap"].to_dict(max_pairs=1000) if "overlap" in d else {},
            "skipped_attacks": {},
            "models": {},
            "samples": {},
            "warnings": [],
        }
        blind_df = None
        if "blind" in d:
            metrics["blind"] = d["blind"].metrics
            metrics["blind_summary"] = d["blind"].summary()
            blind_df = pd.DataFrame({"id": d["ids"], "label": label_names, **d["blind"].scores})
        scores_df = pd.DataFrame({"id": d["ids"], "label": label_names, **d["scores"]})
        samples_df = pd.DataFrame({"id": d["ids"], "text": d["texts"], "source": "synthetic"})
        d["html_bytes"] = len(
            render_report(metrics, scores_df, samples_df, blind_scores_df=blind_df).encode()
        )

    return {
        "bootstrap": bootstrap,
        "blind_baselines": blind,
        "overlap": overlap,
        "roc_plots": roc_plots,
        "report": report,
    }


def top_functions(prof: cProfile.Profile, top: int = 12) -> list[dict[str, Any]]:
    """The functions with the most own time (cumulative time beside it)."""
    st = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, func), (_, calls, tottime, cumtime, _) in st.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(file).name}:{line}:{func}",
                "calls": calls,
                "tottime_s": round(tottime, 3),
                "cumtime_s": round(cumtime, 3),
            }
        )
    return sorted(rows, key=lambda r: -r["tottime_s"])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="400,100000")
    parser.add_argument("--reps", type=int, default=3, help="repetitions below 10,000 samples")
    parser.add_argument("--profile-over", type=float, default=10.0)
    parser.add_argument("--skip", default="", help="comma-separated stages not to run")
    parser.add_argument(
        "--no-profile",
        action="store_true",
        help="no cProfile at 10,000 samples and more (it slows Python-heavy stages: overlap)",
    )
    parser.add_argument("--machine", default=None, help="how to name this machine in the JSON")
    parser.add_argument("--out", default=None, help="JSON file")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "post",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": args.machine
        or f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, no GPU",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "sizes": {},
    }
    for n in (int(x) for x in args.sizes.split(",")):
        t = time.perf_counter()
        d = inputs(n)
        print(f"n={n}: inputs in {time.perf_counter() - t:.1f} s", flush=True)
        reps = args.reps if n < 10_000 else 1
        row: dict[str, Any] = {}
        skip = set(filter(None, args.skip.split(",")))
        for name, fn in stages(d).items():
            if name in skip:
                continue
            times, cpu = [], []
            profiled = n >= 10_000 and not args.no_profile
            prof = cProfile.Profile() if profiled else None  # one run, profiled
            for _ in range(reps):
                t, c = time.perf_counter(), time.process_time()
                if prof is not None:
                    prof.enable()
                fn()
                if prof is not None:
                    prof.disable()
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            row[name] = {
                "seconds": round(statistics.median(times), 3),
                "cpu_seconds": round(statistics.median(cpu), 3),  # all threads of the process
                "reps": reps,
                "profiled": prof is not None,
            }
            if prof is not None and row[name]["seconds"] > args.profile_over:
                row[name]["profile"] = top_functions(prof)
            print(
                f"n={n}: {name} {row[name]['seconds']:.3f} s (CPU {row[name]['cpu_seconds']:.3f} s,"
                f" load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        if "report" in row:
            row["report"]["html_bytes"] = d["html_bytes"]
        # the report draws the plots again: total = every stage but roc_plots
        row["total_s"] = round(sum(v["seconds"] for k, v in row.items() if k != "roc_plots"), 3)
        result["sizes"][str(n)] = row
    print(
        json.dumps(
            {
                n: {k: (v["seconds"] if isinstance(v, dict) else v) for k, v in r.items()}
                for n, r in result["sizes"].items()
            },
            indent=1,
        )
    )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
