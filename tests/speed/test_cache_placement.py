"""Signals cached under one dtype are never served to a run that resolves to another (issue 15).

A cached rerun resolves ``--device`` / ``--dtype`` without torch
(:mod:`miakit.backends.placement`); what it resolves to keys the cache. bf16 signals must not
answer an fp32 request (``auto`` on the CPU) and the other way round, and each must still
find its own entries.
"""

from __future__ import annotations

import random

import pandas as pd

from auxmodels import write_jsonl
from miakit.cli.main import main

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "while",
    "dogs",
    "bark",
    "at",
    "night",
    "and",
    "glaciers",
    "carve",
    "valleys",
]


def texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) for _ in range(n)]


def parts(cache) -> set:
    return set(cache.rglob("part-*.parquet"))


def test_a_changed_dtype_request_does_not_reuse_the_other_cache(tiny_model_dir, tmp_path):
    members = write_jsonl(tmp_path / "m.jsonl", texts(10, 1), "m")
    nonmembers = write_jsonl(tmp_path / "n.jsonl", texts(10, 2), "n")
    common = ["run", "--model", str(tiny_model_dir), "--members", str(members)]
    common += ["--nonmembers", str(nonmembers), "--attacks", "loss,min_k", "--no-blind"]
    common += ["--n-bootstrap", "20", "--no-progress", "--device", "cpu"]
    cache, fresh = tmp_path / "cache", tmp_path / "fresh"

    def run(out: str, *extra: str, cache_dir=cache) -> pd.DataFrame:
        argv = [*common, *extra, "--cache-dir", str(cache_dir), "--out", str(tmp_path / out)]
        assert main(argv) == 0
        return pd.read_parquet(tmp_path / out / "scores.parquet")

    bf16 = run("bf16", "--dtype", "bfloat16")
    after_bf16 = parts(cache)
    assert after_bf16
    auto = run("auto")  # fp32 on the CPU: must score again, not read the bf16 rows
    after_auto = parts(cache)
    assert after_auto > after_bf16
    fp32 = run("fp32", "--dtype", "float32", cache_dir=fresh)
    pd.testing.assert_frame_equal(auto, fp32)
    assert not bf16["loss"].equals(auto["loss"])
    # each request finds its own entries again: nothing more is scored
    pd.testing.assert_frame_equal(run("bf16-again", "--dtype", "bf16"), bf16)
    pd.testing.assert_frame_equal(run("fp32-again", "--dtype", "fp32"), fp32)
    assert parts(cache) == after_auto
