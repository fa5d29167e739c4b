"""Leftover temporary files of crashed writes are removed from the output folder and the
frequency cache too, not only from the signal and neighbor caches."""

from __future__ import annotations

import os
import time

import miakit
from auxmodels import write_jsonl
from miakit._core.io import STALE_AFTER_S, TMP_PREFIX
from miakit.backends.hf import HFTokenScorer
from tinymodels import build_llama, build_tokenizer


def _stale(folder):
    folder.mkdir(parents=True, exist_ok=True)
    leftover = folder / f"{TMP_PREFIX}crashed-metrics.json"
    leftover.write_text("half", encoding="utf-8")
    old = time.time() - 2 * STALE_AFTER_S
    os.utime(leftover, (old, old))
    return leftover


def test_stale_temporaries_in_out_and_frequency_cache_are_removed(tmp_path) -> None:
    write_jsonl(tmp_path / "m.jsonl", ["A cat sat on the mat today.", "Dogs bark at night."], "m")
    write_jsonl(tmp_path / "n.jsonl", ["Bread rises with yeast.", "Votes were postponed."], "n")
    write_jsonl(tmp_path / "corpus.jsonl", ["Some unrelated corpus text about birds."], "c")
    out = tmp_path / "out"
    cache = tmp_path / "cache"
    in_out = _stale(out)
    in_freq = _stale(cache / "frequencies")
    tok = build_tokenizer()
    miakit.run(
        members=str(tmp_path / "m.jsonl"),
        nonmembers=str(tmp_path / "n.jsonl"),
        frequency_corpus=str(tmp_path / "corpus.jsonl"),
        attacks=["loss", "dc_pdd"],
        scorers={"target": HFTokenScorer(build_llama(len(tok)), tok, name="t")},
        cache_dir=str(cache),
        out=str(out),
        blind=False,
        n_bootstrap=10,
    )
    assert (out / "metrics.json").is_file()
    assert not in_out.exists()
    assert not in_freq.exists()
