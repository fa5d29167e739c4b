"""A rerun whose signals are all cached imports neither torch, transformers nor tokenizers
(issue 15).

The first run is made in this process; the rerun in a fresh interpreter, through a wrapper that
writes the top-level modules it loaded at exit. The rerun's scores and metrics must equal the
first run's, and it must score nothing (no new cache part). Both a tokenizer with a BOS and one
without are run as target: without lead ids, ReCaLL's prefix contexts take their text start
from the cached rows instead of tokenising the prefix. The second case asks for ``--device
auto``: the first run resolves it with torch (imported in this process), the rerun without
(:mod:`miakit.backends.placement`), and both must name the same cache entries.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pandas as pd
import pytest

from auxmodels import write_jsonl
from miakit.cli.main import main

#: Modules a cached rerun must not import: ``import transformers`` alone cost about 6 s on the
#: issue-15 H200 host, ``import torch`` 4.6 s.
NOT_ON_A_CACHED_RUN = ("torch", "transformers", "tokenizers")

_WRAPPER = """
import atexit, json, runpy, sys
out = sys.argv[1]
sys.argv = ["miakit", *sys.argv[2:]]
def dump():
    with open(out, "w") as f:
        json.dump(sorted({m.split(".")[0] for m in sys.modules}), f)
atexit.register(dump)
runpy.run_module("miakit", run_name="__main__")
"""

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
CORPUS_WORDS = [
    "birds",
    "fly",
    "south",
    "in",
    "winter",
    "when",
    "rivers",
    "freeze",
    "and",
    "bread",
    "rises",
    "with",
    "yeast",
]


def texts(n: int, seed: int, words: list[str] = WORDS) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) for _ in range(n)]


def rerun_modules(args: list[str], tmp_path) -> set[str]:
    listing = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(listing), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(listing.read_text()))


def test_the_wrapper_sees_a_tokenizer_library(tmp_path):
    """The control: the wrapper reports a tokenizer library once one is imported."""
    assert "transformers" not in rerun_modules(["list", "attacks"], tmp_path)
    run_line = 'runpy.run_module("miakit", run_name="__main__")'
    wrapper = _WRAPPER.replace(run_line, "import tokenizers")
    done = subprocess.run(
        [sys.executable, "-c", wrapper, str(tmp_path / "m.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "tokenizers" in set(json.loads((tmp_path / "m.json").read_text()))


@pytest.mark.parametrize(
    ("target", "reference", "device"),
    [
        ("tiny_model_dir", "tiny_reference_dir", "cpu"),
        ("tiny_reference_dir", "tiny_model_dir", "auto"),
    ],
    ids=["bos-target", "no-bos-target-device-auto"],
)
def test_cached_rerun_imports_no_model_library(request, tmp_path, target, reference, device):
    data = {
        name: write_jsonl(tmp_path / f"{name}.jsonl", texts(n, seed), name[:2])
        for name, n, seed in (("members", 12, 1), ("nonmembers", 12, 2), ("auxn", 6, 3))
    }
    write_jsonl(tmp_path / "corpus.jsonl", texts(20, 5, CORPUS_WORDS), "c")
    common = ["run", "--model", str(request.getfixturevalue(target))]
    common += ["--reference", str(request.getfixturevalue(reference))]
    common += ["--members", str(data["members"]), "--nonmembers", str(data["nonmembers"])]
    common += ["--aux-nonmembers", str(data["auxn"]), "--recall-shots", "2", "--max-length", "256"]
    common += ["--frequency-corpus", str(tmp_path / "corpus.jsonl")]
    common += ["--attacks", "loss,zlib,min_k,min_k_plus_plus,reference,recall,dc_pdd"]
    common += ["--cache-dir", str(tmp_path / "cache"), "--device", device]
    common += ["--n-bootstrap", "50", "--no-progress", "--no-blind"]
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    parts = sorted((tmp_path / "cache").rglob("part-*.parquet"))
    assert parts
    loaded = rerun_modules([*common, "--out", str(tmp_path / "b")], tmp_path)
    assert loaded & set(NOT_ON_A_CACHED_RUN) == set()
    assert sorted((tmp_path / "cache").rglob("part-*.parquet")) == parts  # nothing scored
    a = pd.read_parquet(tmp_path / "a" / "scores.parquet")
    b = pd.read_parquet(tmp_path / "b" / "scores.parquet")
    assert {"recall", "dc_pdd", "reference"} <= set(a.columns)
    pd.testing.assert_frame_equal(a, b)
    metrics = [json.loads((tmp_path / o / "metrics.json").read_text()) for o in "ab"]
    assert metrics[0]["attacks"] == metrics[1]["attacks"]
